"""Shared plumbing of the stage scripts: icefall-style logging and one-line errors for user mistakes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

# icefall's log format, so the same grep/awk one-liners work on our logs.
LOG_FORMAT = "%(asctime)s %(levelname)s [%(filename)s:%(lineno)d] %(message)s"


def setup_logging(log_file: str | Path | None = None, level: int = logging.INFO) -> None:
    """Log to stderr and, when given, to `log_file` (its directory is created)."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=handlers, force=True)


def run_main(main: Callable[[], None]) -> None:
    """Run a stage script's main(); user mistakes (UserError, FileNotFoundError) become one line + exit 1.

    Anything else is a bug and keeps its traceback. Set TODM_DEBUG=1 to see the traceback of a user error too.
    """
    from todm.errors import UserError

    try:
        main()
    except (UserError, FileNotFoundError) as exc:
        if os.environ.get("TODM_DEBUG"):
            raise
        print(f"ERROR: {exc}", file=sys.stderr)
        sys.exit(1)


def positive_int(value: str) -> int:
    """argparse type for counts that must be at least 1 (beam sizes, threads): '0' would crash a decoder."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected an integer >= 1") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: expected an integer >= 1")
    return number


def non_negative_int(value: str) -> int:
    """argparse type for counts where 0 means "none"."""
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r}: expected an integer >= 0")
    return number


def str2bool(value: str) -> bool:
    """argparse type for boolean options, with icefall's str2bool spellings (yes/no, true/false, t/f, y/n, 1/0)."""
    word = value.lower()
    if word in ("yes", "true", "t", "y", "1"):
        return True
    if word in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false, yes/no, 1/0), got '{value}'")


def die_with_parent() -> None:
    """Have the kernel end this process when its parent dies (Linux's PR_SET_PDEATHSIG).

    DDP workers started by mp.spawn (or torchrun) would otherwise outlive a launcher killed with kill -9: orphans
    that keep training into the same exp dir and hold the master port."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() == 1:  # the parent died before the call: nobody would send the signal
        os._exit(1)
