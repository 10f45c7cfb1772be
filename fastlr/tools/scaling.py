"""Batch-size scaling rules for the learning rate, and the Adam warmup length rule."""
from __future__ import annotations

import math

from .. import _validate as v
from ._text import refuse_huge, refuse_non_str

__all__ = ["scale_lr", "adam_warmup_steps"]

_RULES = ("linear", "sqrt")


def scale_lr(base_lr, batch_size, base_batch_size=256, rule="linear"):
    """The learning rate for ``batch_size``, given a good ``base_lr`` at ``base_batch_size``.

    With ``k = batch_size / base_batch_size``:

    - ``rule='linear'``: ``base_lr * k``. The linear scaling rule of Goyal et al. 2017,
      "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour" (arXiv 1706.02677),
      for SGD with momentum: ``0.1 * batch/256`` for ResNet-50. They pair it with a
      gradual warmup (from ``base_lr`` up to ``k * base_lr`` over the first 5 epochs,
      e.g. :class:`fastlr.Warmup`), and found it holds up to batches of about 8k.
    - ``rule='sqrt'``: ``base_lr * sqrt(k)``, which keeps the variance of the update
      constant. Proposed for SGD by Krizhevsky 2014, "One weird trick for parallelizing
      convolutional neural networks" (arXiv 1404.5997), and Hoffer et al. 2017, "Train
      longer, generalize better" (arXiv 1705.08741); derived for Adam and RMSprop by
      Malladi et al. 2022, "On the SDEs and Scaling Rules for Adaptive Gradient
      Algorithms" (NeurIPS 2022, arXiv 2205.10287), whose square-root rule also
      rescales the betas and eps (not done here).

    Args:
      base_lr: the learning rate tuned at ``base_batch_size`` (a real ``>= 0``).
      batch_size: the new batch size (a real ``> 0``; e.g. the global batch over all
        workers).
      base_batch_size: the batch size ``base_lr`` was tuned for (default 256, Goyal's
        reference).
      rule: ``'linear'`` or ``'sqrt'``.

    Returns:
      The scaled learning rate, a Python float.

    Raises:
      TypeError, ValueError: naming the bad argument and its value.
    """
    for name, value in (("base_lr", base_lr), ("batch_size", batch_size),
                        ("base_batch_size", base_batch_size)):
        refuse_huge(name, value)
    refuse_non_str("rule", rule, _RULES)
    lr = v.real("base_lr", base_lr, low=0.0)
    batch = v.real("batch_size", batch_size, low=0.0, low_open=True)
    base = v.real("base_batch_size", base_batch_size, low=0.0, low_open=True)
    rule = v.choice("rule", rule, _RULES)
    k = batch / base
    return float(lr * k) if rule == "linear" else float(lr * math.sqrt(k))


def adam_warmup_steps(beta2=0.999):
    """Linear-warmup length for Adam/AdamW: ``2 / (1 - beta2)`` steps.

    The "rule-of-thumb" untuned warmup of Ma & Yarats 2021, "On the adequacy of untuned
    warmup for adaptive optimization" (AAAI 2021, arXiv 1910.04209): 2000 steps for
    ``beta2 = 0.999``, 200 for ``0.99``. It performs about as well as RAdam. Use it as
    ``warmup_steps`` of :func:`fastlr.warmup_cosine` or :class:`fastlr.Warmup`.

    Args:
      beta2: Adam's second-moment decay, a real in ``[0, 1)``.

    Returns:
      ``2 / (1 - beta2)`` rounded to the nearest int (the raw value is not an integer
      for most ``beta2`` because of binary floating point, e.g. 1999.99999999998).

    Raises:
      TypeError, ValueError: naming ``beta2`` and its value.
    """
    refuse_huge("beta2", beta2)
    b2 = v.real("beta2", beta2, low=0.0, high=1.0, high_open=True)
    return int(round(2.0 / (1.0 - b2)))
