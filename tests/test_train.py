"""Supernet training: sandwich sampling, overfitting, bit-identical resume, DDP == single process."""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from conftest import load_recipe_script

from todm.checkpoint import newest_checkpoint, read_checkpoint, seed_everything
from todm.data.bpe import load_bpe
from todm.data.loader import Batch, filter_cuts, load_cuts, make_valid_loader, to_batch
from todm.export.standalone import load_standalone, save_standalone
from todm.machine import describe_machine
from todm.model import Transducer, get_preset, largest, num_params, smallest
from todm.train.loop import KindStats, Trainer, init_distributed
from todm.train.sandwich import kd_scale_at, step_subnets, warmup_loss_scales
from todm.train.settings import TrainingSettings

train_script = load_recipe_script("train")


def make_params(tiny_data, tmp_path, *extra: str):
    args = [
        "--exp-dir",
        str(tmp_path),
        "--bpe-model",
        str(tiny_data["bpe_model"]),
        "--manifest-dir",
        str(tiny_data["fbank_dir"]),
        "--model-config",
        "tiny",
        "--max-duration",
        "30",
        "--tensorboard",
        "false",
        "--num-threads",
        "1",
        "--kd-start-batch",
        "1",
        "--kd-ramp-batches",
        "0",
        "--warm-step",
        "10",
        "--average-period",
        "2",
        "--log-interval",
        "1000",
        *extra,
    ]
    return train_script.get_parser().parse_args(args)


def fixed_batch(tiny_data, num_utts: int) -> Batch:
    sp = load_bpe(tiny_data["bpe_model"])
    cuts = filter_cuts(load_cuts(tiny_data["fbank_dir"], ["train-clean-100"]), sp).subset(first=num_utts)
    return to_batch(next(iter(make_valid_loader(cuts, max_duration=10_000))), sp)


def test_training_settings_carry_the_command_line_to_each_step():
    """TrainingSettings.from_args maps train.py's options to the typed groups; a step's members and loss
    scales equal the sandwich functions called with the same numbers."""
    args = train_script.get_parser().parse_args(
        ["--num-random-subnets", "3", "--dropout-max", "0.2", "--kd-scale", "0.4", "--kd-start-batch", "10"]
        + [
            "--kd-ramp-batches",
            "20",
            "--warm-step",
            "50",
            "--use-ctc",
            "false",
            "--largest-only-batches",
            "5",
        ]
    )
    settings = TrainingSettings.from_args(args)
    assert settings.sandwich.num_random_subnets == 3 and settings.loop.exp_dir.name == "exp"
    cfg = get_preset("cpu_small", vocab_size=50)
    for step in (1, 5, 6, 25, 100):
        members = settings.sandwich.members(cfg, step, None)
        direct = step_subnets(cfg, step, 42, 3, True, 0.0, 0.2, True, None, 5)
        assert [(m.kind, m.subnet, m.dropout) for m in members] == [
            (m.kind, m.subnet, m.dropout) for m in direct
        ]
        loss = settings.loss.at(step)
        assert (loss.simple_scale, loss.pruned_scale) == warmup_loss_scales(step, 50, 0.5)
        assert loss.kd_scale == kd_scale_at(step, 0.4, 10, 20) and loss.ctc_scale == 0.0
    assert len(settings.sandwich.members(cfg, 6, None)) == 5 and settings.loss.at(20).kd_scale == 0.2
    assert {settings.loss.at(step).student_label_scale for step in (1, 20, 100)} == {1.0}


def test_students_move_from_labels_to_kd_along_the_kd_ramp():
    """--student-label-scale 0 (KD alone): labels only before KD starts, then a linear hand-over."""
    args = train_script.get_parser().parse_args(
        [
            "--kd-scale",
            "0.4",
            "--kd-start-batch",
            "10",
            "--kd-ramp-batches",
            "20",
            "--student-label-scale",
            "0",
        ]
    )
    loss = TrainingSettings.from_args(args).loss
    for step, kd, label in [(5, 0.0, 1.0), (10, 0.0, 1.0), (15, 0.1, 0.75), (20, 0.2, 0.5), (30, 0.4, 0.0)]:
        assert loss.at(step).kd_scale == pytest.approx(kd)
        assert loss.at(step).student_label_scale == pytest.approx(label)


