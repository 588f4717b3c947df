"""Eden learning-rate schedule (Zipformer paper; icefall zipformer/optim.py)."""

from __future__ import annotations

from typing import Any

from torch.optim import Optimizer


class Eden:
    """Eden learning-rate schedule (Zipformer paper; icefall optim.py `Eden`).

    ``lr = base_lr * ((batch^2 + lr_batches^2) / lr_batches^2) ** -0.25
                   * ((epoch^2 + lr_epochs^2) / lr_epochs^2) ** -0.25 * warmup``

    where ``warmup`` rises linearly from ``warmup_start`` at batch 0 to 1.0 at ``warmup_batches`` and stays
    1.0 after. ``base_lr`` is each group's lr when the scheduler is created (kept in ``group["base_lr"]``).
    The lr decays as batch^-0.5 and epoch^-0.5 for large counts, staying nearly constant before
    ``lr_batches`` / ``lr_epochs``. icefall's zipformer uses lr_batches=7500, lr_epochs=3.5 with
    ScaledAdam(lr=0.045) (and warmup_start=0.1; the Eden class default is 0.5).

    Call ``step_batch(batch_idx_train)`` after each optimizer step (the count of batches since the start of
    training, over all epochs) and ``step_epoch(epoch - 1)`` at the start of each epoch (icefall's
    convention: epochs completed so far).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        lr_batches: float = 7500.0,
        lr_epochs: float = 3.5,
        warmup_batches: float = 500.0,
        warmup_start: float = 0.5,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if lr_batches <= 0:
            raise ValueError(f"lr_batches must be > 0, got {lr_batches}")
        if lr_epochs <= 0:
            raise ValueError(f"lr_epochs must be > 0, got {lr_epochs}")
        if warmup_batches < 0:
            raise ValueError(f"warmup_batches must be >= 0, got {warmup_batches}")
        if not 0.0 <= warmup_start <= 1.0:
            raise ValueError(f"warmup_start must lie in [0, 1], got {warmup_start}")
        self.optimizer = optimizer
        self.lr_batches = lr_batches
        self.lr_epochs = lr_epochs
        self.warmup_batches = warmup_batches
        self.warmup_start = warmup_start
        for group in optimizer.param_groups:
            group.setdefault("base_lr", group["lr"])
        self.base_lrs = [group["base_lr"] for group in optimizer.param_groups]
        self.batch: float = 0
        self.epoch: float = 0
        self._set_lrs()

    def factor(self, batch: float, epoch: float) -> float:
        """The multiplier of base_lr at (batch, epoch), warm-up included."""
        batch_factor = ((batch**2 + self.lr_batches**2) / self.lr_batches**2) ** -0.25
        epoch_factor = ((epoch**2 + self.lr_epochs**2) / self.lr_epochs**2) ** -0.25
        if batch >= self.warmup_batches:
            warmup = 1.0
        else:
            warmup = self.warmup_start + (1.0 - self.warmup_start) * batch / self.warmup_batches
        return batch_factor * epoch_factor * warmup

    def get_lr(self) -> list[float]:
        """Learning rates of all groups at the current (batch, epoch)."""
        f = self.factor(self.batch, self.epoch)
        return [base_lr * f for base_lr in self.base_lrs]

    def get_last_lr(self) -> list[float]:
        """The learning rates last written into the optimizer."""
        return list(self._last_lr)

    def step_batch(self, batch: float | None = None) -> None:
        """Sets the global batch index (or increments it by one when None) and updates the lrs."""
        self.batch = self.batch + 1 if batch is None else batch
        self._set_lrs()

    def step_epoch(self, epoch: float | None = None) -> None:
        """Sets the epoch index (or increments it by one when None) and updates the lrs."""
        self.epoch = self.epoch + 1 if epoch is None else epoch
        self._set_lrs()

    def _set_lrs(self) -> None:
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Batch and epoch counters only; base lrs come from the optimizer (as icefall)."""
        return {"batch": self.batch, "epoch": self.epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the counters and re-applies the learning rates."""
        self.batch = state_dict["batch"]
        self.epoch = state_dict["epoch"]
        self._set_lrs()
