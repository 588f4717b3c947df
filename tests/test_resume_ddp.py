"""Multi-process training survives a crash: workers die with a killed launcher, and a resumed 2-rank run
continues bit-identically (each rank restores its own random-number state)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch
from conftest import RECIPE

from todm.checkpoint import read_checkpoint


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def train_args(tiny_data, exp_dir: Path, *extra: str) -> list[str]:
    return [
        "--exp-dir", str(exp_dir), "--bpe-model", str(tiny_data["bpe_model"]),
        "--manifest-dir", str(tiny_data["fbank_dir"]), "--model-config", "tiny", "--max-duration", "15",
        "--tensorboard", "false", "--num-threads", "1", "--world-size", "2", "--kd-start-batch", "1",
        "--kd-ramp-batches", "0", "--save-every-n", "2", "--master-port", str(free_port()), *extra,
    ]  # fmt: skip


def test_two_rank_resume_is_bit_identical(tiny_data, tmp_path):
    """Dropout masks and SpecAugment draw from each rank's own RNG: restoring rank 0's state on every rank (as
    checkpoints once did) makes the resumed run differ in every tensor."""

    def train(exp_dir: Path, steps: int) -> None:  # as a user runs it: train.py spawns its 2 ranks
        args = train_args(tiny_data, exp_dir, "--max-steps", str(steps))
        subprocess.run(
            [sys.executable, str(RECIPE / "train.py"), *args], cwd=RECIPE, check=True, capture_output=True
        )

    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    train(straight, 4)
    train(interrupted, 2)
    train(interrupted, 4)  # resumes checkpoint-2.pt
    a, b = read_checkpoint(straight / "checkpoint-4.pt"), read_checkpoint(interrupted / "checkpoint-4.pt")
    assert len(a["rng_per_rank"]) == 2
    assert not torch.equal(a["rng_per_rank"][0]["torch"], a["rng_per_rank"][1]["torch"])
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), f"{name} differs after a 2-rank resume"


def children(pid: int) -> list[int]:
    """Live child processes of `pid` (Linux /proc), recursively."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        for child in map(int, text.split()):
            found += [child, *children(child)]
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has exited; only its entry waits to be reaped


def test_workers_die_when_the_launcher_is_killed(tiny_data, tmp_path):
    exp = tmp_path / "exp"
    cmd = [sys.executable, str(RECIPE / "train.py"), *train_args(tiny_data, exp, "--max-steps", "100000")]
    launcher = subprocess.Popen(cmd, cwd=RECIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.time() + 120
        while not list(exp.glob("checkpoint-*.pt")) and time.time() < deadline:
            time.sleep(0.5)
        assert list(exp.glob("checkpoint-*.pt")), "training did not start"
        workers = [pid for pid in children(launcher.pid) if alive(pid)]
        assert len(workers) >= 2
        os.kill(launcher.pid, signal.SIGKILL)
        launcher.wait()
        deadline = time.time() + 30
        while any(alive(pid) for pid in workers) and time.time() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in workers if alive(pid)], "workers outlived the killed launcher"
    finally:  # leave nothing behind, whatever failed
        for pid in [*workers, *(children(launcher.pid) if launcher.poll() is None else [])]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if launcher.poll() is None:
            launcher.kill()
