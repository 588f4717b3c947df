#!/usr/bin/env python3
"""What run.sh needs to know about an exp dir's checkpoint-K.pt files, from todm's own checkpoint code.

Usage (from egs/librispeech/todm):
    ./local/checkpoints.py --exp-dir exp last-iter   # K of the newest checkpoint-K.pt (nothing if none)
    ./local/checkpoints.py --exp-dir exp count       # how many checkpoint-K.pt there are
"""

import argparse

from todm.checkpoint import find_checkpoints
from todm.cli import run_main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--exp-dir", required=True)
    parser.add_argument("query", choices=["last-iter", "count"])
    args = parser.parse_args()
    found = find_checkpoints(args.exp_dir)
    if args.query == "count":
        print(len(found))
    elif found:
        print(found[0].stem.removeprefix("checkpoint-"))


if __name__ == "__main__":
    run_main(main)
