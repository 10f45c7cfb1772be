"""fastlr schedules driving a ``torch.optim`` optimizer.

:class:`LRScheduler` is a ``torch.optim.lr_scheduler.LRScheduler``, so anything that takes
a torch scheduler (a hand-written loop, DDP/FSDP, Lightning, the transformers Trainer)
takes it. It is closed form: after ``t`` calls of ``step()`` every param group holds
``schedule(t) * group.get("lr_scale", 1.0)``, computed from ``t`` alone. So resuming from
``state_dict()`` gives exactly the lr of an uninterrupted run, and ``step()`` is a
compiled scalar call plus a dict write per group.

``import fastlr`` never imports torch; importing this module without torch raises an
``ImportError`` that says how to install it.
"""
from __future__ import annotations

import numbers
import warnings

try:
    import torch
    from torch.optim.lr_scheduler import LRScheduler as _TorchLRScheduler
except ImportError as exc:
    raise ImportError(
        "fastlr.torch needs PyTorch, which is not installed (or failed to import: "
        f"{exc}). Install it with `pip install torch` (or `pip install 'fastlr[torch]'`; "
        "PyTorch's install guide lists the CPU-only builds), then import fastlr.torch again."
    ) from exc

from .. import _validate as _v
from ..reference import Schedule as _Schedule

__all__ = ["LRScheduler"]

_Tensor = torch.Tensor

#: version of the layout of :meth:`LRScheduler.state_dict`
_STATE_FORMAT = 1


def _describe(value):
    return f"{value!r} ({type(value).__name__})"


def _check_schedules(name, value, n_groups, *, optional=False):
    """``(single, per_group)``: one schedule for all groups, or a tuple with one per group."""
    if value is None and optional:
        return None, None
    if isinstance(value, _Schedule):
        return value, None
    if isinstance(value, (list, tuple)):
        items = tuple(value)
        for i, s in enumerate(items):
            if not isinstance(s, _Schedule):
                raise TypeError(f"{name}[{i}] must be a fastlr schedule, got {_describe(s)}")
        if len(items) != n_groups:
            raise ValueError(f"{name} must be one schedule or a list with one per param group "
                             f"({n_groups}), got a list of {len(items)}")
        return None, items
    raise TypeError(f"{name} must be a fastlr schedule or a list of schedules (one per param "
                    f"group), got {_describe(value)}")


def _config(schedule):
    """The schedule's config, or None when it has none (a ``Lambda`` inside)."""
    try:
        return schedule.to_config()
    except TypeError:
        return None


def _configs(single, per_group):
    if single is not None:
        return _config(single)
    if per_group is not None:
        return [_config(s) for s in per_group]
    return None


def _same(saved, current):
    """False only when two configs are both known and differ (``None`` matches anything)."""
    if saved is None or current is None:
        return True
    if isinstance(saved, list) and isinstance(current, list):
        return len(saved) == len(current) and all(map(_same, saved, current))
    return saved == current


def _plain_step(name, t):
    """``t`` as a Python int (or float, for fractional steps) >= 0, so that state dicts
    stay plain data (``torch.load(weights_only=True)`` rejects numpy scalars)."""
    if _v.scalar_step(t) is None:
        raise TypeError(f"{name} must be an int or float, got {_describe(t)}")
    return int(t) if isinstance(t, numbers.Integral) else float(t)


def _write_momentum(group, m):
    betas = group.get("betas")
    if betas is not None:
        b1 = betas[0]
        if type(b1) is float or not isinstance(b1, _Tensor):
            group["betas"] = (m, *betas[1:])
        else:
            b1.fill_(m)
    else:
        cur = group["momentum"]
        if type(cur) is float or not isinstance(cur, _Tensor):
            group["momentum"] = m
        else:
            cur.fill_(m)


