"""The learning-rate range test for a torch model, optimizer and data loader.

:func:`find_lr` is :func:`fastlr.find_lr` (same grid, smoothing, stopping rule and
suggestions) with the training step written for torch, and it puts the model, the
optimizer (and a scheduler, if given) back as they were.
"""
from __future__ import annotations

import copy
import numbers

import torch

from ..tools.range_test import find_lr as _find_lr

__all__ = ["find_lr"]


def _describe(value):
    return f"{value!r} ({type(value).__name__})"


class _Batches:
    """Batches from ``loader`` without end: a new pass starts when one is exhausted."""

    def __init__(self, loader):
        self.loader = loader
        self.it = iter(loader)
        self.fresh = True  # a pass that has yielded nothing yet

    def __next__(self):
        try:
            batch = next(self.it)
        except StopIteration:
            if self.fresh:
                raise ValueError("loader yielded no batch") from None
            self.it = iter(self.loader)
            self.fresh = True
            return next(self)
        self.fresh = False
        return batch


def _split(batch):
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise TypeError(f"each batch of loader must be an (inputs, targets) pair, got "
                    f"{type(batch).__name__}" + (f" of length {len(batch)}"
                                                 if isinstance(batch, (tuple, list)) else ""))


def _to(x, device):
    if device is None:
        return x
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, (tuple, list)):
        return type(x)(_to(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _to(v, device) for k, v in x.items()}
    return x


def find_lr(model, optimizer, criterion, loader, *, start_lr=1e-7, end_lr=10.0,
            num_steps=100, mode="exp", smoothing=0.98, diverge_factor=4.0,
            accumulation_steps=1, device=None, scheduler=None, progress=None):
    """Run the learning-rate range test on a torch model, then restore everything.

    Each of the (up to) ``num_steps`` steps sets the lr, draws ``accumulation_steps``
    batches ``(inputs, targets)`` from ``loader`` (starting a new pass over it when it
    runs out), runs ``loss = criterion(model(inputs), targets) / accumulation_steps`` and
    ``loss.backward()`` for each, then ``optimizer.step()``; the step's loss is the sum of
    those losses, as torch-lr-finder computes it. The lr of step ``i`` is
    :func:`fastlr.find_lr`'s grid (``start_lr`` at step 0, ``end_lr`` at the last); every
    param group gets ``lr * group.get("lr_scale", 1.0)``, the convention
    :class:`fastlr.torch.LRScheduler` writes, so groups keep their relative lrs.

    Afterwards (also when a step raises) the model's parameters and buffers, its
    train/eval mode, the optimizer's state and param groups (lrs included), the scheduler's
    state (when ``scheduler`` is given) and torch's CPU random state are put back as they
    were, so a run after ``find_lr`` is the run without it. An optimizer that a
    :class:`fastlr.torch.LRScheduler` drives needs no ``scheduler=``: its lrs come back as
    the scheduler wrote them, which it recognises; pass it to also restore any state the
    scheduler keeps (it is not stepped by the test).

    Args:
      model: a ``torch.nn.Module``.
      optimizer: a ``torch.optim.Optimizer`` over (some of) the model's parameters.
      criterion: ``criterion(outputs, targets) -> loss``, a one-element tensor.
      loader: an iterable of ``(inputs, targets)`` batches (e.g. a ``DataLoader``).
      start_lr, end_lr, num_steps, mode, smoothing, diverge_factor, progress: as in
        :func:`fastlr.find_lr`.
      accumulation_steps: batches per step, an int ``>= 1``.
      device: move every batch there first (``None``: leave it where it is).
      scheduler: optional; its ``state_dict()`` is saved and loaded back afterwards.

    Returns:
      The :class:`fastlr.LRFinderResult` of :func:`fastlr.find_lr`: ``lrs``, the raw
      ``losses``, the debiased ``smoothed`` curve, ``suggestion``/``valley``/``steepest``/
      ``minimum`` and ``plot()``.

    Raises:
      TypeError, ValueError: for a bad argument (naming it), before anything is trained.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {_describe(model)}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {_describe(optimizer)}")
    if not callable(criterion):
        raise TypeError(f"criterion must be callable, got {_describe(criterion)}")
    if not hasattr(loader, "__iter__"):
        raise TypeError(f"loader must be an iterable of (inputs, targets) batches, got "
                        f"{_describe(loader)}")
    if isinstance(accumulation_steps, bool) or not isinstance(accumulation_steps,
                                                              numbers.Integral):
        raise TypeError(f"accumulation_steps must be an int, got {_describe(accumulation_steps)}")
    if accumulation_steps < 1:
        raise ValueError(f"accumulation_steps must be >= 1, got {accumulation_steps!r}")
    if scheduler is not None and not (hasattr(scheduler, "state_dict")
                                      and hasattr(scheduler, "load_state_dict")):
        raise TypeError(f"scheduler must have state_dict() and load_state_dict(), got "
                        f"{_describe(scheduler)}")
    for i, group in enumerate(optimizer.param_groups):
        scale = group.get("lr_scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
            raise TypeError(f"param group {i}'s lr_scale must be a real number, got "
                            f"{_describe(scale)}")
    accumulation_steps = int(accumulation_steps)

    # copies, not references: the test trains the very tensors these describe
    model_state = copy.deepcopy(model.state_dict())
    modes = {m: m.training for m in model.modules()}
    opt_state = copy.deepcopy(optimizer.state_dict())
    sched_state = copy.deepcopy(scheduler.state_dict()) if scheduler is not None else None
    rng = torch.random.get_rng_state()
    batches = _Batches(loader)
    groups = optimizer.param_groups

    def step(lr):
        for group in groups:
            value = lr * group.get("lr_scale", 1.0)
            cur = group["lr"]
            if isinstance(cur, torch.Tensor):
                cur.fill_(value)
            else:
                group["lr"] = value
        model.train()
        optimizer.zero_grad()
        total = None
        for _ in range(accumulation_steps):
            inputs, targets = _split(next(batches))
            loss = criterion(model(_to(inputs, device)), _to(targets, device))
            loss = loss / accumulation_steps
            loss.backward()
            total = loss.detach() if total is None else total + loss.detach()
        optimizer.step()
        return total.item()

    try:
        return _find_lr(step, start_lr, end_lr, num_steps, mode, smoothing, diverge_factor,
                        progress=progress)
    finally:
        model.load_state_dict(model_state)
        for m, training in modes.items():
            m.training = training
        optimizer.load_state_dict(opt_state)
        optimizer.zero_grad()
        if scheduler is not None:
            scheduler.load_state_dict(sched_state)
        torch.random.set_rng_state(rng)
