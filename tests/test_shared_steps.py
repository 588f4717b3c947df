"""local/shared_steps.py: an ablation or attempt starts from the checkpoints of a run trained before (its warm-up,
then the steps before its KD starts) only where its own options cannot act on those steps, and then trains exactly
as if it had trained them itself."""

import shlex

import torch
from conftest import load_recipe_script, run_local_tool

from todm.checkpoint import read_checkpoint
from todm.train.settings import KD_ONLY_OPTIONS, SANDWICH_ONLY_OPTIONS, kd_off_through

train_script = load_recipe_script("train")

# every option of SANDWICH_ONLY_OPTIONS away from its default
CHANGED = {
    "use_kd": ["--use-kd", "false"],
    "kd_scale": ["--kd-scale", "0.7"],
    "kd_start_batch": ["--kd-start-batch", "0"],
    "kd_ramp_batches": ["--kd-ramp-batches", "3"],
    "alpha_min": ["--alpha-min", "-0.5"],
    "alpha_max": ["--alpha-max", "0.5"],
    "student_label_scale": ["--student-label-scale", "0"],
    "sandwich": ["--sandwich", "false"],
    "num_random_subnets": ["--num-random-subnets", "0"],
    "dropout_min": ["--dropout-min", "0.05"],
    "adaptive_dropout": ["--adaptive-dropout", "false"],
}


def options(tiny_data, exp, steps: int, *extra: str) -> list[str]:
    """A supernet run with a 2-step largest-only warm-up, dropout on (the largest gets --dropout-max)."""
    return [
        "--exp-dir", str(exp), "--bpe-model", str(tiny_data["bpe_model"]),
        "--manifest-dir", str(tiny_data["fbank_dir"]), "--model-config", "tiny", "--max-duration", "30",
        "--tensorboard", "false", "--num-threads", "1", "--log-interval", "1000", "--average-period", "2",
        "--largest-only-batches", "2", "--dropout-max", "0.2", "--save-every-n", "1", "--max-steps", str(steps),
        *extra,
    ]  # fmt: skip


def train(args: list[str]) -> None:
    train_script.run(0, 1, train_script.get_parser().parse_args(args))


def same_state(a: dict, b: dict) -> bool:
    tensors = [(a["model"], b["model"]), (a["model_avg"], b["model_avg"])]
    tensors += [(s, b["optimizer"]["state"][i]) for i, s in a["optimizer"]["state"].items()]
    return all(
        torch.equal(x[k], y[k]) if torch.is_tensor(x[k]) else x[k] == y[k] for x, y in tensors for k in x
    )


def test_options_that_act_only_on_sandwich_steps_leave_the_warmup_unchanged(tiny_data, tmp_path):
    assert set(CHANGED) == SANDWICH_ONLY_OPTIONS
    parser = train_script.get_parser()
    defaults, changed = vars(parser.parse_args([])), [w for ws in CHANGED.values() for w in ws]
    assert all(vars(parser.parse_args(changed))[k] != defaults[k] for k in CHANGED)
    train(options(tiny_data, tmp_path / "plain", 2))
    train(options(tiny_data, tmp_path / "changed", 2, *changed))
    plain, other = (read_checkpoint(tmp_path / d / "checkpoint-2.pt") for d in ("plain", "changed"))
    assert same_state(plain, other)
    # ... and they do act once the sandwich starts (the check above could not pass by training nothing)
    train(options(tiny_data, tmp_path / "plain", 3))
    train(options(tiny_data, tmp_path / "changed", 3, *changed))
    plain, other = (read_checkpoint(tmp_path / d / "checkpoint-3.pt") for d in ("plain", "changed"))
    assert not same_state(plain, other)


def test_an_arm_starts_from_the_shared_warmup_and_trains_as_if_alone(tiny_data, tmp_path):
    source = tmp_path / "exp"
    source.mkdir()
    warmup = options(tiny_data, source, 2)
    (source / "commands.txt").write_text("./train.py " + shlex.join(warmup) + "\n")  # as run.sh logs it
    train(warmup)
    train(options(tiny_data, source, 3))  # the source goes on past its warm-up
    arm, alone = tmp_path / "exp-attempt-kd", tmp_path / "alone"
    kd = ("--kd-scale", "0.7", "--kd-start-batch", "0")

    def share(*arm_options: str):
        return run_local_tool("shared_steps.py", "--source", str(source), "--steps", "2", "--", *arm_options)

    done = share(*options(tiny_data, arm, 2, *kd))
    assert done.returncode == 0 and "starts from" in done.stdout, done.stdout + done.stderr
    # every warm-up checkpoint (the gap curve averages each with the one before), none after it
    assert (
        "# warm-up shared: checkpoint-1.pt, checkpoint-2.pt copied from" in (arm / "commands.txt").read_text()
    )
    assert sorted(p.name for p in arm.glob("checkpoint-*.pt")) == ["checkpoint-1.pt", "checkpoint-2.pt"]
    train(options(tiny_data, arm, 4, *kd))
    train(options(tiny_data, alone, 4, *kd))
    assert same_state(read_checkpoint(arm / "checkpoint-4.pt"), read_checkpoint(alone / "checkpoint-4.pt"))

    again = share(*options(tiny_data, arm, 2, *kd))
    assert "trains its own warm-up" in again.stdout and "has checkpoints already" in again.stdout
    adam = share(*options(tiny_data, tmp_path / "exp-ablation-adam", 2, "--optimizer", "adam"))
    assert "options that act on the warm-up differ: --optimizer" in adam.stdout
    assert not (tmp_path / "exp-ablation-adam").exists()
    other_steps = run_local_tool(
        "shared_steps.py",
        "--source",
        str(source),
        "--steps",
        "3",
        "--",
        *options(tiny_data, tmp_path / "exp-attempt-3", 3),
    )
    assert "has no warm-up command of 3 steps" in other_steps.stdout


