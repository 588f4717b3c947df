"""Supernet training: data loading, the sandwich step's objective (pruned RNN-T + CTC + in-place KD),
the loop with DDP and icefall-style checkpoints.

  data.py        lhotse cuts -> batches (bucketing sampler, SpecAugment, BPE targets)
  sandwich.py    which subnets a step trains, their dropout, and the per-step loss scales
  objective.py   StepObjective: the losses of one step (the module DDP wraps)
  loop.py        Trainer: optimizer, Eden, gradient accumulation over subnets, logging, checkpoints
  checkpoint.py  atomic icefall-style checkpoints, architecture checks, model averaging
"""
