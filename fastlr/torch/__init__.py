"""fastlr for PyTorch users.

- :class:`LRScheduler` (:mod:`fastlr.torch.scheduler`): a fastlr schedule driving any
  ``torch.optim`` optimizer, as a ``torch.optim.lr_scheduler.LRScheduler``.
- :func:`find_lr` (:mod:`fastlr.torch.lr_finder`): the LR range test of
  :func:`fastlr.find_lr` on a torch model, optimizer and data loader, which puts them back
  as they were afterwards.
- :mod:`fastlr.torch.optim`: fastlr's optimizers as ``torch.optim.Optimizer`` subclasses
  (CPU float32/float64 tensors, updated in place without copies).

``import fastlr`` never imports torch; importing this package without torch raises an
``ImportError`` that says how to install it.
"""
from __future__ import annotations

from .scheduler import LRScheduler  # first: it raises the ImportError without torch
from .lr_finder import find_lr  # noqa: E402
from . import optim  # noqa: E402

__all__ = ["LRScheduler", "find_lr", "optim"]
