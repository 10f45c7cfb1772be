"""fastlr for PyTorch users.

- :class:`LRScheduler` (:mod:`fastlr.torch.scheduler`): a fastlr schedule driving any
  ``torch.optim`` optimizer, as a ``torch.optim.lr_scheduler.LRScheduler``.

``import fastlr`` never imports torch; importing this package without torch raises an
``ImportError`` that says how to install it.
"""
from __future__ import annotations

from .scheduler import LRScheduler

__all__ = ["LRScheduler"]
