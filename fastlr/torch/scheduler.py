"""fastlr schedules driving a ``torch.optim`` optimizer.

:class:`LRScheduler` is a ``torch.optim.lr_scheduler.LRScheduler``, so anything that takes
a torch scheduler (a hand-written loop, DDP/FSDP, Lightning, the transformers Trainer)
takes it. It is closed form: after ``t`` calls of ``step()`` every param group holds
``schedule(t) * group.get("lr_scale", 1.0)``, computed from ``t`` alone (plus, for a
``ReduceOnPlateau`` schedule, the plateau's state). So resuming from ``state_dict()`` gives
exactly the lr of an uninterrupted run, and ``step()`` is a compiled scalar call plus a
dict write per group.

``import fastlr`` never imports torch; importing this module without torch raises an
``ImportError`` that says how to install it.
"""
from __future__ import annotations

import math
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

import numpy as np

from .. import _validate as _v
from ..reference import ReduceOnPlateau as _Plateau
from ..reference import Schedule as _Schedule

__all__ = ["LRScheduler"]

_Tensor = torch.Tensor

#: torch's text for ``step(epoch)``, so that filters written for torch's schedulers match
_EPOCH_WARNING = getattr(torch.optim.lr_scheduler, "EPOCH_DEPRECATION_WARNING",
                         "The epoch parameter in `scheduler.step()` was not necessary and is "
                         "being deprecated where possible.")

#: version of the layout of :meth:`LRScheduler.state_dict` (1: no plateau, no rescales)
_STATE_FORMAT = 2


def _describe(value):
    return f"{value!r} ({type(value).__name__})"


def _check_schedules(name, value, n_groups, *, optional=False, plateau=False):
    """``(single, per_group)``: one schedule for all groups, or a tuple with one per group."""
    if value is None and optional:
        return None, None
    kinds = (_Schedule, _Plateau) if plateau else (_Schedule,)
    what = "a fastlr schedule or ReduceOnPlateau" if plateau else "a fastlr schedule"
    if isinstance(value, kinds):
        return value, None
    if isinstance(value, (list, tuple)):
        items = tuple(value)
        for i, s in enumerate(items):
            if not isinstance(s, kinds):
                raise TypeError(f"{name}[{i}] must be {what}, got {_describe(s)}")
        if len(items) != n_groups:
            raise ValueError(f"{name} must be one schedule or a list with one per param group "
                             f"({n_groups}), got a list of {len(items)}")
        return None, items
    raise TypeError(f"{name} must be {what} or a list of them (one per param group), got "
                    f"{_describe(value)}")


def _config(schedule):
    """The schedule's config, or None when it has none (a ``Lambda`` inside)."""
    if isinstance(schedule, _Plateau):
        base = _config(schedule.base)
        if base is None:
            return None
        return {"class": "ReduceOnPlateau", "lr": base, "mode": schedule.mode,
                "factor": schedule.factor, "patience": schedule.patience,
                "threshold": schedule.threshold, "threshold_mode": schedule.threshold_mode,
                "cooldown": schedule.cooldown, "min_lr": schedule.min_lr, "eps": schedule.eps}
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


def _metric(value):
    """A plateau metric as a float: a real number, a one-element tensor or numpy array."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"metrics must be a real number, got {_describe(value)}")
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, _Tensor):
        if value.numel() == 1 and not value.dtype.is_complex and value.dtype != torch.bool:
            return float(value.detach())
    elif isinstance(value, np.ndarray):
        if value.size == 1 and value.dtype.kind in "fiu":
            return float(value.reshape(()))
    raise TypeError(f"metrics must be a real number, a one-element tensor or a numpy scalar, "
                    f"got {_describe(value)}")


def _value(schedule, t, what, i):
    """``schedule(t)`` checked to be a finite float (a ``Lambda`` may return anything)."""
    try:
        x = schedule(t)
    except OverflowError as exc:  # float(10**400) inside a Lambda
        raise ValueError(f"the {what} schedule of param group {i} returned a number too "
                         f"large for a float at step {t}; nothing was written") from exc
    except (TypeError, ValueError) as exc:  # a Lambda's own check of what it returned
        raise type(exc)(f"the {what} schedule of param group {i} failed at step {t}: {exc}; "
                        "nothing was written") from exc
    if type(x) is not float or x - x != 0.0:  # x - x is NaN exactly for inf and NaN
        x = float(x)
        if not math.isfinite(x):
            raise ValueError(f"the {what} schedule of param group {i} returned {x!r} at step "
                             f"{t}: it must be finite; nothing was written")
    return x


def _lr_value(i, lr):
    """A group's current lr as a float (for rescaling after an outside write)."""
    if isinstance(lr, _Tensor):
        if lr.numel() == 1:
            return float(lr.detach())
    elif isinstance(lr, numbers.Real) and not isinstance(lr, (bool, np.bool_)):
        return float(lr)
    raise TypeError(f"param group {i}'s lr must be a real number or a one-element tensor, "
                    f"got {_describe(lr)}")


