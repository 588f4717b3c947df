"""run.sh's checkpoint selection for decoding (ckpt_args): the averaged model always has steps to average.

The 80-minute default run stopped at step 9096, one save after checkpoint-9000, in the same --average-period:
decoding "--iter 9096 --avg 1 --use-averaged-model true" was refused. These tests run the shell function.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from todm.checkpoint import checkpoint_files

REPO = Path(__file__).resolve().parents[1]
RUN_SH = REPO / "egs" / "librispeech" / "todm" / "run.sh"
AVERAGE_PERIOD = 100  # train.py's default --average-period


def ckpt_args(exp_dir: Path) -> list[str]:
    script = f'source <(sed -n "/^last_iter()/,/^}}/p;/^ckpt_args()/,/^}}/p" {RUN_SH}); ckpt_args {exp_dir}'
    # As run.sh runs them: from the recipe dir, with this interpreter and the repository on the path.
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
    }
    out = subprocess.run(
        ["bash", "-c", script], check=True, capture_output=True, text=True, cwd=RUN_SH.parent, env=env
    ).stdout
    return out.split()


def flags(args: list[str]) -> dict[str, str]:
    return dict(zip(args[::2], args[1::2]))


@pytest.mark.parametrize(
    "steps, avg, averaged",
    [
        ([500], "1", "false"),  # nothing before the newest
        ([500, 560], "1", "false"),  # two checkpoints in one average period
        ([500, 1000], "1", "false"),  # averaging needs two saves back
        ([500, 1000, 1060], "2", "true"),  # the newest in the previous one's period: 500 is the start
        ([500, 1000, 1500, 2000, 2500, 2596], "4", "true"),
        ([500, 1000, 1500, 2000, 2500, 3000, 3500], "4", "true"),
    ],
)
def test_ckpt_args_average_only_across_periods(
    tmp_path: Path, steps: list[int], avg: str, averaged: str
) -> None:
    for step in steps:
        (tmp_path / f"checkpoint-{step}.pt").touch()
    got = flags(ckpt_args(tmp_path))
    expected = {"--exp-dir": str(tmp_path), "--iter": str(max(steps)), "--avg": avg}
    assert got == {**expected, "--use-averaged-model": averaged}
    if averaged == "true":
        end, start = checkpoint_files(tmp_path, 0, int(got["--iter"]), int(got["--avg"]), True)
        step_of = lambda p: int(p.stem.split("-")[1])
        assert step_of(start) // AVERAGE_PERIOD < step_of(end) // AVERAGE_PERIOD


def stage_done(marker: Path, made_from: str) -> subprocess.CompletedProcess:
    script = f'source <(sed -n "/^stage_done()/,/^}}/p" {RUN_SH}); stage_done {marker} "{made_from}"'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)


def test_stage_markers_refuse_outputs_made_from_other_inputs(tmp_path: Path) -> None:
    marker = tmp_path / "manifests" / ".librispeech.done"
    assert stage_done(marker, "corpus=/a").returncode == 1  # not done yet: run the stage
    marker.parent.mkdir()
    marker.write_text("parts=train-clean-100 corpus=/data/a\n")
    assert stage_done(marker, "parts=train-clean-100 corpus=/data/a").returncode == 0  # done: skip
    other = stage_done(marker, "parts=train-clean-100 corpus=/data/b")
    assert other.returncode == 1 and "made from 'parts=train-clean-100 corpus=/data/a'" in other.stderr
    assert f"remove {marker.parent}" in other.stderr
    marker.write_text("")  # a marker of an older recipe (touch): trusted
    assert stage_done(marker, "anything").returncode == 0


def restore_from_archive(exp_dir: Path, archive: Path, warmup_steps: int = 0, check: bool = True):
    functions = "/^log()/,/^}/p;/^last_iter()/,/^}/p;/^restore_from_archive()/,/^}/p"
    script = (
        f'source <(sed -n "{functions}" {RUN_SH}); exp_dir={exp_dir} archive={archive}; '
        f"warmup_steps={warmup_steps}; restore_from_archive"
    )
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        ["bash", "-c", script], check=check, capture_output=True, text=True, cwd=RUN_SH.parent, env=env
    )
    return done.stdout if check else done


def test_a_later_session_restores_the_searched_subnets_and_the_supernet_curve(tmp_path: Path) -> None:
    archive, exp = tmp_path / "archive", tmp_path / "exp"
    (archive / "exp" / "search").mkdir(parents=True)
    (archive / "exp" / "search" / "subnet-phone.json").write_text('{"phone": 1}')
    (archive / "exp" / "search" / "history.jsonl").write_text("{}\n")  # not needed by stages 9-11
    (archive / "exp" / "gap-curve.json").write_text("[]\n")
    (exp / "search").mkdir(parents=True)
    (exp / "search" / "subnet-watch.json").write_text('{"watch": "made here"}')
    (archive / "exp" / "search" / "subnet-watch.json").write_text('{"watch": "archived"}')

    (exp / "checkpoint-500.pt").touch()  # the supernet is here: its own search counts, nothing copied
    assert restore_from_archive(exp, archive) == ""
    assert not (exp / "gap-curve.json").exists()

    (exp / "checkpoint-500.pt").unlink()  # checkpoints gone: copied back, what is here kept
    log = restore_from_archive(exp, archive)
    assert (exp / "search" / "subnet-phone.json").read_text() == '{"phone": 1}'
    assert (exp / "gap-curve.json").read_text() == "[]\n"
    assert (exp / "search" / "subnet-watch.json").read_text() == '{"watch": "made here"}'
    assert not (exp / "search" / "history.jsonl").exists()
    assert log.count("restored") == 2

    assert restore_from_archive(tmp_path / "elsewhere", tmp_path / "no-archive") == ""


def test_a_later_session_refuses_an_archived_supernet_of_another_warmup(tmp_path: Path) -> None:
    archive, exp = tmp_path / "archive", tmp_path / "exp"
    (archive / "exp").mkdir(parents=True)
    exp.mkdir()
    commands = archive / "exp" / "commands.txt"
    commands.write_text("./train.py --exp-dir exp --train-parts train-clean-100 --max-steps 9000\n")
    refused = restore_from_archive(exp, archive, warmup_steps=1500, check=False)
    assert refused.returncode == 1 and "trained without a warm-up part, this run has --warmup-steps 1500" in (
        refused.stderr
    )
    assert restore_from_archive(exp, archive, warmup_steps=0, check=False).returncode == 0
    commands.write_text(
        "./train.py --exp-dir exp --train-parts train-clean-100-warmup --max-steps 1500\n"
        "./train.py --exp-dir exp --train-parts train-clean-100 --max-steps 9000\n"
    )
    assert restore_from_archive(exp, archive, warmup_steps=1500, check=False).returncode == 0
    refused = restore_from_archive(exp, archive, warmup_steps=0, check=False)
    assert refused.returncode == 1 and "trained with a warm-up part" in refused.stderr


def archived_baseline(exp_dir: Path, archive: Path, name: str) -> subprocess.CompletedProcess:
    script = (
        f'source <(sed -n "/^finished_in_archive()/,/^}}/p;/^chosen_baseline()/p;/^archived_baseline()/,/^}}/p" '
        f"{RUN_SH}); "
        f"exp_dir={exp_dir} archive={archive}; archived_baseline {name}"
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, check=False)


def test_a_baseline_finished_in_an_earlier_session_is_not_trained_again(tmp_path: Path) -> None:
    archive, exp = tmp_path / "archive", tmp_path / "exp"
    chosen = "exp-baseline-subnet-phone-dropout-0.05"
    assert archived_baseline(exp, archive, "subnet-phone").returncode == 1  # nothing archived
    archive.mkdir()
    (archive / "exp-baseline-subnet-phone.json").write_text(json.dumps({"chosen": chosen, "iter": 3000}))
    assert archived_baseline(exp, archive, "subnet-phone").returncode == 1  # grid only: not finished
    card = archive / chosen / "exported" / "subnet-phone" / "model_card.json"
    card.parent.mkdir(parents=True)
    card.write_text("{}")
    assert archived_baseline(exp, archive, "subnet-phone").returncode == 1  # its gap curve is missing
    (archive / chosen / "gap-curve.json").write_text("[]")
    done = archived_baseline(exp, archive, "subnet-phone")
    assert done.returncode == 0 and done.stdout.strip() == str(archive / chosen)
    assert archived_baseline(exp, archive, "subnet-watch").returncode == 1  # another architecture
    (tmp_path / "exp-baseline-subnet-phone.json").write_text("{}")  # made here: this session decides
    assert archived_baseline(exp, archive, "subnet-phone").returncode == 1