def test_step_subnets_sandwich_and_determinism():
    cfg = get_preset("cpu_small", vocab_size=50)
    members = step_subnets(
        cfg, step=7, seed=1, num_random=2, sandwich=True, dropout_min=0.0, dropout_max=0.2, adaptive=True
    )
    assert [m.kind for m in members] == ["largest", "smallest", "random", "random"]
    assert members[0].subnet == largest(cfg) and members[1].subnet == smallest(cfg)
    assert members[0].dropout == 0.2 and members[1].dropout == 0.0
    assert all(0.0 <= m.dropout <= 0.2 for m in members)
    again = step_subnets(
        cfg, step=7, seed=1, num_random=2, sandwich=True, dropout_min=0.0, dropout_max=0.2, adaptive=True
    )
    assert [m.subnet for m in again] == [m.subnet for m in members]
    other = step_subnets(
        cfg, step=8, seed=1, num_random=2, sandwich=True, dropout_min=0.0, dropout_max=0.2, adaptive=True
    )
    assert [m.subnet for m in other[2:]] != [m.subnet for m in members[2:]]
    no_sandwich = step_subnets(cfg, 7, 1, 2, False, 0.0, 0.2, True)
    sizes = [num_params(cfg, m.subnet) for m in no_sandwich]
    assert len(no_sandwich) == 4 and sizes == sorted(sizes, reverse=True)  # biggest random one teaches
    warm = [step_subnets(cfg, step, 1, 2, True, 0.0, 0.2, True, largest_only_steps=3) for step in (3, 4)]
    assert [m.kind for m in warm[0]] == ["largest"]
    assert [m.kind for m in warm[1]] == ["largest", "smallest", "random", "random"]


def test_loss_schedules():
    assert warmup_loss_scales(0, 100, 0.5) == (1.0, 0.1)
    assert warmup_loss_scales(50, 100, 0.5) == pytest.approx((0.75, 0.55))
    assert warmup_loss_scales(100, 100, 0.5) == (0.5, 1.0)
    assert kd_scale_at(9, 0.5, 10, 10) == 0.0
    assert kd_scale_at(15, 0.5, 10, 10) == pytest.approx(0.25)
    assert kd_scale_at(40, 0.5, 10, 10) == 0.5


def test_tiny_supernet_overfits_a_fixed_batch(tiny_data, tmp_path):
    seed_everything(0)
    params = make_params(
        tiny_data,
        tmp_path,
        "--dropout-max",
        "0",
        "--optimizer",
        "adam",
        "--base-lr",
        "1e-2",
        "--warmup-batches",
        "0",
        "--warm-step",
        "1",
        "--num-random-subnets",
        "0",
    )
    sp = load_bpe(tiny_data["bpe_model"])
    trainer = Trainer(
        TrainingSettings.from_args(params), Transducer(get_preset("tiny", vocab_size=sp.get_piece_size())), sp
    )
    batch = fixed_batch(tiny_data, 20)
    losses = []
    for _ in range(100):
        stats = KindStats()
        trainer.train_step(batch, stats)
        losses.append(stats.per_frame()["largest"]["pruned"])
    assert losses[-1] < 0.2 * losses[0], (losses[0], losses[-1])


