"""The paths GPU clusters take, checked on the CPU: collectives on the training device, mixed precision
settings, several training parts read lazily, and run.sh's GPU profile refusing a machine without GPUs."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import load_recipe_script

from todm.data.fbank import cuts_path
from todm.data.loader import load_training_cuts
from todm.errors import UserError
from todm.train.loop import KindStats, autocast_dtype, process_group_backend

REPO = Path(__file__).resolve().parents[1]
COLLECTIVES = {"all_reduce", "all_gather", "broadcast", "reduce", "all_gather_into_tensor", "reduce_scatter"}


def collective_calls(tree: ast.AST):
    """(function node, call node) of every dist.<collective>(...) call."""
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in COLLECTIVES
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "dist"
            ):
                yield func, node


def made_on_a_device(func: ast.AST, name: str) -> bool:
    """Whether `name` is assigned in `func` from a call that is given a device (device= or .to(...))."""
    for node in ast.walk(func):
        if not isinstance(node, ast.Assign):
            continue
        if not any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            continue
        value = node.value
        if isinstance(value, ast.Call):
            if any(k.arg == "device" for k in value.keywords):
                return True
            if isinstance(value.func, ast.Attribute) and value.func.attr == "to":
                return True
    return False


def test_every_collective_tensor_is_made_on_the_training_device():
    """NCCL takes no CPU tensors: a collective on a tensor built without a device crashes multi-GPU training
    at its first call, so every tensor the code hands to torch.distributed must be created with a device."""
    sources = [*(REPO / "todm").rglob("*.py"), *(REPO / "egs").rglob("*.py")]
    found, offenders = 0, []
    for path in sources:
        tree = ast.parse(path.read_text(), filename=str(path))
        for func, call in collective_calls(tree):
            found += 1
            arg = call.args[0] if call.args else None
            if not (isinstance(arg, ast.Name) and made_on_a_device(func, arg.id)):
                offenders.append(f"{path.relative_to(REPO)}:{call.lineno} in {func.name}()")
    assert found >= 2, "the trainer's collectives (stop flag, cost sums) were not found"
    assert not offenders, "collective on a tensor without a device: " + ", ".join(offenders)


def test_mixed_precision_settings():
    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    assert autocast_dtype(False, False, gpu) is None
    assert autocast_dtype(True, False, gpu) == torch.float16
    assert autocast_dtype(False, True, gpu) == torch.bfloat16
    assert autocast_dtype(True, False, cpu) is None and autocast_dtype(False, True, cpu) is None
    with pytest.raises(UserError, match="choose one"):
        autocast_dtype(True, True, gpu)
    assert process_group_backend() == ("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")


def test_kind_stats_take_device_tensors_and_read_them_at_log_time():
    as_floats, as_tensors = KindStats(), KindStats()
    for frames, loss in [(10, 3.0), (30, 5.0)]:
        as_floats.add("largest", frames, pruned=loss, kd=0.0)
        as_tensors.add("largest", torch.tensor(frames), pruned=torch.tensor(loss), kd=torch.zeros(()))
    assert as_tensors.per_frame() == as_floats.per_frame() == {"largest": {"pruned": 8.0 / 40, "kd": 0.0}}


def split_training_part(tiny_data, tmp_path: Path, names: list[str]) -> Path:
    """The tiny train part's cuts dealt round-robin into parts `names`, as separate icefall manifests."""
    from lhotse import CutSet

    tmp_path.mkdir(parents=True, exist_ok=True)
    cuts = list(CutSet.from_file(cuts_path(tiny_data["fbank_dir"], "train-clean-100")))
    for i, name in enumerate(names):
        CutSet.from_cuts(cuts[i :: len(names)]).to_file(cuts_path(tmp_path, name))
    return tmp_path


def test_several_training_parts_are_read_lazily_each_cut_once(tiny_data, tmp_path):
    from lhotse import CutSet

    names = ["train-a", "train-b", "train-c"]
    fbank_dir = split_training_part(tiny_data, tmp_path, names)
    whole = sorted(c.id for c in CutSet.from_file(cuts_path(tiny_data["fbank_dir"], "train-clean-100")))
    combined = load_training_cuts(fbank_dir, names, seed=3)
    assert combined.is_lazy
    ids = [c.id for c in combined]
    assert sorted(ids) == whole  # every cut exactly once
    assert ids == [c.id for c in load_training_cuts(fbank_dir, names, seed=3)]  # same stream on every rank
    firsts = {c.id for c in CutSet.from_file(cuts_path(fbank_dir, "train-a"))}
    assert set(ids[: len(ids) // 2]) != firsts  # interleaved, not one part after the other
    with pytest.raises(UserError, match="train-d"):
        load_training_cuts(fbank_dir, ["train-a", "train-d"])


def test_train_py_trains_on_several_parts(tiny_data, tmp_path):
    train = load_recipe_script("train")
    fbank_dir = split_training_part(tiny_data, tmp_path / "fbank", ["train-a", "train-b"])
    exp = tmp_path / "exp"
    args = [
        "--exp-dir", str(exp), "--bpe-model", str(tiny_data["bpe_model"]), "--manifest-dir", str(fbank_dir),
        "--train-parts", "train-a,train-b", "--model-config", "tiny", "--max-duration", "30",
        "--max-steps", "2", "--tensorboard", "false", "--num-threads", "1",
    ]  # fmt: skip
    params = train.get_parser().parse_args(args)
    train.run(0, 1, params)
    from todm.checkpoint import read_checkpoint

    assert read_checkpoint(exp / "checkpoint-2.pt")["batch_idx_train"] == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without GPUs")
def test_run_sh_gpu_profile_needs_a_gpu_and_unknown_profiles_are_refused():
    run_sh = REPO / "egs" / "librispeech" / "todm" / "run.sh"
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}  # run.sh's python3 is the tests' one
    run = lambda *args: subprocess.run(
        ["bash", str(run_sh), *args], check=False, capture_output=True, text=True, env=env
    )
    gpu = run("--profile", "librispeech")
    assert gpu.returncode == 1 and "no GPU" in gpu.stderr
    bogus = run("--profile", "huge")
    assert bogus.returncode == 1 and "--profile huge: expected default, tiny or librispeech" in bogus.stderr


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mode):
    import os

    from todm.io import write_text_atomic

    old = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "out.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == mode


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--max-duration", "0", "--max-duration 0.0: must be > 0"),
        ("--max-duration", "-5", "--max-duration -5.0: must be > 0"),
        ("--world-size", "0", "--world-size 0: must be >= 1"),
    ],
)
def test_train_py_refuses_impossible_options(option, value, message):
    train = load_recipe_script("train")
    params = train.get_parser().parse_args([option, value])
    with pytest.raises(UserError, match=message):
        train.check_options(params)
