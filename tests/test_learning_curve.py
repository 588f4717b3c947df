"""local/learning_curve.py: which checkpoints a learning curve decodes."""

from pathlib import Path

import pytest
from conftest import load_recipe_script

from todm.errors import UserError


def test_points_spread_over_the_whole_run_and_end_at_its_last_checkpoint() -> None:
    curve = load_recipe_script("local/learning_curve")
    # a 185-minute run checkpointed every ~10 minutes
    available = [(10.3 * k, 500 * k, Path(f"checkpoint-{500 * k}.pt")) for k in range(1, 19)]
    marks = curve.minute_marks("5,10", 5, available[-1][0])
    assert marks == pytest.approx([37.08, 74.16, 111.24, 148.32, 185.4])
    chosen = curve.closest_checkpoints(available, marks)
    assert [batch for _, batch, _ in chosen] == [2000, 3500, 5500, 7000, 9000]
    # explicit marks: two close to the same checkpoint decode it once
    chosen = curve.closest_checkpoints(available, curve.minute_marks("10,11,1000", 0, 0.0))
    assert [batch for _, batch, _ in chosen] == [500, 9000]
    with pytest.raises(UserError, match="--points -1"):
        curve.minute_marks("", -1, 1.0)
    with pytest.raises(UserError, match="--minutes 5,x"):
        curve.minute_marks("5,x", 0, 1.0)
