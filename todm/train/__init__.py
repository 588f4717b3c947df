"""Supernet training: the sandwich step's objective (pruned RNN-T + CTC + in-place KD) and the loop with DDP
(batches: todm.data.loader; checkpoints: todm.checkpoint).

  sandwich.py    which subnets a step trains, their dropout, and the per-step loss scales
  objective.py   StepObjective: the losses of one step (the module DDP wraps)
  loop.py        Trainer: optimizer, Eden, gradient accumulation over subnets, logging, checkpoints
  curve.py       the logged losses read back (TensorBoard) and the first step where two runs part
"""
