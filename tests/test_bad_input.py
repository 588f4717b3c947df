"""Bad user input gets one clear line naming the file or option; internal bugs keep their traceback."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RECIPE, load_recipe_script

from todm.errors import UserError
from todm.model import get_preset

train = load_recipe_script("train")


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"d_model": 48', "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"preset": "tiny", "d_modle": 48}', "unknown field(s) ['d_modle']"),
        ('{"d_model": 48}', "missing field(s) ["),
        ('{"preset": "tiny", "d_model": -4}', "d_model=-4 must be a positive integer"),
        ('{"preset": "tiny", "ffn_dims": "wide"}', "--model-config"),
        ('{"preset": "huge"}', "unknown model preset 'huge'"),
    ],
)
def test_model_config_json_is_complete_and_valid(tmp_path, content, message):
    path = tmp_path / "cfg.json"
    path.write_text(content)
    with pytest.raises(UserError, match=f"--model-config {path}") as err:
        train.read_model_config(path, vocab_size=64)
    assert message in str(err.value)


def test_model_config_json_from_a_preset_with_changes(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"preset": "tiny", "d_model": 64}))
    cfg = train.read_model_config(path, vocab_size=64)
    assert cfg.d_model == 64 and cfg.num_layers == get_preset("tiny").num_layers and cfg.vocab_size == 64
    full = get_preset("tiny", vocab_size=500).to_dict()
    path.write_text(json.dumps({k: v for k, v in full.items() if k != "vocab_size"}))
    assert train.read_model_config(path, vocab_size=64) == get_preset("tiny", vocab_size=64)


@pytest.mark.parametrize(
    "layers, message",
    [
        ([{"index": 0, "ffn_dim": "96", "ssm_heads": 4}], "ffn_dim='96' must be an integer"),
        ([{"index": 0, "ffn_dim": 96}], "ssm_heads"),
        ([{"index": 0, "ffn_dim": 999, "ssm_heads": 4}, {"index": 1, "ffn_dim": 96, "ssm_heads": 4}], "999"),
    ],
)
def test_subnet_json_errors_name_the_file(tmp_path, layers, message):
    path = tmp_path / "subnet.json"
    path.write_text(json.dumps({"layers": layers}))
    with pytest.raises(UserError, match=f"--subnet {path}") as err:
        train.read_subnet(str(path), get_preset("tiny", vocab_size=64))
    assert message in str(err.value)


def test_run_main_prints_user_errors_in_one_line_and_keeps_tracebacks_of_bugs(tmp_path):
    script = tmp_path / "stage.py"
    script.write_text(
        "import sys\n"
        "from todm.cli import run_main\n"
        "from todm.errors import UserError\n"
        "def main():\n"
        "    if sys.argv[1] == 'user':\n"
        "        raise UserError('--thing x: expected y')\n"
        "    raise ValueError('an internal bug')\n"
        "run_main(main)\n"
    )
    user = subprocess.run([sys.executable, str(script), "user"], capture_output=True, text=True, check=False)
    assert user.returncode == 1 and user.stderr.strip() == "ERROR: --thing x: expected y"
    bug = subprocess.run([sys.executable, str(script), "bug"], capture_output=True, text=True, check=False)
    assert bug.returncode == 1 and "Traceback" in bug.stderr and "ValueError: an internal bug" in bug.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-duration", "0"], "--max-duration 0.0: must be > 0"),
        (["--max-duration", "-5"], "--max-duration -5.0: must be > 0"),
        (["--world-size", "0"], "--world-size 0: must be >= 1"),
        (["--max-steps", "-1"], "--max-steps and --max-train-minutes must be >= 0"),
        (["--noise-prob", "1.5"], "--noise-prob 1.5: expected a probability"),
        (["--noise-snr", "20,10"], "--noise-snr '20,10': expected 'low,high'"),
        (["--save-every-n", "0"], "--save-every-n 0: must be >= 1"),
        (["--log-interval", "0"], "--log-interval 0: must be >= 1"),
        (["--num-random-subnets", "-1"], "--num-random-subnets -1: must be >= 0"),
        (["--dropout-min", "0.2", "--dropout-max", "0.1"], "expected 0 <= min <= max < 1"),
        (["--student-label-scale", "-0.5"], "--student-label-scale -0.5: must be >= 0"),
        (["--kd-teacher-decay", "1"], "--kd-teacher-decay 1.0: expected 0 (off) or a decay in (0, 1)"),
        (["--dropout-max", "1.0"], "expected 0 <= min <= max < 1"),
        (["--alpha-min", "2", "--alpha-max", "1"], "--alpha-min 2.0 is above --alpha-max 1.0"),
    ],
)
def test_train_py_options_are_checked_before_anything_runs(args, message):
    train = load_recipe_script("train")
    with pytest.raises(UserError, match=re.escape(message)):
        train.check_options(train.get_parser().parse_args(args))
    train.check_options(train.get_parser().parse_args([]))  # the defaults pass


def test_train_py_names_an_unknown_preset(tiny_data, tmp_path):
    cmd = [
        sys.executable, str(RECIPE / "train.py"), "--exp-dir", str(tmp_path), "--model-config", "huge",
        "--bpe-model", str(tiny_data["bpe_model"]),
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "--model-config huge: unknown model preset 'huge'" in out.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--stage", "abc"], "--stage 'abc': expected a stage number"),
        (["--stop-stage", "-1"], "--stop-stage '-1': expected a stage number"),
        (["--stage", "5", "--stop-stage", "2"], "--stage 5 is after --stop-stage 2: nothing would run"),
        (["--world-size", "0", "--stage", "4", "--stop-stage", "4"], "--world-size '0': expected a number"),
        (["--streaming", "yes"], "option --streaming expects true or false, got 'yes'"),
        (["--stage", "12", "--stop-stage", "12"], "stage 12: --attempts is empty"),
        (["--stop-stage", "12", "--attempts", "a b:--kd-scale 1"], "expected name:options, the name of"),
        (["--stop-stage", "12", "--attempts", "kd-only"], "--attempts 'kd-only': expected name:options"),
        (["--warmup-steps", "x"], "--warmup-steps 'x': expected a number of steps >= 0"),
        (
            ["--stop-stage", "10", "--ablation-steps", "3x"],
            "--ablation-steps '3x': expected a positive number",
        ),
        (
            ["--stop-stage", "10", "--ablation-steps", "4500"],
            "--ablation-steps 4500: expected a multiple of --gap-every 1000",
        ),
        (["--warmup-steps", "9000"], "--warmup-steps 9000: expected fewer than the 9000 training steps"),
        (
            [
                "--stage",
                "12",
                "--stop-stage",
                "12",
                "--attempts",
                "kd:--kd-scale 1",
                "--attempt-steps",
                "2500",
            ],
            "--attempt-steps 2500: expected a multiple of --gap-every 1000",
        ),
    ],
)
def test_run_sh_refuses_stage_and_world_size_mistakes(args, message):
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    out = subprocess.run(
        ["bash", str(RECIPE / "run.sh"), *args], capture_output=True, text=True, check=False, env=env
    )
    assert out.returncode == 1 and message in out.stderr


def test_a_vocabulary_of_another_training_with_the_same_size_is_refused(tiny_data, tmp_path):
    from todm.checkpoint import read_checkpoint
    from todm.data.bpe import bpe_pieces, load_bpe, train_bpe, vocabulary_fingerprint

    exp = tmp_path / "exp"
    args = [
        "--exp-dir", str(exp), "--bpe-model", str(tiny_data["bpe_model"]), "--manifest-dir",
        str(tiny_data["fbank_dir"]), "--model-config", "tiny", "--max-steps", "1", "--tensorboard", "false",
        "--num-threads", "1", "--save-every-n", "1",
    ]  # fmt: skip
    train.run(0, 1, train.get_parser().parse_args(args))
    state = read_checkpoint(exp / "checkpoint-1.pt")
    assert state["vocabulary"] == vocabulary_fingerprint(bpe_pieces(load_bpe(tiny_data["bpe_model"])))
    # another BPE model of the same size, trained on other text
    other = tmp_path / "other_lang"
    words = (tiny_data["bpe_model"].parent / "transcript_words.txt").read_text().split()
    (other / "transcript_words.txt").parent.mkdir()
    (other / "transcript_words.txt").write_text(
        "\n".join(" ".join(w[::-1] for w in words[i : i + 9]) for i in range(0, len(words), 9))
    )
    train_bpe(other / "transcript_words.txt", other, vocab_size=64)
    common = ["--exp-dir", str(exp), "--iter", "1", "--avg", "1", "--use-averaged-model", "false"]
    decode = [sys.executable, str(RECIPE / "decode.py"), *common, "--bpe-model", str(other / "bpe.model"),
              "--manifest-dir", str(tiny_data["fbank_dir"]), "--test-sets", "dev-clean"]  # fmt: skip
    out = subprocess.run(decode, capture_output=True, text=True, check=False)
    assert out.returncode == 1 and "not the vocabulary this model was trained with" in out.stderr, out.stderr
    export = [sys.executable, str(RECIPE / "export.py"), *common, "--tokens", str(other / "tokens.txt"),
              "--out-dir", str(tmp_path / "exported")]  # fmt: skip
    out = subprocess.run(export, capture_output=True, text=True, check=False)
    assert out.returncode == 1 and f"--tokens {other / 'tokens.txt'}: not the vocabulary" in out.stderr, (
        out.stderr
    )


@pytest.mark.parametrize(
    "script", ["pretrained.py", "sherpa_onnx_pretrained.py", "decode.py", "onnx_pretrained.py"]
)
@pytest.mark.parametrize("beam", ["0", "-1", "four"])
def test_beam_size_must_be_a_positive_integer(script, beam):
    module = load_recipe_script(script.removesuffix(".py"))
    required = {
        "pretrained.py": ["--checkpoint", "m.pt", "a.wav"],
        "sherpa_onnx_pretrained.py": ["--model-dir", "m", "a.wav"],
        "onnx_pretrained.py": ["--model-dir", "m", "a.wav"],
    }
    assert module.get_parser().parse_args(["--beam-size", "4", *required.get(script, [])]).beam_size == 4
    with pytest.raises(SystemExit):
        module.get_parser().parse_args(["--beam-size", beam, *required.get(script, [])])


def copy_part_manifests(tiny_data, out: Path, part: str = "dev-clean"):
    """The tiny corpus's manifests of `part` copied to `out`, as lhotse objects to edit."""
    from lhotse import RecordingSet, SupervisionSet

    from todm.data.manifests import manifest_paths

    rec_path, sup_path = manifest_paths(tiny_data["root"] / "manifests", part)
    return RecordingSet.from_file(rec_path), SupervisionSet.from_file(sup_path), manifest_paths(out, part)


