"""Where a run trained: the machine line and the per-run stretches summarised for RESULTS.md."""

import torch

from todm.machine import describe_machine, summarize_segments


def test_machine_line_names_torch_and_its_vector_kernels():
    line = describe_machine()
    assert f"torch {torch.__version__}" in line
    assert f"({torch.backends.cpu.get_cpu_capability()} kernels)" in line


def test_stretches_on_one_machine_merge_and_a_move_is_shown():
    segments = [
        {"machine": "A", "first_step": 0, "last_step": 1500, "seconds": 900.0},
        {"machine": "A", "first_step": 1500, "last_step": 6000, "seconds": 5400.0},
        {"machine": "B", "first_step": 6000, "last_step": 9000, "seconds": 1800.0},
    ]
    assert summarize_segments(segments) == "steps 0-6000 on A (105.0 min); 6000-9000 on B (30.0 min)"
    # A machine seen again after another is a new stretch, not merged across the move.
    back = [*segments, {"machine": "A", "first_step": 9000, "last_step": 9100, "seconds": 60.0}]
    assert summarize_segments(back).endswith("; 9000-9100 on A (1.0 min)")


def test_checkpoints_from_before_the_record_say_so():
    assert summarize_segments([]) == ""
    late = [{"machine": "A", "first_step": 3000, "last_step": 4000, "seconds": 600.0}]
    assert summarize_segments(late) == "steps before 3000: not recorded; steps 3000-4000 on A (10.0 min)"