class LRScheduler(_TorchLRScheduler):
    """Drive a torch optimizer's learning rate (and momentum) with fastlr schedules.

    ``schedule`` is one fastlr schedule for every param group, or a list with one per
    group. After ``t`` calls of :meth:`step` (``t = last_epoch``; the constructor sets
    ``t = 0``), each group holds ``lr = schedule(t) * group.get("lr_scale", 1.0)``:
    the per-group scale is read from the group at every step, as timm does.

    ``momentum`` (optional; one schedule or one per group) is written to
    ``group["betas"][0]`` for Adam-style optimizers and to ``group["momentum"]``
    otherwise, as torch's ``OneCycleLR(cycle_momentum=True)`` does; e.g.
    ``OneCycle(...).momentum(0.85, 0.95)``.

    The lr is a pure function of ``t``: the scheduler never reads the group's lr, so
    outside edits to ``group["lr"]`` last until the next ``step()``. Tensor lrs (and
    tensor momenta/betas) are updated in place with ``fill_``.

    Call :meth:`step` once after each ``optimizer.step()``. ``step(t)`` seeks to step ``t``
    (idempotent, no warning). No step-order warnings are emitted, and the optimizer's
    ``step`` is not wrapped.

    :meth:`state_dict` holds ``t`` (plus the schedules' configs, as a check), is plain
    data that ``torch.save``/``torch.load(weights_only=True)`` accept, and
    :meth:`load_state_dict` restores the exact lr (bit for bit) whether the optimizer's
    state is loaded before or after it. Loading the state of a different schedule warns
    and keeps the current schedule, resuming at the saved ``t``.
    """

    def __init__(self, optimizer, schedule, momentum=None):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                            f"{_describe(optimizer)}")
        groups = optimizer.param_groups
        n = len(groups)
        self._single, self._per_group = _check_schedules("schedule", schedule, n)
        self._m_single, self._m_per_group = _check_schedules("momentum", momentum, n,
                                                             optional=True)
        self._has_momentum = momentum is not None
        if self._has_momentum:
            for i, group in enumerate(groups):
                if "betas" not in group and "momentum" not in group:
                    raise ValueError(
                        f"momentum was given but param group {i} of {type(optimizer).__name__} "
                        "has neither 'momentum' nor 'betas'")
        self.optimizer = optimizer
        for group in groups:
            initial = group["lr"]
            group.setdefault("initial_lr",
                             initial.clone() if isinstance(initial, _Tensor) else initial)
        self.base_lrs = [g["initial_lr"] for g in groups]
        self.last_epoch = -1
        self._step_count = 0
        self.step()  # t = 0: the lr of the first update

    # -- the schedules --------------------------------------------------------------------
    @property
    def schedules(self):
        """The lr schedule of each param group (a list)."""
        return self._schedule_list(self._single, self._per_group)

    @property
    def momentum_schedules(self):
        """The momentum schedule of each param group (a list), or None."""
        if not self._has_momentum:
            return None
        return self._schedule_list(self._m_single, self._m_per_group)

    def _schedule_list(self, single, per_group):
        if per_group is not None:
            return list(per_group)
        return [single] * len(self.optimizer.param_groups)

    # -- stepping --------------------------------------------------------------------------
    def step(self, epoch=None):
        """Advance to the next step (``t += 1``) and write its lrs; ``step(t)`` seeks to ``t``."""
        t = self.last_epoch + 1 if epoch is None else _plain_step("step", epoch)
        self._apply(t)
        self.last_epoch = t
        self._step_count += 1

    def _update_lr(self, epoch=None):
        # torch's composites (SequentialLR, ChainedScheduler) drive children through this
        t = self.last_epoch + 1 if epoch is None else _plain_step("epoch", epoch)
        self._apply(t)
        self.last_epoch = t

    def _apply(self, t):
        groups = self.optimizer.param_groups
        last = []
        # two specialised loops on purpose: this is the hot path of step(), and a shared
        # loop with a branch per group measured 25-35% slower (timeit, one process)
        single = self._single
        if single is not None:
            base = single(t)
            for group in groups:
                lr = base * group.get("lr_scale", 1.0)
                cur = group["lr"]
                # type() first: isinstance(x, torch.Tensor) costs ~0.2 us (a metaclass check)
                if type(cur) is float or not isinstance(cur, _Tensor):
                    group["lr"] = lr
                    last.append(lr)
                else:
                    cur.fill_(lr)
                    last.append(cur.clone())
        else:
            per = self._per_group
            if len(per) != len(groups):
                raise ValueError(f"the scheduler has {len(per)} schedules but the optimizer "
                                 f"now has {len(groups)} param groups")
            for group, s in zip(groups, per):
                lr = s(t) * group.get("lr_scale", 1.0)
                cur = group["lr"]
                # type() first: isinstance(x, torch.Tensor) costs ~0.2 us (a metaclass check)
                if type(cur) is float or not isinstance(cur, _Tensor):
                    group["lr"] = lr
                    last.append(lr)
                else:
                    cur.fill_(lr)
                    last.append(cur.clone())
        self._last_lr = last
        if self._has_momentum:
            self._apply_momentum(t, groups)

    def _apply_momentum(self, t, groups):
        single = self._m_single
        if single is not None:
            m = single(t)
            for group in groups:
                _write_momentum(group, m)
        else:
            per = self._m_per_group
            if len(per) != len(groups):
                raise ValueError(f"the scheduler has {len(per)} momentum schedules but the "
                                 f"optimizer now has {len(groups)} param groups")
            for group, s in zip(groups, per):
                _write_momentum(group, s(t))

    # -- torch's query API ---------------------------------------------------------------------
    def get_lr(self):
        """The lrs of step ``last_epoch`` (closed form; never warns, writes nothing)."""
        t = self.last_epoch
        groups = self.optimizer.param_groups
        scheds = self._schedule_list(self._single, self._per_group)
        return [s(t) * g.get("lr_scale", 1.0) for g, s in zip(groups, scheds, strict=True)]

    _get_closed_form_lr = get_lr

    def get_last_lr(self):
        """The lrs the last ``step()`` wrote, one per param group (as in torch)."""
        return self._last_lr

    # -- checkpointing ---------------------------------------------------------------------------
    def state_dict(self):
        """Plain data: the step ``t`` (``last_epoch``), the step count, the last lrs and the
        schedules' configs (``None`` for a schedule without one, e.g. a ``Lambda``)."""
        return {
            "fastlr_state": _STATE_FORMAT,
            "last_epoch": self.last_epoch,
            "_step_count": self._step_count,
            "_last_lr": list(self._last_lr),
            "base_lrs": list(self.base_lrs),
            "schedule": _configs(self._single, self._per_group),
            "momentum": _configs(self._m_single, self._m_per_group),
        }

    def load_state_dict(self, state_dict):
        """Resume at the saved step: the lrs (and momenta) of step ``t`` are written now,
        from the closed form, so they equal an uninterrupted run's exactly."""
        if not isinstance(state_dict, dict) or "last_epoch" not in state_dict:
            raise TypeError(f"state_dict must be a dict from LRScheduler.state_dict(), got "
                            f"{_describe(state_dict)}")
        t = _plain_step("state_dict['last_epoch']", state_dict["last_epoch"])
        for key, current in (("schedule", _configs(self._single, self._per_group)),
                             ("momentum", _configs(self._m_single, self._m_per_group))):
            saved = state_dict.get(key)
            if not _same(saved, current):
                warnings.warn(
                    f"the saved {key} schedule differs from this scheduler's; keeping this "
                    f"scheduler's and resuming at step {t} (saved: {saved!r}, current: "
                    f"{current!r})", UserWarning, stacklevel=2)
        self._apply(t)
        self.last_epoch = t
        self._step_count = state_dict.get("_step_count", self._step_count)
        if "base_lrs" in state_dict:
            self.base_lrs = list(state_dict["base_lrs"])

    def __repr__(self):
        sched = self._single if self._single is not None else list(self._per_group)
        extra = f", momentum={self.momentum_schedules!r}" if self._has_momentum else ""
        return f"fastlr.torch.LRScheduler(t={self.last_epoch}, schedule={sched!r}{extra})"