def test_a_truncated_flac_stops_the_feature_stage_with_the_file_named(tiny_data, tmp_path):
    from lhotse import RecordingSet

    from todm.data.fbank import compute_fbank

    recordings, supervisions, (rec_out, sup_out) = copy_part_manifests(tiny_data, tmp_path / "manifests")
    entries = [r.to_dict() for r in recordings]
    source = Path(entries[0]["sources"][0]["source"])
    broken = tmp_path / source.name
    broken.write_bytes(source.read_bytes()[: source.stat().st_size // 3])
    entries[0]["sources"][0]["source"] = str(broken)
    rec_out.parent.mkdir(parents=True)
    RecordingSet.from_dicts(entries).to_file(rec_out)
    supervisions.to_file(sup_out)
    with pytest.raises(UserError, match="could not be decoded") as err:
        compute_fbank(tmp_path / "manifests", tmp_path / "fbank", ["dev-clean"], num_jobs=1)
    assert str(broken) in str(err.value)
    assert not list((tmp_path / "fbank").glob("*cuts_dev-clean*"))  # no manifest that looks complete


def test_recordings_without_a_transcribed_segment_stop_the_feature_stage(tiny_data, tmp_path):
    from lhotse import SupervisionSet

    from todm.data.fbank import compute_fbank

    recordings, supervisions, (rec_out, sup_out) = copy_part_manifests(tiny_data, tmp_path / "manifests")
    kept = SupervisionSet.from_segments([s for s in supervisions if s.recording_id != recordings[0].id])
    rec_out.parent.mkdir(parents=True)
    recordings.to_file(rec_out)
    kept.to_file(sup_out)
    with pytest.raises(UserError, match="without any transcribed segment") as err:
        compute_fbank(tmp_path / "manifests", tmp_path / "fbank", ["dev-clean"], num_jobs=1)
    assert recordings[0].id in str(err.value)
