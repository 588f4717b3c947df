"""One-by-one baselines are their own models: the subnet's deployed parameters only, their own optimizer
state, one dropout rate, and the same decode/export path as the supernet's subnet."""

import pytest
import torch
from conftest import load_recipe_script

from todm.checkpoint import load_averaged_model, read_checkpoint
from todm.decode.loading import resolve_subnet
from todm.errors import UserError
from todm.model import Transducer, extract_config, get_preset, largest, smallest
from todm.search.space import SearchSpace
from todm.train.sandwich import step_subnets

train_script = load_recipe_script("train")


def train(tiny_data, exp_dir, *extra: str) -> None:
    args = [
        "--exp-dir", str(exp_dir), "--bpe-model", str(tiny_data["bpe_model"]),
        "--manifest-dir", str(tiny_data["fbank_dir"]), "--model-config", "tiny", "--max-duration", "30",
        "--max-steps", "2", "--save-every-n", "1", "--average-period", "1", "--tensorboard", "false", "--num-threads", "1", *extra,
    ]  # fmt: skip
    params = train_script.get_parser().parse_args(args)
    train_script.run(0, 1, params)


def shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


@pytest.fixture(scope="module")
def baseline(tiny_data, tmp_path_factory):
    """A 2-step standalone baseline of a mid-sized tiny subnet, and the supernet config it came from."""
    cfg = get_preset("tiny", vocab_size=64)
    space = SearchSpace(cfg)
    subnet = next(s for s in space.enumerate() if s not in (largest(cfg), smallest(cfg)))
    root = tmp_path_factory.mktemp("baseline")
    subnet_json = root / "subnet-mid.json"
    subnet_json.write_text(subnet.to_json())
    train(tiny_data, root / "exp", "--subnet", str(subnet_json), "--dropout-max", "0.05")
    return {"cfg": cfg, "subnet": subnet, "json": subnet_json, "exp": root / "exp"}


def test_baseline_checkpoint_holds_exactly_the_subnets_deployed_parameters(baseline):
    cfg, subnet = baseline["cfg"], baseline["subnet"]
    state = read_checkpoint(baseline["exp"] / "checkpoint-2.pt")
    assert state["supernet_config"] == extract_config(cfg, subnet).to_dict()
    assert state["baseline_of"] == subnet.to_dict()
    deployed = Transducer(cfg).extract(subnet)
    assert {k: tuple(v.shape) for k, v in state["model"].items()} == shapes(deployed)
    # its optimizer holds state for its own parameters only, not for a supernet's
    optimizer_tensors = sum(len(g["params"]) for g in state["optimizer"]["param_groups"])
    assert optimizer_tensors == len(list(deployed.parameters()))
    assert sum(v.numel() for v in state["model"].values()) == sum(p.numel() for p in deployed.parameters())


def test_baseline_decodes_and_exports_through_the_subnets_path(baseline, tmp_path):
    cfg = baseline["cfg"]
    model, state, _ = load_averaged_model(baseline["exp"], iteration=2, avg=1)
    chosen, name = resolve_subnet(
        str(baseline["json"]), model.cfg, state.get("fixed_subnet"), state["baseline_of"]
    )
    assert (chosen, name) == (largest(model.cfg), "subnet-mid")
    supernet_side = resolve_subnet(str(baseline["json"]), cfg)
    assert supernet_side[1] == "subnet-mid"
    # export.py deploys model.extract(subnet) on both sides: the same tensors
    assert shapes(model.extract(chosen)) == shapes(Transducer(cfg).extract(supernet_side[0]))
    other = tmp_path / "subnet-other.json"
    other.write_text(smallest(cfg).to_json())
    with pytest.raises(UserError, match="standalone baseline of another architecture"):
        resolve_subnet(str(other), model.cfg, None, state["baseline_of"])


def test_baseline_step_trains_the_whole_model_with_one_dropout_rate():
    cfg = get_preset("tiny", vocab_size=64)
    standalone = extract_config(cfg, smallest(cfg))
    members = step_subnets(standalone, 7, 1, 2, True, 0.0, 0.05, True, largest(standalone))
    assert [(m.kind, m.subnet, m.dropout) for m in members] == [("fixed", largest(standalone), 0.05)]