def test_resume_is_bit_identical(tiny_data, tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    train_script.run(0, 1, make_params(tiny_data, straight, "--max-steps", "4"))
    train_script.run(0, 1, make_params(tiny_data, interrupted, "--max-steps", "2"))
    train_script.run(0, 1, make_params(tiny_data, interrupted, "--max-steps", "4"))  # resumes checkpoint-2
    a = read_checkpoint(straight / "checkpoint-4.pt")
    b = read_checkpoint(interrupted / "checkpoint-4.pt")
    for key in ("model", "model_avg"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), f"{key}.{name} differs after resume"
    # Training costs add up over the resumed runs: the same subnets on the same batches give the same MACs.
    assert a["train_encoder_macs"] == b["train_encoder_macs"] > 0
    assert a["train_cpu_seconds"] > 0 and b["train_cpu_seconds"] > 0
    # icefall's counters at the top level (its averaging tools read state["batch_idx_train"]), not nested.
    assert a["batch_idx_train"] == 4 and a["cur_epoch"] >= 1 and "progress" not in a
    # Each run of train.py records where it trained which steps.
    here = describe_machine()
    assert [(s["machine"], s["first_step"], s["last_step"]) for s in a["segments"]] == [(here, 0, 4)]
    assert [(s["machine"], s["first_step"], s["last_step"]) for s in b["segments"]] == [
        (here, 0, 2),
        (here, 2, 4),
    ]
    assert all(s["seconds"] > 0 for s in a["segments"] + b["segments"])


def test_ema_teacher_is_checkpointed_and_resumes_bit_identically(tiny_data, tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    ema = ("--kd-teacher-decay", "0.5")
    train_script.run(0, 1, make_params(tiny_data, straight, "--max-steps", "4", *ema))
    train_script.run(0, 1, make_params(tiny_data, interrupted, "--max-steps", "2", *ema))
    train_script.run(0, 1, make_params(tiny_data, interrupted, "--max-steps", "4", *ema))
    a = read_checkpoint(straight / "checkpoint-4.pt")
    b = read_checkpoint(interrupted / "checkpoint-4.pt")
    for key in ("model", "kd_teacher"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), f"{key}.{name} differs after resume"
    # The teacher lags the weights it averages, and the run trains differently from one taught in place.
    in_place = tmp_path / "in_place"
    train_script.run(0, 1, make_params(tiny_data, in_place, "--max-steps", "4"))
    c = read_checkpoint(in_place / "checkpoint-4.pt")
    assert c["kd_teacher"] is None
    moved = [
        n for n, t in a["model"].items() if t.is_floating_point() and not torch.equal(t, a["kd_teacher"][n])
    ]
    assert moved and any(not torch.equal(a["model"][n], c["model"][n]) for n in moved)


def test_rerun_of_a_finished_training_is_a_no_op_and_resume_follows_recorded_steps(tiny_data, tmp_path):
    exp = tmp_path / "exp"
    train_script.run(0, 1, make_params(tiny_data, exp, "--max-steps", "2"))
    before = {p.name: p.read_bytes() for p in exp.glob("*.pt")}
    train_script.run(0, 1, make_params(tiny_data, exp, "--max-steps", "2"))  # finished: nothing trained
    assert {p.name: p.read_bytes() for p in exp.glob("*.pt")} == before


def test_resume_picks_the_most_recorded_steps_not_the_newest_mtime(tmp_path):
    from todm.checkpoint import FORMAT

    def fake(name: str, steps: int, mtime: float) -> None:
        torch.save({"todm_format": FORMAT, "progress": {"batch_idx_train": steps}}, tmp_path / name)
        os.utime(tmp_path / name, (mtime, mtime))

    fake("checkpoint-8.pt", 8, 300)
    fake("checkpoint-64.pt", 64, 100)  # copied first: the oldest mtime
    fake("epoch-7.pt", 63, 200)
    assert newest_checkpoint(tmp_path).name == "checkpoint-64.pt"
    fake("epoch-8.pt", 70, 50)
    assert newest_checkpoint(tmp_path).name == "epoch-8.pt"
    # Counters as this version writes them (top level) and as earlier ones did (under "progress").
    torch.save({"todm_format": FORMAT, "batch_idx_train": 90}, tmp_path / "checkpoint-90.pt")
    assert newest_checkpoint(tmp_path).name == "checkpoint-90.pt"


@pytest.mark.parametrize(
    "word, value", [("yes", True), ("1", True), ("T", True), ("no", False), ("0", False)]
)
def test_str2bool_takes_icefall_spellings(word, value):
    from todm.cli import str2bool

    assert str2bool(word) is value


def test_str2bool_rejects_other_words():
    import argparse

    from todm.cli import str2bool

    with pytest.raises(argparse.ArgumentTypeError, match="maybe"):
        str2bool("maybe")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world_size, port, params, batch, out_dir):
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "localhost", str(port)
    init_distributed(rank, world_size, port)
    seed_everything(0)
    model = Transducer(get_preset("tiny", vocab_size=params.vocab_size))
    trainer = Trainer(TrainingSettings.from_args(params), model, sp=None, rank=rank, world_size=world_size)
    half = batch.features.size(0) // world_size
    rows = slice(rank * half, (rank + 1) * half)
    width = int(batch.target_lens[rows].max())
    local = Batch(
        batch.features[rows], batch.feature_lens[rows], batch.targets[rows, :width], batch.target_lens[rows]
    )
    trainer.accumulate_gradients(local)
    if rank == 0:
        torch.save({n: p.grad for n, p in model.named_parameters()}, out_dir / "grads.pt")
    torch.distributed.destroy_process_group()


def test_two_process_ddp_step_equals_one_process(tiny_data, tmp_path):
    params = make_params(tiny_data, tmp_path, "--dropout-max", "0")
    params.vocab_size = load_bpe(tiny_data["bpe_model"]).get_piece_size()
    batch = fixed_batch(tiny_data, 4)
    seed_everything(0)
    model = Transducer(get_preset("tiny", vocab_size=params.vocab_size))
    Trainer(TrainingSettings.from_args(params), model, sp=None).accumulate_gradients(batch)
    single = {n: p.grad for n, p in model.named_parameters()}
    mp.spawn(_ddp_worker, args=(2, _free_port(), params, batch, tmp_path), nprocs=2, join=True)
    ddp = torch.load(tmp_path / "grads.pt")
    scale = max(g.abs().max().item() for g in single.values() if g is not None)
    for name, grad in single.items():
        if grad is None:
            assert ddp[name] is None or not ddp[name].any(), name
            continue
        assert (grad - ddp[name]).abs().max().item() <= 1e-5 * max(1.0, scale), name


def _train_fixed_batch(tiny_data, tmp_path, batch, use_ctc: bool, steps: int) -> tuple[Trainer, list[float]]:
    seed_everything(0)
    params = make_params(
        tiny_data,
        tmp_path,
        *("--use-ctc", str(use_ctc).lower(), "--dropout-max", "0", "--num-random-subnets", "0"),
        *("--optimizer", "adam", "--base-lr", "5e-3", "--warmup-batches", "0", "--use-kd", "false"),
    )
    sp = load_bpe(tiny_data["bpe_model"])
    trainer = Trainer(
        TrainingSettings.from_args(params), Transducer(get_preset("tiny", vocab_size=sp.get_piece_size())), sp
    )
    losses = []
    for _ in range(steps):
        stats = KindStats()
        trainer.train_step(batch, stats)
        losses.append(stats.per_frame()["largest"]["pruned"])
    return trainer, losses


def test_ctc_helper_trains_as_fast_and_leaves_the_exported_model_alone(tiny_data, tmp_path):
    """The CTC head is a training-only helper."""
    batch = fixed_batch(tiny_data, 12)
    with_ctc, losses_ctc = _train_fixed_batch(tiny_data, tmp_path / "ctc", batch, True, 40)
    _, losses_plain = _train_fixed_batch(tiny_data, tmp_path / "plain", batch, False, 40)
    # Same seed, same batches: the transducer loss with the helper falls at least as fast (5% slack).
    assert sum(losses_ctc[-5:]) <= 1.05 * sum(losses_plain[-5:]), (losses_ctc[-5:], losses_plain[-5:])
    assert losses_ctc[-1] < 0.7 * losses_ctc[0]

    model = with_ctc.model.eval()
    exported = model.extract(largest(model.cfg))
    save_standalone(tmp_path / "a.pt", exported)
    with torch.no_grad():
        model.ctc_output.weight.normal_()  # the helper's weights must not reach the deployed model
    save_standalone(tmp_path / "b.pt", model.extract(largest(model.cfg)))
    a, b = load_standalone(tmp_path / "a.pt"), load_standalone(tmp_path / "b.pt")
    assert a.ctc_output is None and not any("ctc" in name for name in a.state_dict())
    with torch.no_grad():
        out_model = model.forward_encoder(batch.features, batch.feature_lens, largest(model.cfg))
        out_a = a.forward_encoder(batch.features, batch.feature_lens, largest(a.cfg))
        out_b = b.forward_encoder(batch.features, batch.feature_lens, largest(b.cfg))
    for got in (out_a, out_b):
        assert torch.allclose(got[0], out_model[0], atol=1e-5) and torch.equal(got[1], out_model[1])


def test_resume_with_noise_mixing_is_bit_identical(tiny_data, tmp_path):
    """CutMix is seeded per batch, so an interrupted run mixes the same noise as an uninterrupted one."""
    from todm.data.noise import compute_noise_fbank, make_noise_corpus, noise_recordings

    make_noise_corpus(tmp_path / "noise", None, clips_per_kind=1, seed=3)
    noise = tmp_path / "noise_cuts.jsonl.gz"
    compute_noise_fbank(noise_recordings(tmp_path / "noise"), noise)
    mix = ("--noise-cuts", str(noise), "--noise-prob", "1.0")
    straight, interrupted, clean = tmp_path / "straight", tmp_path / "interrupted", tmp_path / "clean"
    train_script.run(0, 1, make_params(tiny_data, straight, "--max-steps", "3", *mix))
    train_script.run(0, 1, make_params(tiny_data, interrupted, "--max-steps", "1", *mix))
    train_script.run(0, 1, make_params(tiny_data, interrupted, "--max-steps", "3", *mix))
    train_script.run(0, 1, make_params(tiny_data, clean, "--max-steps", "3"))
    a, b, c = (read_checkpoint(d / "checkpoint-3.pt")["model"] for d in (straight, interrupted, clean))
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert not all(torch.equal(a[name], c[name]) for name in a)  # the noise changed what was learned
