"""The warm-up part (todm.data.warmup, local/make_warmup_part.py) and training that moves from it to the full part."""

import subprocess

import pytest
import torch
from conftest import load_recipe_script, run_local_tool
from lhotse import CutSet, load_manifest_lazy

from todm.checkpoint import read_checkpoint
from todm.data.fbank import cuts_path
from todm.data.warmup import engine_speakers
from todm.errors import UserError

train_script = load_recipe_script("train")


def speakers_file(path, speakers: list[str]) -> None:
    """SPEAKERS.TXT in LibriSpeech's columns; every other speaker a festival voice."""
    lines = [";ID  |SEX| SUBSET           |MINUTES| NAME"]
    for i, spk in enumerate(speakers):
        name = "festival kal_diphone s170 p50" if i % 2 else "espeak-ng en-us+m3 s170 p50"
        lines.append(f"{spk:<5}| M | train-clean-100  |  1.00 | {name}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def warmup_dir(tiny_data, tmp_path):
    """A manifest dir whose train-clean-100 has a reverberant copy of every cut (IDs + _rvb), and a SPEAKERS.TXT
    with half the speakers on festival."""
    fbank = tmp_path / "fbank"
    fbank.mkdir()
    cuts = load_manifest_lazy(cuts_path(tiny_data["fbank_dir"], "train-clean-100")).to_eager()
    copies = [cut.with_id(cut.id + "_rvb") for cut in cuts]
    CutSet.from_cuts([*cuts, *copies]).to_file(cuts_path(fbank, "train-clean-100"))
    speakers = sorted({cut.supervisions[0].speaker for cut in cuts})
    speakers_file(tmp_path / "SPEAKERS.TXT", speakers)
    return fbank, cuts, speakers


def make_part(*args: str) -> subprocess.CompletedProcess:
    return run_local_tool("make_warmup_part.py", *args)


def test_warmup_part_is_the_clean_cuts_of_one_engine(warmup_dir, tmp_path):
    fbank, cuts, speakers = warmup_dir
    espeak = set(speakers[0::2])  # speakers_file's even rows
    assert len(speakers) >= 2 and engine_speakers(tmp_path / "SPEAKERS.TXT", "espeak-ng") == espeak
    done = make_part("--manifest-dir", str(fbank), "--part", "train-clean-100",
                     "--speakers-txt", str(tmp_path / "SPEAKERS.TXT"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    kept = load_manifest_lazy(cuts_path(fbank, "train-clean-100-warmup"))
    expected = [
        c.id for c in cuts if c.supervisions[0].speaker in espeak
    ]  # brute force: no copy, espeak only
    assert [c.id for c in kept] == expected and 0 < len(expected) < len(cuts)
    # every speaker without a SPEAKERS.TXT (a real corpus): only the copies go
    everyone = tmp_path / "everyone"
    everyone.mkdir()
    (everyone / cuts_path(fbank, "train-clean-100").name).symlink_to(cuts_path(fbank, "train-clean-100"))
    assert make_part("--manifest-dir", str(everyone), "--part", "train-clean-100").returncode == 0
    all_clean = load_manifest_lazy(cuts_path(everyone, "train-clean-100-warmup"))
    assert [c.id for c in all_clean] == [c.id for c in cuts]


def test_warmup_part_bad_input(warmup_dir, tmp_path):
    fbank, _, _ = warmup_dir
    missing = make_part("--manifest-dir", str(fbank), "--part", "train-other-500")
    assert missing.returncode != 0 and "--part train-other-500: no " in missing.stderr
    with pytest.raises(UserError, match="no speaker's name starts with 'flite'"):
        engine_speakers(tmp_path / "SPEAKERS.TXT", "flite")
    with pytest.raises(UserError, match="no such file"):
        engine_speakers(tmp_path / "nothing.txt", "espeak-ng")


def params(tiny_data, fbank, exp, parts: str, steps: int):
    return train_script.get_parser().parse_args(
        ["--exp-dir", str(exp), "--bpe-model", str(tiny_data["bpe_model"]), "--manifest-dir", str(fbank),
         "--train-parts", parts, "--model-config", "tiny", "--max-duration", "30", "--tensorboard", "false",
         "--num-threads", "1", "--warm-step", "10", "--average-period", "2", "--log-interval", "1000",
         "--max-steps", str(steps)]
    )  # fmt: skip


def test_training_moves_from_the_warmup_part_and_resumes_exactly(warmup_dir, tiny_data, tmp_path):
    fbank, _, _ = warmup_dir
    make_part("--manifest-dir", str(fbank), "--part", "train-clean-100",
              "--speakers-txt", str(tmp_path / "SPEAKERS.TXT"))  # fmt: skip
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    for exp in (straight, interrupted):
        train_script.run(0, 1, params(tiny_data, fbank, exp, "train-clean-100-warmup", 2))
    warm = read_checkpoint(straight / "checkpoint-2.pt")
    assert warm["train_data"] == "train-clean-100-warmup"
    train_script.run(0, 1, params(tiny_data, fbank, straight, "train-clean-100", 5))
    train_script.run(0, 1, params(tiny_data, fbank, interrupted, "train-clean-100", 3))
    train_script.run(0, 1, params(tiny_data, fbank, interrupted, "train-clean-100", 5))
    a, b = (read_checkpoint(exp / "checkpoint-5.pt") for exp in (straight, interrupted))
    assert a["train_data"] == "train-clean-100"
    # the full part began a new epoch (the warm-up's sampler position means nothing in it) ...
    first = read_checkpoint(interrupted / "checkpoint-3.pt")
    assert first["cur_epoch"] >= warm["cur_epoch"] + (1 if warm["cur_batch_idx"] > 0 else 0)
    # ... and a resume within it restores its sampler: the same weights as without the interruption
    assert all(torch.equal(a["model"][name], b["model"][name]) for name in a["model"])