def test_a_sandwich_warmup_is_shared_only_where_kd_is_off_through_it(tiny_data, tmp_path):
    # a supernet without the largest-only warm-up: its warm-up steps train the sandwich, KD starts after them
    sandwich = ("--largest-only-batches", "0", "--kd-start-batch", "3")
    source = tmp_path / "exp-attempt-no-largest-only"
    source.mkdir()
    warmup = options(tiny_data, source, 2, *sandwich)
    (source / "commands.txt").write_text("./train.py " + shlex.join(warmup) + "\n")
    train(warmup)
    # every KD option changed, KD starting on the last warm-up step with a ramp (so still weight 0 there)
    kd = [w for k in KD_ONLY_OPTIONS - {"use_kd"} for w in CHANGED[k]] + ["--kd-start-batch", "2"]
    assert kd_off_through(vars(train_script.get_parser().parse_args([*sandwich, *kd])), 2)
    alone = tmp_path / "alone"
    train(options(tiny_data, alone, 2, *sandwich, *kd))
    assert same_state(read_checkpoint(source / "checkpoint-2.pt"), read_checkpoint(alone / "checkpoint-2.pt"))

    def share(arm: str, *arm_options: str):
        sources = (
            "--source",
            str(tmp_path / "exp"),
            "--source",
            str(source),
        )  # the first has no warm-up here
        return run_local_tool(
            "shared_steps.py", *sources, "--steps", "2", "--",
            *options(tiny_data, tmp_path / arm, 2, *sandwich, *arm_options),
        )  # fmt: skip

    done = share("exp-attempt-kd", *kd)
    assert f"starts from {source}/checkpoint-2.pt" in done.stdout, done.stdout + done.stderr
    # ... not where the sandwich acts (the random subnets) or where KD is on in a warm-up step
    for arm, differing, option in [
        ("exp-attempt-one-random", CHANGED["num_random_subnets"], "--num-random-subnets"),
        ("exp-attempt-kd-early", ["--kd-start-batch", "1", "--kd-ramp-batches", "0"], "--kd-start-batch"),
    ]:
        own = share(arm, *differing)
        assert "trains its own warm-up" in own.stdout and f"{tmp_path / 'exp'}: " in own.stdout, own.stdout
        assert option in own.stdout.split("options that act on the warm-up differ: ")[-1], own.stdout
        assert not (tmp_path / arm).exists()


def test_an_arm_continues_from_the_steps_before_its_kd_starts(tiny_data, tmp_path):
    no_kd = ("--largest-only-batches", "0", "--use-kd", "false")
    late_kd = (
        "--largest-only-batches",
        "0",
        "--kd-scale",
        "0.7",
        "--kd-start-batch",
        "3",
        "--kd-ramp-batches",
        "0",
    )
    source = tmp_path / "exp-attempt-no-kd"
    source.mkdir()
    logged = "./train.py " + shlex.join(options(tiny_data, source, 4, *no_kd))
    (source / "commands.txt").write_text(f"# a note's apostrophe is not shell syntax\n{logged}\n")
    train(options(tiny_data, source, 4, *no_kd))
    alone = tmp_path / "alone"
    train(options(tiny_data, alone, 4, *late_kd))

    def share(arm, *arm_options: str):
        return run_local_tool(
            "shared_steps.py", "--continue", "--source", str(tmp_path / "exp"), "--source", str(source), "--",
            *options(tiny_data, arm, 4, *arm_options),
        )  # fmt: skip

    # KD weighs 0.7 from step 3 on: steps 1-2 are the same with or without it
    arm = tmp_path / "exp-attempt-late-kd"
    done = share(arm, *late_kd)
    assert f"continues from {source}/checkpoint-2.pt (the same steps 1-2)" in done.stdout, (
        done.stdout + done.stderr
    )
    assert sorted(p.name for p in arm.glob("checkpoint-*.pt")) == ["checkpoint-1.pt", "checkpoint-2.pt"]
    assert (
        "# steps 1-2 shared: checkpoint-1.pt, checkpoint-2.pt copied from"
        in (arm / "commands.txt").read_text()
    )
    train(options(tiny_data, arm, 4, *late_kd))
    assert same_state(read_checkpoint(arm / "checkpoint-4.pt"), read_checkpoint(alone / "checkpoint-4.pt"))
    assert not same_state(
        read_checkpoint(arm / "checkpoint-4.pt"), read_checkpoint(source / "checkpoint-4.pt")
    )

    # an arm that trained step 1 itself takes only step 2; one whose step 1 differs, or whose KD acts from step 1,
    # takes nothing
    for name, first_step, arm_options, expected in [
        ("own-first-step", late_kd, late_kd, "(the same steps 2-2)"),
        ("other-dropout", (*late_kd, "--dropout-max", "0.1"), late_kd, "checkpoint-1.pt differs from"),
        (
            "early-kd",
            (),
            (*late_kd, "--kd-start-batch", "1"),
            "act by step 1 differ: --kd-ramp-batches, --kd-scale, --kd-start-batch, --use-kd",
        ),
    ]:
        if first_step:
            train(options(tiny_data, tmp_path / name, 1, *first_step))
        before = sorted(p.name for p in (tmp_path / name).glob("checkpoint-*.pt"))
        result = share(tmp_path / name, *arm_options)
        assert expected in result.stdout, result.stdout + result.stderr
        if "differ" in expected:
            assert "trains its steps itself" in result.stdout
            assert sorted(p.name for p in (tmp_path / name).glob("checkpoint-*.pt")) == before