def _rounded(value, like):
    """``value`` as a tensor like ``like`` stores it (float32 lrs round)."""
    if like.dtype == torch.float64:
        return value
    return torch.tensor(value, dtype=like.dtype).item()


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

    ``schedule`` is one fastlr schedule (or ``ReduceOnPlateau``) for every param group, or
    a list with one per group. After ``t`` calls of ``step()`` (``t = last_epoch``; the
    constructor sets ``t = 0``), each group holds ``lr = schedule(t) * group.get("lr_scale",
    1.0)``: the per-group scale is read from the group at every step, as timm does.

    ``momentum`` (optional; one schedule or one per group) is written to
    ``group["betas"][0]`` for Adam-style optimizers and to ``group["momentum"]``
    otherwise, as torch's ``OneCycleLR(cycle_momentum=True)`` does; e.g.
    ``OneCycle(...).momentum(0.85, 0.95)``.

    **Stepping.** Call ``step()`` once after each ``optimizer.step()``. ``step(epoch=t)``
    seeks to step ``t`` (idempotent, no warning). ``step(x)`` with a positional argument on
    a scheduler without a ``ReduceOnPlateau`` keeps torch's deprecated meaning: it warns
    with torch's ``EPOCH_DEPRECATION_WARNING`` and seeks to ``x``. No step-order warnings are
    emitted, and the optimizer's ``step`` is not wrapped.

    **Plateau.** When a group's schedule is a ``ReduceOnPlateau``, the positional argument
    of ``step`` is the metric, as in ``torch.optim.lr_scheduler.ReduceLROnPlateau.step``: a
    real number, a one-element tensor or a numpy scalar. ``step(metric)`` records the
    metric in every plateau (NaN counts as no improvement) and rewrites the lrs at the
    same ``t``; it does not advance ``t``. ``step()`` advances ``t``, the clock of the
    plateau's base schedule (e.g. the warmup of ``ReduceOnPlateau(Warmup(...))``). Give one
    scheduler both calls (a Lightning config with ``interval='step'`` and one with
    ``'reduce_on_plateau': True`` may hold the same scheduler); metric calls alone keep
    the base schedule at ``t = 0``. Other groups' schedules may be plain ones: a metric
    leaves them unchanged.

    **Outside writes.** A group this scheduler has not seen (``optimizer.add_param_group``)
    or whose ``lr`` was written by someone else since the last step is *rescaled*, not
    overwritten: at the next step its ``lr_scale`` becomes ``lr / schedule(t_last)``
    (``t_last`` the step of the scheduler's last write; a new group follows the schedule
    of group 0), so the lr continues from the written value along the schedule's shape.
    With a multiplicative schedule that is what torch's chainable schedulers (``StepLR``,
    ``ExponentialLR``, ``LinearLR``, ...) do. A new group that carries an ``lr_scale`` key
    keeps it instead, and its lr is set to ``schedule(t) * lr_scale``. The construction
    (and torch's ``_initial_step``, which ``SequentialLR`` calls) overwrites every group.
    Tensor lrs (and tensor momenta/betas) are updated in place with ``fill_``.

    **Checks.** Every value a step writes is computed and checked first (each schedule's
    value is a finite float, each ``lr_scale`` a real number, each product finite, each
    rescale defined); if anything fails, the step raises ``ValueError``/``TypeError`` and
    nothing was written: no lr, no momentum, no ``lr_scale``, no plateau state, no ``t``.

    :meth:`state_dict` holds ``t``, the plateaus' states, each group's ``lr_scale`` and
    current lr (plus the schedules' configs, as a check); it is plain data that
    ``torch.save``/``torch.load(weights_only=True)`` accept, and :meth:`load_state_dict`
    restores the exact lrs (bit for bit) whether the optimizer's state is loaded before or
    after it. Loading the state of a different schedule warns and keeps the current
    schedule, resuming at the saved ``t``.
    """

    def __init__(self, optimizer, schedule, momentum=None):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                            f"{_describe(optimizer)}")
        groups = optimizer.param_groups
        n = len(groups)
        self._single, self._per_group = _check_schedules("schedule", schedule, n, plateau=True)
        self._m_single, self._m_per_group = _check_schedules("momentum", momentum, n,
                                                             optional=True)
        self._has_momentum = momentum is not None
        if self._has_momentum:
            for i, group in enumerate(groups):
                if "betas" not in group and "momentum" not in group:
                    raise ValueError(
                        f"momentum was given but param group {i} of {type(optimizer).__name__} "
                        "has neither 'momentum' nor 'betas'")
        scheds = [self._single] if self._single is not None else self._per_group
        self._plateaus = list({id(s): s for s in scheds if isinstance(s, _Plateau)}.values())
        self.optimizer = optimizer
        for group in groups:
            initial = group["lr"]
            group.setdefault("initial_lr",
                             initial.clone() if isinstance(initial, _Tensor) else initial)
        # as torch's _param_groups_val_list: base_lrs never alias a group's tensor
        self.base_lrs = [g["initial_lr"].clone() if isinstance(g["initial_lr"], _Tensor)
                         else g["initial_lr"] for g in groups]
        self._forget_writes()
        self._metric_t = None  # the t of the last metric (see _check_clock)
        self._clock_warned = False
        self.last_epoch = -1
        self._step_count = 0
        self.step()  # t = 0: the lr of the first update

    def _forget_writes(self):
        """Drop the record of what this scheduler wrote: the next write overwrites all."""
        self._w_obj = []   # the object written into group["lr"] (None: compare values)
        self._w_ver = []   # a tensor lr's _version after the write (None for floats)
        self._w_val = []   # the lr written, as a float
        self._w_base = []  # the schedule's value it was the product of

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

    def _schedule_list(self, single, per_group, n=None, what="schedules"):
        """One schedule per current group; groups added later follow group 0's."""
        if n is None:
            n = len(self.optimizer.param_groups)
        if single is not None:
            return [single] * n
        if n < len(per_group):
            raise ValueError(f"the scheduler has {len(per_group)} {what} but the optimizer "
                             f"now has {n} param groups")
        return list(per_group) + [per_group[0]] * (n - len(per_group))

    # -- stepping --------------------------------------------------------------------------
    def step(self, metrics=None, epoch=None):
        """``step()``: advance to ``t + 1`` and write its lrs. ``step(metric)`` (plateau):
        record the metric and rewrite the lrs at ``t``. ``step(epoch=t)``: seek to ``t``.

        On a scheduler without a ``ReduceOnPlateau``, ``step(t)`` warns as torch does
        (``EPOCH_DEPRECATION_WARNING``) and seeks to ``t``.
        """
        if metrics is None and epoch is None:  # the per-update call: keep it short
            t = self.last_epoch + 1
            if not self._fast_apply(t):
                self._write(*self._plan(t))
            self.last_epoch = t
            self._step_count += 1
            return
        if metrics is not None and not self._plateaus:
            if epoch is not None:
                raise TypeError(f"step got a positional argument {_describe(metrics)} and "
                                f"epoch={epoch!r}, but no schedule is a ReduceOnPlateau, so "
                                "there is no metric to give")
            t = _plain_step("step", metrics)  # check first: a metric here would fail
            warnings.warn(_EPOCH_WARNING, UserWarning, stacklevel=2)
            metrics = None
            mode = "seek"
        elif epoch is not None:
            t = _plain_step("epoch", epoch)
            mode = "seek"
        else:
            t = self.last_epoch + 1 if metrics is None else self.last_epoch
            mode = "step"
        if metrics is not None:
            metrics = _metric(metrics)
        self._apply(t, metrics, mode)
        if metrics is not None:
            self._check_clock(t)
        self.last_epoch = t
        self._step_count += 1

    def _check_clock(self, t):
        """Warn once when two metrics arrive at the same ``t`` and a plateau's base schedule
        is not constant: its clock (``step()`` calls) is not running, which with metric
        calls alone (one Lightning config with ``reduce_on_plateau``) holds e.g. a warmup
        at its first value for ever."""
        if self._metric_t == t and not self._clock_warned:
            moving = [p for p in self._plateaus if not _constant(p.base)]
            if moving:
                self._clock_warned = True
                warnings.warn(
                    f"two metrics at step {t} and no step() between them: the base schedule "
                    f"of {moving[0]!r} is read at step {t} until step() advances it. Call "
                    "step() once per update as well (in Lightning, list the scheduler in a "
                    "second config with interval 'step')", UserWarning, stacklevel=3)
        self._metric_t = t

    def _update_lr(self, epoch=None):
        # torch's composites (SequentialLR, ChainedScheduler) drive children through this
        if epoch is None:
            t, mode = self.last_epoch + 1, "step"
        else:
            t, mode = _plain_step("epoch", epoch), "seek"
        self._apply(t, None, mode)
        self.last_epoch = t

    def _initial_step(self):
        # torch's (re)start hook: SequentialLR resets every lr to initial_lr, then calls it
        self._step_count = 0
        self._forget_writes()
        self.step()

    def _rescales(self, groups, seek):
        """``{group index: new lr_scale}`` for new groups and (unless ``seek``: a seek is
        closed form, as torch's) for lrs written from outside since the last write."""
        w_obj, w_ver, w_val, w_base = self._w_obj, self._w_ver, self._w_val, self._w_base
        known = len(w_obj)
        out = {}
        for i in range(known if seek else 0, len(groups)):
            group = groups[i]
            cur = group["lr"]
            if i < known:
                obj = w_obj[i]
                if cur is obj and (w_ver[i] is None or cur._version == w_ver[i]):
                    continue  # the object we wrote, untouched: the common case
                value = _lr_value(i, cur)
                written = w_val[i]
                if isinstance(cur, _Tensor):
                    written = _rounded(written, cur)
                if value == written:
                    continue  # the same value (e.g. optimizer.load_state_dict put it back)
                ref = w_base[i]
                how = "was written from outside the scheduler"
            else:
                if "lr_scale" in group:
                    continue  # the group says how it relates to the schedule
                value = _lr_value(i, cur)
                ref = w_base[0]  # a new group follows group 0's schedule
                how = "was added to the optimizer"
            if not ref > 0.0:
                raise ValueError(
                    f"param group {i} {how} with lr {value!r} at step {self.last_epoch}, "
                    f"where its schedule's value is {ref!r}: its lr cannot be rescaled; "
                    "set the group's 'lr_scale' instead (a multiple of the schedule); "
                    "nothing was written")
            scale = value / ref
            if not math.isfinite(scale):
                raise ValueError(
                    f"param group {i} {how} with lr {value!r}: rescaled by the schedule's "
                    f"value {ref!r} it gives lr_scale {scale!r}; nothing was written")
            out[i] = scale
        return out

    def _plan(self, t, metric=None, mode="step", scales=None):
        """Compute and check everything a write at step ``t`` needs; write nothing (the
        plateaus are updated, and restored if a later check fails). ``mode``: ``'step'``
        rescales new groups and outside writes, ``'seek'`` new groups only,
        ``'overwrite'`` none (construction, torch's ``_initial_step``, loading)."""
        groups = self.optimizer.param_groups
        n = len(groups)
        scheds = self._schedule_list(self._single, self._per_group, n)
        if mode == "overwrite" or not self._w_obj:  # no record: a fresh start
            rescale = {}
        else:
            rescale = self._rescales(groups, seek=mode == "seek")
        saved = None
        if metric is not None and self._plateaus:
            saved = [p.state_dict() for p in self._plateaus]
            for p in self._plateaus:
                p.update(metric, step=t)
        try:
            single = self._single
            if single is not None:
                b = _value(single, t, "lr", 0)
                bases = [b] * n
            else:
                cache = {}
                bases = []
                for i, s in enumerate(scheds):
                    key = id(s)
                    if key not in cache:
                        cache[key] = _value(s, t, "lr", i)
                    bases.append(cache[key])
            lrs = []
            for i, group in enumerate(groups):
                if i in rescale:
                    scale = rescale[i]
                elif scales is not None and i < len(scales):  # a saved state's scales
                    scale = 1.0 if scales[i] is None else scales[i]
                else:
                    scale = group.get("lr_scale", 1.0)
                if type(scale) is not float and not isinstance(scale, numbers.Real):
                    raise TypeError(f"param group {i}'s lr_scale must be a real number, "
                                    f"got {_describe(scale)}; nothing was written")
                lr = bases[i] * scale
                if type(lr) is not float or lr - lr != 0.0:
                    lr = float(lr)
                    if not math.isfinite(lr):
                        raise ValueError(
                            f"param group {i}: its schedule's value {bases[i]!r} times its "
                            f"lr_scale {scale!r} at step {t} is {lr!r}, not a finite lr; "
                            "nothing was written")
                lrs.append(lr)
            moms = self._plan_momentum(t, n) if self._has_momentum else None
        except BaseException:
            if saved is not None:
                for p, state in zip(self._plateaus, saved):
                    p.load_state_dict(state)
            raise
        return groups, rescale, bases, lrs, moms

    def _plan_momentum(self, t, n):
        scheds = self._schedule_list(self._m_single, self._m_per_group, n,
                                     "momentum schedules")
        if self._m_single is not None:
            return [_value(self._m_single, t, "momentum", 0)] * n
        cache = {}
        out = []
        for i, s in enumerate(scheds):
            if id(s) not in cache:
                cache[id(s)] = _value(s, t, "momentum", i)
            out.append(cache[id(s)])
        return out

    def _apply(self, t, metric=None, mode="step"):
        if metric is None and mode == "step" and self._fast_apply(t):
            return
        self._write(*self._plan(t, metric, mode))

    def _fast_apply(self, t):
        """The hot path of ``step()``: float lrs that nobody else wrote, as many groups as
        at the last write. Returns False (having written nothing) for anything else:
        ``_plan`` handles it (and raises the errors)."""
        groups = self.optimizer.param_groups
        w_obj = self._w_obj
        n = len(groups)
        if n != len(w_obj):
            return False
        single = self._single
        try:
            if single is not None:
                base = single(t)
                if type(base) is not float or base - base != 0.0:  # NaN for inf and NaN
                    return False
                bases = [base] * n
            else:
                per = self._per_group
                if len(per) != n:
                    return False
                bases = [s(t) for s in per]
                for b in bases:
                    if type(b) is not float or b - b != 0.0:
                        return False
        except (OverflowError, TypeError, ValueError):
            return False                # the checked path says what is wrong
        lrs = []
        # one loop that writes as it checks (this is the hot path); a failed check puts
        # back the objects already replaced, which were the ones in w_obj
        for i, group in enumerate(groups):
            cur = group["lr"]
            scale = group.get("lr_scale", 1.0)
            if cur is not w_obj[i] or type(cur) is not float or type(scale) is not float \
                    and not isinstance(scale, int):
                for j in range(i):
                    groups[j]["lr"] = w_obj[j]
                return False
            lr = bases[i] * scale
            if lr - lr != 0.0:
                for j in range(i):
                    groups[j]["lr"] = w_obj[j]
                return False
            group["lr"] = lr
            lrs.append(lr)
        if self._has_momentum:
            try:
                moms = self._plan_momentum(t, n)
            except BaseException:
                for j in range(n):
                    groups[j]["lr"] = w_obj[j]
                raise
            for group, m in zip(groups, moms):
                _write_momentum(group, m)
        self._w_obj = self._w_val = lrs
        if len(self._w_ver) != n:
            self._w_ver = [None] * n
        self._w_base = bases
        self._last_lr = lrs.copy()
        return True

    def _write(self, groups, rescale, bases, lrs, moms):
        w_obj, w_ver = [], []
        last = []
        for i, scale in rescale.items():
            groups[i]["lr_scale"] = scale
        for group, lr in zip(groups, lrs):
            cur = group["lr"]
            # type() first: isinstance(x, torch.Tensor) costs ~0.2 us (a metaclass check)
            if type(cur) is float or not isinstance(cur, _Tensor):
                group["lr"] = lr
                w_obj.append(lr)
                w_ver.append(None)
                last.append(lr)
            else:
                cur.fill_(lr)
                w_obj.append(cur)
                w_ver.append(cur._version)
                last.append(cur.clone())
        self._w_obj, self._w_ver, self._w_val, self._w_base = w_obj, w_ver, lrs, bases
        self._last_lr = last
        if moms is not None:
            for group, m in zip(groups, moms):
                _write_momentum(group, m)

    # -- torch's query API ---------------------------------------------------------------------
    def get_lr(self):
        """The lrs of step ``last_epoch`` (closed form; never warns, writes nothing)."""
        t = self.last_epoch
        groups = self.optimizer.param_groups
        scheds = self._schedule_list(self._single, self._per_group, len(groups))
        return [s(t) * g.get("lr_scale", 1.0) for g, s in zip(groups, scheds, strict=True)]

    _get_closed_form_lr = get_lr

    def get_last_lr(self):
        """The lrs the last ``step()`` wrote, one per param group (as in torch)."""
        return self._last_lr

    # -- checkpointing ---------------------------------------------------------------------------
    def _plateau_states(self):
        if self._single is not None:
            return self._single.state_dict() if isinstance(self._single, _Plateau) else None
        return [s.state_dict() if isinstance(s, _Plateau) else None for s in self._per_group]

    def state_dict(self):
        """Plain data: the step ``t`` (``last_epoch``), the step count, the last lrs, the
        plateaus' states, each group's ``lr_scale`` and current lr, the lrs this scheduler
        last wrote, and the schedules' configs (``None`` for a schedule without one, e.g. a
        ``Lambda``)."""
        groups = self.optimizer.param_groups
        return {
            "fastlr_state": _STATE_FORMAT,
            "last_epoch": self.last_epoch,
            "_step_count": self._step_count,
            "_last_lr": list(self._last_lr),
            "base_lrs": list(self.base_lrs),
            "schedule": _configs(self._single, self._per_group),
            "momentum": _configs(self._m_single, self._m_per_group),
            "plateau": self._plateau_states(),
            "lr_scales": [_plain_scale(g.get("lr_scale")) for g in groups],
            # a write from outside that no step has seen yet is resumed as it stands
            "group_lrs": [_lr_value(i, g["lr"]) for i, g in enumerate(groups)],
            "written_lrs": list(self._w_val),
        }

    def load_state_dict(self, state_dict):
        """Resume at the saved step: the plateaus' states and the groups' ``lr_scale`` are
        restored and the lrs (and momenta) of step ``t`` are written now, from the closed
        form, so they equal an uninterrupted run's exactly. A state that fails a check
        raises and changes nothing."""
        if not isinstance(state_dict, dict) or "last_epoch" not in state_dict:
            raise TypeError(f"state_dict must be a dict from LRScheduler.state_dict(), got "
                            f"{_describe(state_dict)}")
        t = _plain_step("state_dict['last_epoch']", state_dict["last_epoch"])
        scales = state_dict.get("lr_scales")
        if scales is not None:
            if not isinstance(scales, (list, tuple)):
                raise TypeError(f"state_dict['lr_scales'] must be a list, got "
                                f"{_describe(scales)}")
            scales = [None if s is None else _v.real(f"state_dict['lr_scales'][{i}]", s)
                      for i, s in enumerate(scales)]
        pending = self._pending(state_dict)
        plateaus = self._saved_plateaus(state_dict.get("plateau"))
        before = [p.state_dict() for p, _ in plateaus]
        try:
            for i, (p, state) in enumerate(plateaus):
                try:
                    p.load_state_dict(state)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"state_dict['plateau'] does not fit {p!r}: {exc}") from exc
            groups, _, bases, lrs, moms = self._plan(t, mode="overwrite", scales=scales)
        except BaseException:
            for (p, _), state in zip(plateaus, before):
                p.load_state_dict(state)
            raise
        for key, current in (("schedule", _configs(self._single, self._per_group)),
                             ("momentum", _configs(self._m_single, self._m_per_group))):
            saved = state_dict.get(key)
            if not _same(saved, current):
                warnings.warn(
                    f"the saved {key} schedule differs from this scheduler's; keeping this "
                    f"scheduler's and resuming at step {t} (saved: {saved!r}, current: "
                    f"{current!r})", UserWarning, stacklevel=2)
        if scales is not None:
            for group, s in zip(groups, scales):
                if s is None:
                    group.pop("lr_scale", None)
                else:
                    group["lr_scale"] = s
        self._write(groups, {}, bases, lrs, moms)
        for i, (lr, written) in pending.items():
            if i < len(groups):  # resume a write from outside as it stood
                self._write_lr(groups[i], lr)
                self._w_obj[i], self._w_ver[i], self._w_val[i] = None, None, written
                self._last_lr[i] = _lr_copy(groups[i]["lr"])
        self.last_epoch = t
        self._step_count = state_dict.get("_step_count", self._step_count)
        if "base_lrs" in state_dict:
            self.base_lrs = list(state_dict["base_lrs"])

    @staticmethod
    def _write_lr(group, lr):
        cur = group["lr"]
        if isinstance(cur, _Tensor):
            cur.fill_(lr)
        else:
            group["lr"] = lr

    @staticmethod
    def _pending(state_dict):
        """``{i: (lr, written)}``: groups whose saved lr was not the one last written."""
        now, written = state_dict.get("group_lrs"), state_dict.get("written_lrs")
        if not isinstance(now, (list, tuple)) or not isinstance(written, (list, tuple)):
            return {}
        out = {}
        for i, (a, b) in enumerate(zip(now, written)):
            a = _v.real(f"state_dict['group_lrs'][{i}]", a)
            b = _v.real(f"state_dict['written_lrs'][{i}]", b)
            if a != b:
                out[i] = (float(a), float(b))
        return out

    def _saved_plateaus(self, saved):
        """``[(plateau, state)]`` to load, matched by position with this scheduler's."""
        if saved is None:
            return []
        if self._single is not None:
            if isinstance(self._single, _Plateau) and isinstance(saved, dict):
                return [(self._single, saved)]
            if isinstance(saved, dict) or isinstance(self._single, _Plateau):
                raise ValueError("state_dict['plateau'] does not match this scheduler's "
                                 f"schedule ({self._single!r}): got {saved!r}")
            return []
        if not isinstance(saved, (list, tuple)) or len(saved) != len(self._per_group):
            raise ValueError(f"state_dict['plateau'] must be a list with one entry per "
                             f"schedule ({len(self._per_group)}), got {saved!r}")
        out = []
        for i, (s, state) in enumerate(zip(self._per_group, saved)):
            if isinstance(s, _Plateau) != isinstance(state, dict):
                raise ValueError(f"state_dict['plateau'][{i}] does not match schedule {i} "
                                 f"({s!r}): got {state!r}")
            if state is not None:
                out.append((s, state))
        return out

    def __repr__(self):
        sched = self._single if self._single is not None else list(self._per_group)
        extra = f", momentum={self.momentum_schedules!r}" if self._has_momentum else ""
        return f"fastlr.torch.LRScheduler(t={self.last_epoch}, schedule={sched!r}{extra})"


def _constant(schedule):
    """True for a ``Constant`` of either backend (a value with no clock to wait for)."""
    try:
        return schedule.to_config().get("class") == "Constant"
    except TypeError:  # a Lambda inside: no config
        return False


def _plain_scale(s):
    if s is None or isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Real):
        return None if s is None else s
    return float(s)


def _lr_copy(lr):
    return lr.clone() if isinstance(lr, _Tensor) else lr