def test_gap_curve_decodes_each_step_like_decode_py_and_resumes(baseline, tiny_data, tmp_path):
    import json
    import subprocess
    import sys

    from conftest import RECIPE

    from todm.data.bpe import load_bpe
    from todm.data.loader import load_cuts
    from todm.decode import decode_cuts, word_error_rate

    out = tmp_path / "gap.json"
    cmd = [
        sys.executable, str(RECIPE / "local" / "gap_curve.py"), "--exp-dir", str(baseline["exp"]),
        "--bpe-model", str(tiny_data["bpe_model"]), "--manifest-dir", str(tiny_data["fbank_dir"]),
        "--subnets", str(baseline["json"]), "--every", "1", "--test-sets", "dev-clean", "--out", str(out),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    points = json.loads(out.read_text())
    assert [(p["step"], p["subnet"], p["set"]) for p in points] == [
        (1, "subnet-mid", "dev-clean"),
        (2, "subnet-mid", "dev-clean"),
    ]
    # step 2: the averaged model between checkpoint-1 and checkpoint-2, as decode.py --iter 2 --avg 1 reads it
    model, state, _ = load_averaged_model(
        baseline["exp"], iteration=2, avg=1, use_averaged_model=True, average_period=1
    )
    subnet, _ = resolve_subnet(str(baseline["json"]), model.cfg, None, state["baseline_of"])
    results, _ = decode_cuts(
        model, subnet, load_cuts(tiny_data["fbank_dir"], ["dev-clean"]), load_bpe(tiny_data["bpe_model"])
    )
    assert points[1]["wer"] == word_error_rate([r[1] for r in results], [r[2] for r in results])["wer"]
    points[0]["wer"] = -1.0  # a point already there is kept, not decoded again
    out.write_text(json.dumps(points))
    subprocess.run(cmd, check=True, capture_output=True)
    assert json.loads(out.read_text())[0]["wer"] == -1.0
    # a later session: the checkpoints are gone, the points stay
    empty = tmp_path / "no-checkpoints"
    empty.mkdir()
    cmd[cmd.index("--exp-dir") + 1] = str(empty)
    subprocess.run(cmd, check=True, capture_output=True)
    assert json.loads(out.read_text())[0]["wer"] == -1.0


def test_pick_baseline_takes_the_lowest_word_weighted_dev_wer(tmp_path):
    import json
    import subprocess
    import sys

    from conftest import RECIPE

    from todm.decode.wer import write_error_stats

    # dev-other has 4x the words of dev-clean: the weighted score follows it
    per_dir = {"a": ([0, 0], [3, 1]), "b": ([1, 1], [0, 1]), "c": ([0, 1], [1, 1])}  # errors per utt
    for name, (clean_errors, other_errors) in per_dir.items():
        res = tmp_path / name / "greedy_search"
        res.mkdir(parents=True)
        for dev_set, errors, words in (("dev-clean", clean_errors, 2), ("dev-other", other_errors, 8)):
            results = [
                (f"u{i}", ["w"] * words, ["x"] * e + ["w"] * (words - e)) for i, e in enumerate(errors)
            ]
            write_error_stats(
                res / f"errs-{dev_set}-greedy_search-iter-30-avg-2-subnet-s.txt", dev_set, results
            )
    out = tmp_path / "chosen.json"
    cmd = [sys.executable, str(RECIPE / "local" / "pick_baseline.py"), "--iter", "30", "--out", str(out),
           "--dirs", ",".join(str(tmp_path / n) for n in per_dir)]  # fmt: skip
    chosen = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
    # word-weighted: a = 4/20, b = 3/20, c = 3/20 -> b (the first of the tie)
    assert chosen == str(tmp_path / "b")
    summary = json.loads(out.read_text())
    assert [round(r["dev_wer"], 6) for r in summary["grid"]] == [20.0, 15.0, 15.0]


def test_time_scales_reads_both_sides_learned_dt_at_their_common_step(tiny_data, tmp_path):
    import json
    import math
    import subprocess
    import sys

    from conftest import RECIPE

    from todm.model import LayerChoice, SubnetConfig

    cfg = get_preset("tiny", vocab_size=64)
    subnet = SubnetConfig([LayerChoice(0, 96, 2), LayerChoice(2, 48, 4)])  # 2 of layer 0's 4 heads
    subnet_json = tmp_path / "subnet-two-heads.json"
    subnet_json.write_text(subnet.to_json())
    train(tiny_data, tmp_path / "supernet")
    train(tiny_data, tmp_path / "baseline", "--subnet", str(subnet_json), "--dropout-max", "0.05")
    out = tmp_path / "time-scales.json"
    cmd = [
        sys.executable, str(RECIPE / "local" / "time_scales.py"), "--exp-dir", str(tmp_path / "supernet"),
        "--baseline-dir", str(tmp_path / "baseline"), "--subnet", str(subnet_json), "--out", str(out),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    [entry] = json.loads(out.read_text())
    assert (entry["subnet"], entry["step"], entry["baseline"]) == ("subnet-two-heads", 2, "baseline")
    assert [(layer["index"], layer["heads"]) for layer in entry["layers"]] == [(0, 2), (2, 4)]
    weights = {
        side: read_checkpoint(tmp_path / side / "checkpoint-2.pt")["model"]
        for side in ("supernet", "baseline")
    }
    for position, layer in enumerate(entry["layers"]):
        for side, index in (("supernet", layer["index"]), ("baseline", position)):
            log_dt = weights[side][f"encoder.layers.{index}.ssm.kernel.log_dt"][
                : layer["heads"] * cfg.ssm_head_dim
            ]
            values = (log_dt / math.log(10)).tolist()
            # brute force: the widest pair of values with no value strictly between them
            widest = max(
                b - a for a in values for b in values if b > a and not any(a < v < b for v in values)
            )
            assert layer[side]["widest_gap_decades"] == pytest.approx(widest, abs=2e-3)
            heads = [values[h * cfg.ssm_head_dim : (h + 1) * cfg.ssm_head_dim] for h in range(layer["heads"])]
            spans = [value for span in layer[side]["heads_log10_dt"] for value in (span[0], span[2])]
            assert spans == pytest.approx([value for h in heads for value in (min(h), max(h))], abs=2e-3)
    # a known layout: the 2-head slice of a 4-head layer keeps bands 0 and 3 (two bands apart); alone, the
    # 2-head layer's two bands are the halves of the range and touch
    band = math.log10(cfg.ssm_dt_max / cfg.ssm_dt_min) / 4
    assert entry["layers"][0]["supernet"]["widest_gap_decades"] > 2 * band - 0.05
    assert entry["layers"][0]["baseline"]["widest_gap_decades"] < band
    # a later session: the checkpoints are gone, the entry stays
    entry["step"] = -1
    out.write_text(json.dumps([entry]))
    for side in ("supernet", "baseline"):
        for path in (tmp_path / side).glob("checkpoint-*.pt"):
            path.unlink()
    subprocess.run(cmd, check=True, capture_output=True)
    assert json.loads(out.read_text())[0]["step"] == -1
