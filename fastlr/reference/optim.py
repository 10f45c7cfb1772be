"""The optimizers, written once for both backends.

Parsing of ``params`` and group dicts, validation, hyperparameter schedules, state,
``state_dict``/``load_state_dict`` and the step's orchestration live here. The array
work goes through ``self._kernels``: :mod:`fastlr.reference.kernels` (numpy) here,
:mod:`fastlr.kernels` (one C call per step over all arrays) in the compiled classes of
:mod:`fastlr.optim`, which are these classes with that one attribute swapped. So both
backends share every name, signature, docstring and error message by construction.

A step ``t`` (0-based: the number of updates already applied) evaluates every
schedule-valued hyperparameter at ``t``, checks all values and arrays, and only then
writes. torch's update counter (Adam's bias correction, Adagrad's ``lr_decay``) is
``t + 1``.
"""
from __future__ import annotations

import math
import numbers
import os
import threading
import weakref

import numpy as np

from .. import _validate as v
from . import kernels
from .kernels import get_num_threads, set_num_threads

__all__ = [
    "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Lion", "ScheduleFreeSGD",
    "ScheduleFreeAdamW", "set_num_threads", "get_num_threads", "kernels",
]
__all__ += ["NAdam", "RAdam", "Adamax", "Adadelta", "ASGD", "Rprop"]

OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Lion", "ScheduleFreeSGD",
              "ScheduleFreeAdamW")
OPTIMIZERS += ("NAdam", "RAdam", "Adamax", "Adadelta", "ASGD", "Rprop")


# ---- option rules ---------------------------------------------------------------------
# An option is a float ("real"), a float or a schedule ("sched": any callable of the
# step, e.g. a fastlr schedule or ReduceOnPlateau), a bool, an int, or Adam's betas.

def _is_schedule(value):
    return callable(value) and not isinstance(value, (numbers.Real, np.generic))


def _shown(value):
    """``value`` for a message: huge ints by digit count (Python refuses to print ints
    over 4300 digits), other reprs cut at 80 characters."""
    if kernels.is_huge_int(value):
        return f"an int with {kernels.int_digits(value)} digits"
    try:
        r = repr(value)
    except Exception:  # noqa: BLE001 - a repr that fails must not hide the real error
        return f"a {type(value).__name__} that cannot be printed"
    return r if len(r) <= 80 else r[:77] + "..."


def _flag(name, value):
    if type(value) is bool:
        return value
    if kernels.is_huge_int(value):
        raise TypeError(f"{name} must be a bool, got {_shown(value)}")
    return v.flag(name, value)


class _Rule:
    def __init__(self, kind, default_bounds=None, beta2=None):
        self.kind = kind
        self.bounds = default_bounds or {}
        self.beta2 = beta2 or {}
        if kind == "betas":
            self.beta1_rule = _Rule("sched", self.bounds)
            self.beta2_rule = _Rule("sched", self.beta2)

    def check(self, name, value):
        """The option normalised for storage (schedules kept as they are)."""
        if self.kind == "flag":
            return _flag(name, value)
        if self.kind == "int":
            return kernels.count_hp(name, value)
        if self.kind == "betas":
            if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") \
                    or len(value) != 2:
                raise TypeError(f"{name} must be a pair (beta1, beta2), got {_shown(value)}")
            return (self.beta1_rule.check("beta1", value[0]),
                    self.beta2_rule.check("beta2", value[1]))
        if type(value) is float:
            return float(v.real(name, value, **self.bounds))
        if self.kind == "sched" and _is_schedule(value):
            return value
        return kernels.real_hp(name, value, **self.bounds)

    def at(self, name, value, t):
        """The option's value at step ``t``, checked."""
        if _is_schedule(value):
            try:
                x = value(t)
            except (TypeError, ValueError) as exc:   # e.g. a Lambda returning 10**400
                raise type(exc)(f"{name}: its schedule failed at step {t}: {exc}") from exc
            except OverflowError as exc:
                raise ValueError(f"{name} must be finite, but its schedule overflowed at "
                                 f"step {t} ({exc})") from exc
            if kernels.is_huge_int(x):
                raise kernels.huge_int_error(name, x, f" (its schedule at step {t})")
            try:
                x = float(x)
            except (TypeError, ValueError):
                raise TypeError(f"{name} schedule returned {_shown(x)} at step {t}, "
                                "not a number") from None
            except OverflowError:
                raise ValueError(f"{name} must be finite, got a number too large for a "
                                 f"float (its schedule at step {t})") from None
            if not math.isfinite(x):
                raise ValueError(f"{name} must be finite, got {x!r} (its schedule at step {t})")
            try:
                return float(v.real(name, x, **self.bounds))
            except ValueError as exc:      # a bound: say which step's value broke it
                raise ValueError(f"{exc} (its schedule at step {t})") from None
        if self.kind == "int":
            return kernels.count_hp(name, value)
        if type(value) is float:        # the common case, at every step: no huge-int test
            return float(v.real(name, value, **self.bounds))
        return kernels.real_hp(name, value, **self.bounds)


class _Choice:
    """An option that is one of a few strings (fixed at construction, like a flag)."""

    kind = "choice"

    def __init__(self, *choices):
        self.choices = choices

    def check(self, name, value):
        if not isinstance(value, str) or value not in self.choices:
            error = ValueError if isinstance(value, str) else TypeError
            raise error(f"{name} must be one of {', '.join(map(repr, self.choices))}, got "
                        f"{_shown(value)}")
        return value

    def at(self, name, value, t):
        return self.check(name, value)


_NONNEG = {"low": 0.0}
_UNIT_OPEN = {"low": 0.0, "high": 1.0, "high_open": True}


def _group_arrays(arrays, where):
    """The arrays of one group's ``"params"`` entry, as a list."""
    if isinstance(arrays, np.ndarray):
        return [arrays]
    if isinstance(arrays, (set, frozenset)):
        raise TypeError(f"{where} 'params' must be an ordered sequence of arrays, not a set "
                        "(its order would change from run to run)")
    if isinstance(arrays, (str, bytes, dict)) or not hasattr(arrays, "__iter__"):
        raise TypeError(f"{where} 'params' must be an array or a list of arrays, got "
                        f"{type(arrays).__name__}")
    arrays = list(arrays)
    if not arrays:
        raise ValueError(f"{where} has an empty 'params' list")
    return arrays


def _params_groups(params):
    """``params`` as a list of raw group dicts, each with a list of arrays."""
    if isinstance(params, np.ndarray):
        return [{"params": [params]}]
    if isinstance(params, dict):
        params = [params]
    if isinstance(params, (str, bytes)) or not hasattr(params, "__iter__"):
        raise TypeError("params must be an ndarray, a list of ndarrays or a list of group "
                        f"dicts, got {type(params).__name__}")
    items = list(params)
    if not items:
        raise ValueError("params is empty: give at least one array to optimize")
    dicts = [isinstance(x, dict) for x in items]
    if not any(dicts):
        return [{"params": items}]
    if not all(dicts):
        raise TypeError("params must be all arrays or all group dicts, not a mix")
    groups = []
    for i, group in enumerate(items):
        if "params" not in group:
            raise ValueError(f"param group {i} has no 'params' entry")
        groups.append({**group, "params": _group_arrays(group["params"], f"param group {i}")})
    return groups


#: optimizers alive in this process, so a forked child can reset their locks
_LIVE = weakref.WeakSet()


def _after_fork_in_child():
    for opt in list(_LIVE):
        if opt._lock.locked():
            # another thread of the parent was inside a step (or a state_dict load) at
            # the fork: the child's copy of the arrays may be half written
            opt._broken = ("this optimizer was copied by os.fork() while another thread "
                           "was inside one of its steps, so its arrays may be half "
                           "updated; load a state_dict (or rebuild it) to continue")
            opt._runner = None   # its runner's own lock was held too
        opt._lock = threading.Lock()
        opt._owner = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Optimizer:
    """Base class: an optimizer over numpy arrays, updated in place by :meth:`step`.

    ``param_groups`` is a list of dicts (torch style): ``"params"`` plus every option,
    each either as given to the constructor or overridden by the group. Options may be
    changed between steps; they are checked again at every step. New arrays come in
    through ``add_param_group`` only: any other change to ``param_groups`` or to a
    group's ``"params"`` list (or a group option the optimizer does not know) makes the
    next step raise ValueError before anything is written.

    One optimizer is safe to share between threads: :meth:`step`,
    :meth:`load_state_dict`, :meth:`state_dict`, ``add_param_group`` (and the
    schedule-free mode switches) take a lock, so concurrent calls run one after the
    other, each whole. Optimizers pickle and ``copy.deepcopy`` (with their params), and
    a copy resumes bit for bit.
    """

    #: the kernels module: numpy (reference) or compiled (fastlr.optim)
    _kernels = kernels
    #: option name -> rule
    _rules: dict = {}
    #: state buffer names in the kernel's slot order
    _slot_names: tuple = ()
    #: group keys that are not options but are allowed and kept as given (none here; a
    #: front end may allow e.g. torch's ``initial_lr``, which torch's LR schedulers add)
    _extra_group_keys: frozenset = frozenset()
    #: state buffers holding second moments (must be >= 0 in a loaded state_dict)
    _nonneg_slots = frozenset({"exp_avg_sq", "max_exp_avg_sq", "square_avg", "sum"})

    def __init__(self, params, defaults):
        cls = type(self).__name__
        self.defaults = {k: self._rules[k].check(k, val) for k, val in defaults.items()}
        self.param_groups = []
        flat, group_of = [], []
        for gi, raw in enumerate(_params_groups(params)):
            group = self._new_group(raw, f"param group {gi}", cls)
            self.param_groups.append(group)
            flat.extend(group["params"])
            group_of.extend([gi] * len(group["params"]))
        for i, p in enumerate(flat):
            kernels.check_array(f"params[{i}]", p)
        kernels.Bounds((f"params[{i}]", p) for i, p in enumerate(flat))
        self._state = [self._init_state(self.param_groups[k], p)
                       for p, k in zip(flat, group_of)]
        self._group_state = [self._init_group_state(g) for g in self.param_groups]
        #: the step at which each group was added (0: at construction)
        self._group_start = [0] * len(self.param_groups)
        #: a step whose arrays may be written but whose count is not yet (see _settle)
        self._pending = None
        #: number of updates applied (the step at which schedules are evaluated next)
        self.step_count = 0
        #: number of steps skipped by ``step(..., skip_nonfinite=True)``
        self.skipped_steps = 0
        self._last_lrs = None
        self._broken = None
        self._lock = threading.Lock()
        self._owner = None
        self._layout()
        self._runner = None
        self._runner_()
        _LIVE.add(self)

    def _new_group(self, raw, where, cls):
        """A full group dict from a raw one: defaults filled in, options checked."""
        group = dict(self.defaults)
        for key, val in raw.items():
            if key == "params":
                continue
            if key in self._extra_group_keys:
                group[key] = val
                continue
            if key not in self._rules:
                raise ValueError(f"{where} has unknown option {_shown(key)}; {cls} "
                                 f"takes {sorted(self._rules)}")
            group[key] = self._rules[key].check(key, val)
        group["params"] = raw["params"]
        self._check_group(group)
        return group

    def _layout(self):
        """Record the param lists, so a step notices any change made behind our back."""
        self._params = tuple(p for g in self.param_groups for p in g["params"])
        self._group_of = tuple(gi for gi, g in enumerate(self.param_groups)
                               for _ in g["params"])
        self._group_params = [tuple(g["params"]) for g in self.param_groups]
        self._option_keys = frozenset(self._rules) | {"params"}
        # ids are stable and unique while we hold the arrays: a fast identity check
        self._group_ids = [list(map(id, ps)) for ps in self._group_params]

    # -- hooks of the concrete classes -----------------------------------------------------
    def _check_group(self, group):
        """Cross-option checks at construction."""

    def _init_state(self, group, p):  # pragma: no cover - every class overrides it
        raise NotImplementedError

    def _init_group_state(self, group):
        return {}

    def _group_spec(self, gi, group, gstate, t):  # pragma: no cover
        """``(kernel spec, lr used, group-state update)`` for step ``t``."""
        raise NotImplementedError

    def _before_step(self):
        pass

    # -- helpers ---------------------------------------------------------------------------
    def _at(self, group, name, t):
        return self._rules[name].at(name, group[name], t)

    def _flag(self, group, name):
        return _flag(name, group[name])

    def _local(self, gi, t):
        """Group ``gi``'s own step count at step ``t`` (it may have been added later)."""
        return t - self._group_start[gi]

    def _betas(self, group, t):
        rule = self._rules["betas"]
        beta1, beta2 = rule.check("betas", group["betas"])
        return rule.beta1_rule.at("beta1", beta1, t), rule.beta2_rule.at("beta2", beta2, t)

    def _need(self, gi, i_name, needed):
        """A buffer the step needs exists (it may not if an option changed after init)."""
        if needed and i_name not in self._state[self._first_of(gi)]:
            raise ValueError(f"param group {gi} needs the state buffer {i_name!r}, which "
                             "was not created at construction: an option that enables it "
                             "(momentum, amsgrad, centered) must be set, or be a schedule, "
                             "when the optimizer is built")

    def _first_of(self, gi):
        return self._group_of.index(gi)

    def _runner_(self):
        if self._runner is None:
            names = self._slot_names + (None,) * (3 - len(self._slot_names))
            slots = [tuple(st.get(n) for n in names) for st in self._state]
            self._runner = self._kernels._Runner(self._params, slots, self._group_of,
                                                 [names] * len(slots))
        return self._runner

    def _check_layout(self):
        """``param_groups`` still holds the arrays and options we built the step over."""
        groups = self.param_groups
        if not isinstance(groups, list) or len(groups) != len(self._group_params):
            raise ValueError(
                "param_groups was replaced or changed length since the optimizer was "
                f"built (now {len(groups) if isinstance(groups, list) else _shown(groups)}"
                f", was {len(self._group_params)} groups); add groups with "
                "add_param_group()")
        expected = self._option_keys
        for gi, (group, ids) in enumerate(zip(groups, self._group_ids)):
            if not isinstance(group, dict):
                raise ValueError(f"param_groups[{gi}] was replaced by a "
                                 f"{type(group).__name__}; it must stay the group dict")
            keys = group.keys()
            if keys != expected:
                unknown = sorted(map(_shown, keys - expected - self._extra_group_keys))
                missing = sorted(expected - keys)
                if unknown or missing:
                    raise ValueError(f"param_groups[{gi}] " + (
                        f"has unknown option(s) {', '.join(unknown)}" if unknown
                        else f"lost option(s) {missing}") + f"; {type(self).__name__} "
                        f"takes {sorted(self._rules)}")
            ps = group["params"]
            if not isinstance(ps, list) or list(map(id, ps)) != ids:
                raise ValueError(f"param_groups[{gi}]['params'] changed since the optimizer "
                                 "was built; arrays cannot be added, removed or swapped "
                                 "there (add new ones with add_param_group())")

    @property
    def step_count(self):
        """Number of updates applied (the step at which schedules are evaluated next)."""
        if self._pending is not None:
            self._settle()
        return self._step_count

    @step_count.setter
    def step_count(self, value):
        self._step_count = value

    def _settle(self):
        """Count the step whose arrays the runner wrote, if its bookkeeping was cut short.

        A KeyboardInterrupt (Ctrl-C, or any signal handler that raises) can land between
        any two bytecodes on the way back from the C call, also inside the bookkeeping.
        So a step records what it will commit before it writes, and whoever looks next
        (the count, the lock, the next step) finishes it. The commit is idempotent, so a
        settle that is itself cut short is finished by the next one.
        """
        runner, before, t, lrs, updates = self._pending
        if runner.completed != before:
            for gstate, update in zip(self._group_state, updates):
                gstate.update(update)
            self._last_lrs = lrs
            self._step_count = t + 1
        self._pending = None

    def _check_usable(self):
        if self._pending is not None:
            self._settle()
        if self._broken is not None:
            raise RuntimeError(self._broken)
        if self._runner is not None and self._runner.torn:
            self._broken = ("a step was interrupted while writing (the reference backend "
                            "updates one numpy operation at a time), so the arrays are "
                            "half updated; load a state_dict (or rebuild the optimizer) "
                            "to continue")
            raise RuntimeError(self._broken)

    class _Guard:
        """The optimizer's lock, held for one call; a nested call from the same thread
        (e.g. a schedule that steps the optimizer it feeds) raises instead of
        deadlocking."""

        __slots__ = ("opt",)

        def __init__(self, opt):
            self.opt = opt

        def __enter__(self):
            opt = self.opt
            me = threading.get_ident()
            if opt._owner == me:
                raise RuntimeError(f"{type(opt).__name__} was re-entered from inside one of "
                                   "its own calls (a schedule or callback calling step()?)")
            opt._lock.acquire()
            opt._owner = me
            if opt._pending is not None:
                opt._settle()

        def __exit__(self, *exc):
            self.opt._owner = None
            self.opt._lock.release()

    # -- public API ------------------------------------------------------------------------
    def step(self, grads, skip_nonfinite=False):
        """Apply one update to every param from ``grads`` (one array per param, in order).

        All of the step's inputs are checked before anything is written, so an error
        leaves every param and state buffer untouched. With ``skip_nonfinite=True`` a
        step whose gradients hold a NaN or an infinity is skipped as a whole: nothing
        is written, the step count stays, ``skipped_steps`` grows by one and ``False``
        is returned. Returns ``True`` when the update was applied.

        Steps on one optimizer from several threads run one at a time (a lock), so N
        threads making M steps each apply N*M whole steps in some order. A
        KeyboardInterrupt never leaves a half step: the compiled backend writes in one C
        call and counts the step even when Ctrl-C arrives as it returns (then re-raises
        the KeyboardInterrupt); in the reference backend an interrupt in the middle of
        the numpy updates marks the optimizer as unusable (RuntimeError until
        :meth:`load_state_dict`).
        """
        me = threading.get_ident()
        if self._owner == me:
            self._Guard(self).__enter__()       # raises the re-entry error
        with self._lock:                        # (inlined _Guard: steps are hot)
            self._owner = me
            try:
                return self._step(grads, skip_nonfinite)
            finally:
                self._owner = None

    def _step(self, grads, skip_nonfinite):
        self._check_usable()
        skip = _flag("skip_nonfinite", skip_nonfinite)
        self._check_layout()
        grads = kernels.grad_list(grads, len(self._params))
        self._before_step()
        t = self.step_count
        specs, lrs, updates = [], [], []
        for gi, (group, gstate) in enumerate(zip(self.param_groups, self._group_state)):
            spec, lr, update = self._group_spec(gi, group, gstate, t)
            specs.append(spec)
            lrs.append(lr)
            updates.append(update)
        runner = self._runner_()
        # recorded before the write, so an interrupt on the way back cannot lose the count
        self._pending = (runner, runner.completed, t, lrs, updates)
        applied = runner.step(grads, specs, skip)
        self._settle()
        if not applied:
            self.skipped_steps += 1
            return False
        return True

    def add_param_group(self, param_group):
        """Add a group of arrays to optimize (torch's ``Optimizer.add_param_group``).

        ``param_group`` is a dict with ``"params"`` (an array or a list of arrays) and
        any options; options it leaves out take the constructor's values
        (``defaults``). An array already optimized here (or overlapping one's memory)
        is rejected, as are unknown options; nothing changes on an error. The group's
        state buffers are created at once (as at construction), and its step-dependent
        terms (Adam's bias correction, Adagrad's lr decay, the schedule-free averaging
        and warmup, SGD's first momentum step) start from the group's first step, as
        torch's per-param state does. Schedules are evaluated at the optimizer's step.
        """
        with self._Guard(self):
            self._check_usable()
            self._check_layout()
            if not isinstance(param_group, dict):
                raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
            if "params" not in param_group:
                raise ValueError("param_group has no 'params' entry")
            gi = len(self.param_groups)
            raw = {**param_group, "params": _group_arrays(param_group["params"],
                                                          "param_group")}
            group = self._new_group(raw, "param_group", type(self).__name__)
            n = len(self._params)
            for i, p in enumerate(group["params"]):
                kernels.check_array(f"params[{n + i}]", p)
            old = {id(p) for p in self._params}
            if any(id(p) in old for p in group["params"]) or \
                    len({id(p) for p in group["params"]}) != len(group["params"]):
                raise ValueError("some parameters appear in more than one parameter group")
            state = [self._init_state(group, p) for p in group["params"]]
            gstate = self._init_group_state(group)
            # build the new runner first: it checks that no array overlaps another
            saved = (self._params, self._group_of, self._group_params, self._state,
                     self._runner)
            self._params = self._params + tuple(group["params"])
            self._group_of = self._group_of + (gi,) * len(group["params"])
            self._state = self._state + state
            self._runner = None
            try:
                self._runner_()
            except BaseException:
                (self._params, self._group_of, self._group_params, self._state,
                 self._runner) = saved
                raise
            self.param_groups.append(group)
            self._group_state.append(gstate)
            self._group_start.append(self.step_count)
            self._layout()

    @property
    def last_lr(self):
        """The lr the last step used (of the first param group); None before any step."""
        return None if self._last_lrs is None else self._last_lrs[0]

    @property
    def last_lrs(self):
        """The lr the last step used in each param group (torch's ``get_last_lr()``)."""
        return None if self._last_lrs is None else list(self._last_lrs)

    def state_dict(self):
        """Everything needed to resume bit for bit: counters and copies of all buffers.

        The params themselves are not included (as in torch): a resumed optimizer is
        built over the params as they are, then given this dict.
        """
        with self._Guard(self):
            return {
                "optimizer": type(self).__name__,
                "step": self.step_count,
                "skipped_steps": self.skipped_steps,
                "last_lrs": self.last_lrs,
                "state": [{k: a.copy() for k, a in st.items()} for st in self._state],
                "groups": [dict(gs) for gs in self._group_state],
                "group_start": list(self._group_start),
                **self._extra_state(),
            }

    def _extra_state(self):
        return {}

    def _load_extra(self, state_dict):
        return lambda: None

    def load_state_dict(self, state_dict):
        """Restore a :meth:`state_dict`; everything is checked before anything changes.

        Checked: the optimizer name; ``step``, ``skipped_steps`` (ints in [0, 2**53]);
        ``last_lrs`` (None or one finite lr >= 0 per group); every state buffer (the
        param's dtype and shape, finite, second moments >= 0); the per-group counters;
        ``group_start`` (absent in 0.1.0 dicts: all 0). Errors name the key and value.
        Loading also clears the unusable mark an interrupted reference step leaves.
        """
        with self._Guard(self):
            self._load_state_dict(state_dict)

    def _load_state_dict(self, state_dict):
        cls = type(self).__name__
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        for key in ("optimizer", "step", "skipped_steps", "last_lrs", "state", "groups"):
            if key not in state_dict:
                raise ValueError(f"state_dict has no {key!r} entry")
        if state_dict["optimizer"] != cls:
            raise ValueError(f"state_dict is from a {_shown(state_dict['optimizer'])} "
                             f"optimizer, not {cls!r}")
        step = kernels.count_hp("state_dict['step']", state_dict["step"])
        skipped = kernels.count_hp("state_dict['skipped_steps']", state_dict["skipped_steps"])
        ngroups = len(self._group_state)
        last = state_dict["last_lrs"]
        if last is not None:
            if not isinstance(last, (list, tuple)) or len(last) != ngroups:
                raise (TypeError if not isinstance(last, (list, tuple)) else ValueError)(
                    f"state_dict['last_lrs'] must be None or a list of {ngroups} lr(s), one "
                    f"per param group, got {_shown(last)}")
            last = [kernels.real_hp(f"state_dict['last_lrs'][{i}]", x, low=0.0)
                    for i, x in enumerate(last)]
        starts = state_dict.get("group_start", [0] * ngroups)
        if not isinstance(starts, (list, tuple)) or len(starts) != ngroups:
            raise ValueError(f"state_dict['group_start'] must be a list of {ngroups} step(s), "
                             f"got {_shown(starts)}")
        starts = [kernels.count_hp(f"state_dict['group_start'][{i}]", x)
                  for i, x in enumerate(starts)]
        for i, x in enumerate(starts):
            if x > step:
                raise ValueError(f"state_dict['group_start'][{i}] must be <= "
                                 f"state_dict['step'] ({step}), got {x}")
        states, groups = state_dict["state"], state_dict["groups"]
        if not isinstance(states, (list, tuple)) or len(states) != len(self._state):
            raise ValueError(f"state_dict['state'] must hold {len(self._state)} entries "
                             f"(one per param), got {_shown(states)}")
        for i, (ours, theirs) in enumerate(zip(self._state, states)):
            if not isinstance(theirs, dict) or set(theirs) != set(ours):
                got = sorted(map(_shown, theirs)) if isinstance(theirs, dict) else _shown(theirs)
                raise ValueError(f"state_dict['state'][{i}] must hold the buffers "
                                 f"{sorted(ours)}, got {got}")
            for key, a in theirs.items():
                name = f"state_dict['state'][{i}][{key!r}]"
                kernels.check_like(name, a, f"params[{i}]", self._params[i])
                self._check_buffer(name, key, a)
        if not isinstance(groups, (list, tuple)) or len(groups) != ngroups:
            raise ValueError(f"state_dict['groups'] must hold {ngroups} entries "
                             f"(one per param group), got {_shown(groups)}")
        new_groups = []
        for i, (ours, theirs) in enumerate(zip(self._group_state, groups)):
            if not isinstance(theirs, dict) or set(theirs) != set(ours):
                raise ValueError(f"state_dict['groups'][{i}] must hold {sorted(ours)}, got "
                                 f"{_shown(theirs)}")
            new = {}
            for key, val in theirs.items():
                name = f"state_dict['groups'][{i}][{key!r}]"
                new[key] = _flag(name, val) if isinstance(ours[key], bool) \
                    else self._check_group_value(name, key, val)
            new_groups.append(new)
        commit_extra = self._load_extra(state_dict)
        # everything checked: write
        for ours, theirs in zip(self._state, states):
            for key, a in theirs.items():
                np.copyto(ours[key], a)
        for ours, new in zip(self._group_state, new_groups):
            ours.update(new)
        self.step_count, self.skipped_steps = step, skipped
        self._last_lrs = last
        self._group_start = starts
        commit_extra()
        if self._broken is not None or (self._runner is not None and self._runner.torn):
            self._broken = None
            self._runner = None     # a fresh runner (the old one is marked torn)

    def _check_buffer(self, name, key, a):
        """A loaded state buffer: finite, and >= 0 when it is a second moment."""
        bad = ~np.isfinite(a)
        if bad.any():
            idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), a.shape))
            raise ValueError(f"{name} must be finite, got {float(a[idx])!r} at index {idx}")
        if key in self._nonneg_slots and (a < 0).any():
            idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(a < 0)), a.shape))
            raise ValueError(f"{name} is a second moment and must be >= 0, got "
                             f"{float(a[idx])!r} at index {idx}")

    def _check_group_value(self, name, key, val):
        return kernels.real_hp(name, val)

    # -- copies ------------------------------------------------------------------------------
    def __getstate__(self):
        with self._Guard(self):
            state = dict(self.__dict__)
        for key in ("_runner", "_lock", "_owner", "_group_ids"):   # rebuilt on load
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._owner = None
        self._group_ids = [list(map(id, ps)) for ps in self._group_params]
        self._runner = None
        self._runner_()      # checks the copied arrays again (and records their memory)
        _LIVE.add(self)

    def __repr__(self):
        n = len(self._params)
        return (f"<{type(self).__module__}.{type(self).__name__}: {n} param"
                f"{'s' if n != 1 else ''} in {len(self.param_groups)} group"
                f"{'s' if len(self.param_groups) != 1 else ''}, step {self.step_count}>")


def _zeros(p):
    return np.zeros_like(p)


# ---- the torch.optim family --------------------------------------------------------------

class SGD(Optimizer):
    """Stochastic gradient descent with momentum (torch.optim.SGD, for-loop order).

    Per element, at step t (``lr``, ``momentum``, ``dampening``, ``weight_decay`` may be
    schedules)::

        g = -grad if maximize else grad
        g = g + weight_decay * p                       (if weight_decay != 0)
        buf = g                                        (first step with momentum: a copy)
        buf = momentum * buf + (1 - dampening) * g     (later steps)
        g = g + momentum * buf if nesterov else buf    (if momentum != 0)
        p = p - lr * g

    Results match torch's for-loop path to float rounding (torch fuses some
    multiply-adds; this does not), and the compiled and reference backends bit for bit.
    """

    _rules = {
        "lr": _Rule("sched", _NONNEG), "momentum": _Rule("sched", _NONNEG),
        "dampening": _Rule("sched"), "weight_decay": _Rule("sched", _NONNEG),
        "nesterov": _Rule("flag"), "maximize": _Rule("flag"),
    }
    _slot_names = ("momentum_buffer",)

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _check_group(self, group):
        mom, damp = group["momentum"], group["dampening"]
        # a schedule is checked at each step, with its value
        if group["nesterov"] and ((not _is_schedule(mom) and mom <= 0)
                                  or (not _is_schedule(damp) and damp != 0)):
            raise ValueError("nesterov momentum requires a momentum > 0 and zero dampening, "
                             f"got momentum={mom!r}, dampening={group['dampening']!r}")

    def _init_state(self, group, p):
        mom = group["momentum"]
        return {"momentum_buffer": _zeros(p)} if _is_schedule(mom) or mom != 0 else {}

    def _init_group_state(self, group):
        return {"momentum_initialized": False}

    def _group_spec(self, gi, group, gstate, t):
        lr = self._at(group, "lr", t)
        mom = self._at(group, "momentum", t)
        damp = self._at(group, "dampening", t)
        wd = self._at(group, "weight_decay", t)
        nesterov = self._flag(group, "nesterov")
        if nesterov and (mom <= 0 or damp != 0):
            raise ValueError("nesterov momentum requires a momentum > 0 and zero dampening, "
                             f"got momentum={mom!r} (step {t}), dampening={damp!r}")
        self._need(gi, "momentum_buffer", mom != 0)
        first = mom != 0 and not gstate["momentum_initialized"]
        spec = kernels.sgd_spec(lr, mom, damp, wd, nesterov, self._flag(group, "maximize"),
                                first)
        return spec, lr, ({"momentum_initialized": True} if mom != 0 else {})


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015; torch.optim.Adam, for-loop order), with amsgrad.

    Per element, at step t with ``k = t + 1`` and ``bc1 = 1 - beta1**k``, ``bc2 = 1 -
    beta2**k`` in double (``lr``, either of ``betas``, ``eps``, ``weight_decay`` may be
    schedules)::

        g = -grad if maximize else grad
        g = g + weight_decay * p                  (Adam: coupled L2, if weight_decay != 0)
        m = lerp(m, g, 1 - beta1)                 (torch's lerp, see fastlr.kernels.lerp)
        v = v * beta2;  v = v + ((1 - beta2) * g) * g
        vmax = max(vmax, v), used as v below      (amsgrad)
        p = p + (-(lr / bc1) * m) / (sqrt(v) / sqrt(bc2) + eps)

    Results match torch's for-loop path to float rounding (a few ulp per step: torch
    fuses multiply-adds in lerp/addcmul and its float32 sqrt is not always correctly
    rounded), and the compiled and reference backends bit for bit.
    """

    _rules = {
        "lr": _Rule("sched", _NONNEG), "betas": _Rule("betas", _UNIT_OPEN, _UNIT_OPEN),
        "eps": _Rule("sched", _NONNEG), "weight_decay": _Rule("sched", _NONNEG),
        "amsgrad": _Rule("flag"), "maximize": _Rule("flag"),
    }
    _slot_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _init_state(self, group, p):
        state = {"exp_avg": _zeros(p), "exp_avg_sq": _zeros(p)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = _zeros(p)
        return state

    def _group_spec(self, gi, group, gstate, t):
        lr = self._at(group, "lr", t)
        beta1, beta2 = self._betas(group, t)
        wd = self._at(group, "weight_decay", t)
        amsgrad = self._flag(group, "amsgrad")
        self._need(gi, "max_exp_avg_sq", amsgrad)
        spec = kernels.adam_spec(self._local(gi, t) + 1, lr, beta1, beta2,
                                 self._at(group, "eps", t), wd, amsgrad,
                                 self._flag(group, "maximize"), self._decoupled)
        return spec, lr, {}


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019; torch.optim.AdamW): Adam with decoupled decay.

    As :class:`Adam`, except that weight decay shrinks the param before the update,
    ``p = p * (1 - lr * weight_decay)``, instead of entering the gradient.
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)


class RMSprop(Optimizer):
    """RMSprop (torch.optim.RMSprop, for-loop order), optionally centered, with momentum.

    Per element (``lr``, ``alpha``, ``eps``, ``momentum``, ``weight_decay`` may be
    schedules)::

        g = -grad if maximize else grad
        g = g + weight_decay * p                         (if weight_decay != 0)
        sq = sq * alpha;  sq = sq + ((1 - alpha) * g) * g
        ga = lerp(ga, g, 1 - alpha); avg = sqrt(sq - ga*ga)   (centered)
        avg = sqrt(sq)                                   (otherwise)
        avg = avg + eps
        buf = buf * momentum + g / avg;  p = p - lr * buf     (momentum > 0)
        p = p + (-lr * g) / avg                          (otherwise)
    """

    _rules = {
        "lr": _Rule("sched", _NONNEG), "alpha": _Rule("sched", _NONNEG),
        "eps": _Rule("sched", _NONNEG), "weight_decay": _Rule("sched", _NONNEG),
        "momentum": _Rule("sched", _NONNEG), "centered": _Rule("flag"),
        "maximize": _Rule("flag"),
    }
    _slot_names = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      maximize=maximize))

    def _init_state(self, group, p):
        state = {"square_avg": _zeros(p)}
        if group["centered"]:
            state["grad_avg"] = _zeros(p)
        mom = group["momentum"]
        if _is_schedule(mom) or mom > 0:
            state["momentum_buffer"] = _zeros(p)
        return state

    def _group_spec(self, gi, group, gstate, t):
        lr = self._at(group, "lr", t)
        mom = self._at(group, "momentum", t)
        centered = self._flag(group, "centered")
        self._need(gi, "grad_avg", centered)
        self._need(gi, "momentum_buffer", mom > 0)
        spec = kernels.rmsprop_spec(lr, self._at(group, "alpha", t), self._at(group, "eps", t),
                                    self._at(group, "weight_decay", t), mom, centered,
                                    self._flag(group, "maximize"))
        return spec, lr, {}


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011; torch.optim.Adagrad, for-loop order).

    Per element at step t, ``k = t + 1`` (``lr``, ``lr_decay``, ``weight_decay``, ``eps``
    may be schedules; ``initial_accumulator_value`` is read once, at construction)::

        g = -grad if maximize else grad
        g = g + weight_decay * p                   (if weight_decay != 0)
        clr = lr / (1 + (k - 1) * lr_decay)        (double, on the host)
        sum = sum + g * g                          (sum starts at initial_accumulator_value)
        p = p + (-clr * g) / (sqrt(sum) + eps)
    """

    _rules = {
        "lr": _Rule("sched", _NONNEG), "lr_decay": _Rule("sched", _NONNEG),
        "weight_decay": _Rule("sched", _NONNEG),
        "initial_accumulator_value": _Rule("real", _NONNEG), "eps": _Rule("sched", _NONNEG),
        "maximize": _Rule("flag"),
    }
    _slot_names = ("sum",)

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, *, maximize=False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    def _init_state(self, group, p):
        return {"sum": np.full_like(p, group["initial_accumulator_value"])}

    def _group_spec(self, gi, group, gstate, t):
        lr = self._at(group, "lr", t)
        spec = kernels.adagrad_spec(self._local(gi, t) + 1, lr, self._at(group, "lr_decay", t),
                                    self._at(group, "weight_decay", t),
                                    self._at(group, "eps", t), self._flag(group, "maximize"))
        return spec, lr, {}


class Lion(Optimizer):
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms").

    Per element (``lr``, either of ``betas``, ``weight_decay`` may be schedules)::

        p = p * (1 - lr * weight_decay)                    (decoupled, if weight_decay != 0)
        p = p - lr * sign(beta1 * m + (1 - beta1) * g)     (sign(0) = 0)
        m = beta2 * m + (1 - beta2) * g

    Operation order of the authors' reference and lucidrains/lion-pytorch. Typical lr
    is 3-10x smaller than AdamW's, weight decay 3-10x larger.
    """

    _rules = {
        "lr": _Rule("sched", _NONNEG),
        "betas": _Rule("betas", {"low": 0.0, "high": 1.0}, {"low": 0.0, "high": 1.0}),
        "weight_decay": _Rule("sched", _NONNEG),
    }
    _slot_names = ("exp_avg",)

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    def _init_state(self, group, p):
        return {"exp_avg": _zeros(p)}

    def _group_spec(self, gi, group, gstate, t):
        lr = self._at(group, "lr", t)
        beta1, beta2 = self._betas(group, t)
        spec = kernels.lion_spec(lr, beta1, beta2, self._at(group, "weight_decay", t))
        return spec, lr, {}


# ---- schedule-free ---------------------------------------------------------------------------

class _ScheduleFree(Optimizer):
    """Shared by the schedule-free optimizers: the averaging weights and y <-> x."""

    _beta_name = "momentum"

    def __init__(self, params, defaults):
        super().__init__(params, defaults)
        self._train_mode = True

    def _init_group_state(self, group):
        return {"lr_max": -1.0, "weight_sum": 0.0}

    def _weights(self, group, gstate, t, lr, step):
        """Defazio et al.'s averaging weight: ``c_{t+1} = w_t / sum(w_0..w_t)`` with
        ``w_t = (t+1)**r * lr_max**weight_lr_power`` (``lr_max``: largest lr so far;
        ``t`` the group's own step, ``step`` the optimizer's, where schedules are read)."""
        lr_max = max(lr, gstate["lr_max"])
        r = self._at(group, "r", step)
        power = self._at(group, "weight_lr_power", step)
        try:
            weight = ((t + 1) ** r) * (lr_max ** power)
        except OverflowError:  # Python floats raise where C would give inf
            weight = math.inf
        weight_sum = gstate["weight_sum"] + weight
        if not (math.isfinite(weight) and math.isfinite(weight_sum)):
            # before anything is written: the step fails cleanly, as a bad input does
            raise ValueError(
                f"the schedule-free averaging weight (t+1)**r * lr_max**weight_lr_power "
                f"overflowed at step {t} (r={r!r}, weight_lr_power="
                f"{power!r}, lr_max={lr_max!r}); use a smaller r or "
                f"weight_lr_power")
        ckp1 = weight / weight_sum if weight_sum != 0 else 0.0
        return ckp1, {"lr_max": lr_max, "weight_sum": weight_sum}

    def _warmup(self, group, k):
        w = self._at(group, "warmup_steps", k)
        return (k + 1) / w if k < w else 1.0

    def _beta_at(self, group, t):
        if self._beta_name == "momentum":
            return self._at(group, "momentum", t)
        return self._betas(group, t)[0]

    @property
    def train_mode(self):
        """True while the params hold y (the gradient point), False while they hold x."""
        return self._train_mode

    def _before_step(self):
        if not self._train_mode:
            raise RuntimeError(f"{type(self).__name__} is in eval mode (params hold x); "
                               "call train_params() before step()")

    def _switch(self, to_x):
        with self._Guard(self):
            self._check_usable()
            self._check_layout()
            if self.step_count > 0:
                t = self.step_count - 1
                betas = [self._beta_at(g, t) for g in self.param_groups]
                # a group added since the last step has not stepped: its z is not set yet
                # and x = y = z, so it stays as it is (weight 0)
                weights = [0.0 if start == self.step_count
                           else (1.0 - 1.0 / b if to_x else 1.0 - b)
                           for b, start in zip(betas, self._group_start)]
                self._runner_().lerp(weights)
            self._train_mode = not to_x

    def eval_params(self):
        """Put x, the averaged point to evaluate or save, into the params (in place).

        ``x = lerp(y, z, 1 - 1/beta)`` with the beta (momentum) of the last step: the
        inverse of ``y = (1 - beta) z + beta x``. No-op when already in eval mode, and
        before the first step (then x = y = z).
        """
        if self._train_mode:
            self._switch(True)

    def train_params(self):
        """Put y, the point gradients are taken at, back into the params (in place):
        ``y = lerp(x, z, 1 - beta)``. No-op when already in train mode."""
        if not self._train_mode:
            self._switch(False)

    def _extra_state(self):
        return {"train_mode": self._train_mode}

    def _check_group_value(self, name, key, val):
        if key == "lr_max":        # -1 until the first step, then the largest lr so far
            x = kernels.real_hp(name, val)
            if x != -1.0 and x < 0:
                raise ValueError(f"{name} must be -1 (no step yet) or >= 0, got {x!r}")
            return x
        return kernels.real_hp(name, val, low=0.0)

    def _load_extra(self, state_dict):
        if "train_mode" not in state_dict:
            raise ValueError("state_dict has no 'train_mode' entry")
        mode = _flag("state_dict['train_mode']", state_dict["train_mode"])

        def commit():
            self._train_mode = mode
        return commit


_SF_RULES = {"lr": _Rule("sched", _NONNEG), "weight_decay": _Rule("sched", _NONNEG),
             "warmup_steps": _Rule("int"), "r": _Rule("sched", _NONNEG),
             "weight_lr_power": _Rule("sched", _NONNEG)}


class ScheduleFreeSGD(_ScheduleFree):
    """Schedule-free SGD (Defazio et al. 2024, "The Road Less Scheduled").

    Three sequences: z (plain SGD iterates), x (their weighted average, the point to
    evaluate) and y = (1 - beta) z + beta x (the point gradients are taken at; beta =
    ``momentum``). The params hold y during training; :meth:`eval_params` swaps x in
    and :meth:`train_params` swaps y back, so only z is stored. Per step t::

        lr_t = lr(t) * min(1, (t + 1) / warmup_steps)
        c = w_t / sum(w_0..w_t),  w_t = (t + 1)**r * max(lr_0..lr_t)**weight_lr_power
        z = y                                   (first step)
        g = g + weight_decay * y                (if weight_decay != 0)
        y = lerp(y, z, c);  y = y + lr_t * (beta * (1 - c) - 1) * g
        z = z - lr_t * g

    which is z' = z - lr_t g, x' = (1 - c) x + c z', y' = (1 - beta) z' + beta x'
    written in place (schedulefree's ``SGDScheduleFree``, same defaults and operation
    order). ``lr``, ``momentum``, ``weight_decay``, ``r`` and ``weight_lr_power`` may be
    schedules (read at the optimizer's step t); ``warmup_steps`` is an int. ``last_lr``
    is ``lr_t``.
    """

    _rules = {**_SF_RULES, "momentum": _Rule("sched", {"low": 0.0, "low_open": True,
                                                       "high": 1.0, "high_open": True})}
    _slot_names = ("z",)

    def __init__(self, params, lr=1.0, momentum=0.9, weight_decay=0.0, warmup_steps=0, r=0.0,
                 weight_lr_power=2.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      warmup_steps=warmup_steps, r=r,
                                      weight_lr_power=weight_lr_power))

    def _init_state(self, group, p):
        return {"z": _zeros(p)}

    def _group_spec(self, gi, group, gstate, t):
        k = self._local(gi, t)      # the group's own step (it may have been added later)
        lr = self._at(group, "lr", t) * self._warmup(group, k)
        mom = self._at(group, "momentum", t)
        ckp1, update = self._weights(group, gstate, k, lr, t)
        spec = kernels.sfsgd_spec(lr, mom, ckp1, self._at(group, "weight_decay", t), k == 0)
        return spec, lr, update


class ScheduleFreeAdamW(_ScheduleFree):
    """Schedule-free AdamW (Defazio et al. 2024), as the schedulefree package computes
    it: by default its ``AdamWScheduleFree`` (schedulefree >= 1.3, same defaults and
    operation order), with ``formulation="paper"`` its ``AdamWScheduleFreePaper`` (the
    form of schedulefree <= 1.2).

    As :class:`ScheduleFreeSGD` with beta = ``betas[0]`` and an Adam-normalised
    gradient; per step t, with ``bc2 = 1 - beta2**(t + 1)``::

        lr_t = lr(t) * min(1, (t + 1) / warmup_steps)
        c = w_t / sum(w_0..w_t),  w_t = (t + 1)**r * max(lr_0..lr_t)**weight_lr_power
        z = y                                       (first step)
        v = v * beta2;  v = v + ((1 - beta2) * g) * g
        u = g / (sqrt(v / bc2) + eps);  u = u + weight_decay * y
        y = lerp(y, z, c);  y = y + lr_t * (beta1 * (1 - c) - 1) * u
        z = z - lr_t * u

    ``formulation="paper"`` instead folds the bias correction into the rate, so into
    the averaging weights too: ``lr_t = lr(t) * min(1, (t + 1) / warmup_steps) *
    sqrt(bc2)`` and ``u = g / (sqrt(v) + eps)``. The two steps agree once ``bc2`` is
    near 1, but the early steps differ and so do the params from then on (about 1e-2
    after 100 steps at the defaults, unit-scale params and gradients). Weight decay is
    taken at y. ``last_lr`` is ``lr_t``. As in :class:`ScheduleFreeSGD`, every float
    option (either of ``betas``, ``eps`` too) may be a schedule.
    """

    _rules = {**_SF_RULES, "betas": _Rule("betas", {"low": 0.0, "low_open": True,
                                                    "high": 1.0, "high_open": True},
                                          _UNIT_OPEN),
              "eps": _Rule("sched", _NONNEG), "formulation": _Choice("current", "paper")}
    _slot_names = ("z", "exp_avg_sq")
    _beta_name = "beta1"

    def __init__(self, params, lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 warmup_steps=0, r=0.0, weight_lr_power=2.0, *, formulation="current"):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      warmup_steps=warmup_steps, r=r,
                                      weight_lr_power=weight_lr_power,
                                      formulation=formulation))

    def _init_state(self, group, p):
        return {"z": _zeros(p), "exp_avg_sq": _zeros(p)}

    def _group_spec(self, gi, group, gstate, t):
        beta1, beta2 = self._betas(group, t)
        k = self._local(gi, t)      # the group's own step (it may have been added later)
        bc2 = 1.0 - beta2 ** (k + 1)
        lr = self._at(group, "lr", t) * self._warmup(group, k)
        if self._at(group, "formulation", t) == "paper":
            lr, bc2 = lr * math.sqrt(bc2), 1.0
        ckp1, update = self._weights(group, gstate, k, lr, t)
        spec = kernels.sfadamw_spec(lr, beta1, beta2, self._at(group, "eps", t), ckp1,
                                    self._at(group, "weight_decay", t), k == 0, bc2)
        return spec, lr, update


# ---- the rest of torch.optim's elementwise optimizers ---------------------------------------

class _PairRule(_Rule):
    """A pair of floats (Rprop's ``etas`` and ``step_sizes``), each checked by ``check``."""

    def __init__(self, names, check):
        super().__init__("pair")
        self.names = names
        self.pair_check = check

    def check(self, name, value):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
            raise TypeError(f"{name} must be a pair ({', '.join(self.names)}), got "
                            f"{_shown(value)}")
        pair = tuple(kernels.real_hp(n, x) for n, x in zip(self.names, value))
        self.pair_check(name, pair)
        return pair

    def at(self, name, value, t):
        return self.check(name, value)


class NAdam(Optimizer):
    """NAdam (Dozat 2016; torch.optim.NAdam, for-loop order), with torch's momentum decay.

    Per element at step t, ``k = t + 1`` (``lr``, ``betas[0]``, ``weight_decay`` may be
    schedules); the momentum schedule ``mu_k = beta1 * (1 - 0.5 * 0.96**(k *
    momentum_decay))`` and its running product ``P_k = P_{k-1} * mu_k`` (rounded to
    float32 at every step, as torch stores it) are host-side doubles::

        g = -grad if maximize else grad
        p = p * (1 - lr * weight_decay)            (decoupled_weight_decay)
        g = g + weight_decay * p                   (otherwise, if weight_decay != 0)
        m = lerp(m, g, 1 - beta1)
        v = v * beta2;  v = v + ((1 - beta2) * g) * g
        d = sqrt(v / (1 - beta2**k)) + eps
        p = p + (-lr * (1 - mu_k) / (1 - P_k) * g) / d
        p = p + (-lr * mu_{k+1} / (1 - P_k * mu_{k+1}) * m) / d

    Results match torch's for-loop path to float rounding, and the two backends bit for
    bit. The group's ``P_k`` is in ``state_dict()["groups"]`` (``"mu_product"``).
    """

    _rules = {
        "lr": _Rule("sched", _NONNEG), "betas": _Rule("betas", _UNIT_OPEN, _UNIT_OPEN),
        "eps": _Rule("sched", _NONNEG), "weight_decay": _Rule("sched", _NONNEG),
        "momentum_decay": _Rule("sched", _NONNEG), "decoupled_weight_decay": _Rule("flag"),
        "maximize": _Rule("flag"),
    }
    _slot_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _init_state(self, group, p):
        return {"exp_avg": _zeros(p), "exp_avg_sq": _zeros(p)}

    def _init_group_state(self, group):
        return {"mu_product": 1.0}

    def _group_spec(self, gi, group, gstate, t):
        lr = self._at(group, "lr", t)
        beta1, beta2 = self._betas(group, t)
        spec, mu_product = kernels.nadam_spec(
            self._local(gi, t) + 1, lr, beta1, beta2, self._at(group, "eps", t),
            self._at(group, "weight_decay", t), self._at(group, "momentum_decay", t),
            gstate["mu_product"], self._flag(group, "maximize"),
            self._flag(group, "decoupled_weight_decay"))
        return spec, lr, {"mu_product": mu_product}

    def _check_group_value(self, name, key, val):
        return kernels.real_hp(name, val, low=0.0, high=1.0)


class RAdam(Optimizer):
    """RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond";
    torch.optim.RAdam, for-loop order).

    Per element at step t, ``k = t + 1``, ``bc1 = 1 - beta1**k``, ``bc2 = 1 - beta2**k``,
    ``rho_inf = 2/(1 - beta2) - 1``, ``rho_k = rho_inf - 2k * beta2**k / bc2`` and the
    rectification ``r = sqrt((rho_k-4)(rho_k-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_k))``
    in double (``lr``, ``betas[0]``, ``weight_decay`` may be schedules)::

        g = -grad if maximize else grad
        p = p * (1 - lr * weight_decay)            (decoupled_weight_decay)
        g = g + weight_decay * p                   (otherwise, if weight_decay != 0)
        m = lerp(m, g, 1 - beta1)
        v = v * beta2;  v = v + ((1 - beta2) * g) * g
        u = (m / bc1) * lr
        u = (u * ((1 / (sqrt(v) + eps)) * sqrt(bc2))) * r     (only if rho_k > 5)
        p = p - u

    Results match torch's for-loop path to float rounding, and the two backends bit for
    bit.
    """

    _rules = dict(NAdam._rules)
    del _rules["momentum_decay"]
    _slot_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _init_state(self, group, p):
        return {"exp_avg": _zeros(p), "exp_avg_sq": _zeros(p)}

    def _group_spec(self, gi, group, gstate, t):
        lr = self._at(group, "lr", t)
        beta1, beta2 = self._betas(group, t)
        spec = kernels.radam_spec(self._local(gi, t) + 1, lr, beta1, beta2,
                                  self._at(group, "eps", t), self._at(group, "weight_decay", t),
                                  self._flag(group, "maximize"),
                                  self._flag(group, "decoupled_weight_decay"))
        return spec, lr, {}


class Adamax(Optimizer):
    """Adamax (Kingma & Ba 2015, section 7.1; torch.optim.Adamax, for-loop order).

    Per element at step t, ``k = t + 1`` (``lr``, ``betas[0]``, ``weight_decay`` may be
    schedules)::

        g = -grad if maximize else grad
        g = g + weight_decay * p                   (if weight_decay != 0)
        m = lerp(m, g, 1 - beta1)
        u = max(u * beta2, |g| + eps)              (NaN-propagating)
        p = p + ((-lr / (1 - beta1**k)) * m) / u

    Results match torch's for-loop path to float rounding, and the two backends bit for
    bit.
    """

    _rules = {
        "lr": _Rule("sched", _NONNEG), "betas": _Rule("betas", _UNIT_OPEN, _UNIT_OPEN),
        "eps": _Rule("sched", _NONNEG), "weight_decay": _Rule("sched", _NONNEG),
        "maximize": _Rule("flag"),
    }
    _slot_names = ("exp_avg", "exp_inf")
    _nonneg_slots = Optimizer._nonneg_slots | {"exp_inf"}

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _init_state(self, group, p):
        return {"exp_avg": _zeros(p), "exp_inf": _zeros(p)}

    def _group_spec(self, gi, group, gstate, t):
        lr = self._at(group, "lr", t)
        beta1, beta2 = self._betas(group, t)
        spec = kernels.adamax_spec(self._local(gi, t) + 1, lr, beta1, beta2,
                                   self._at(group, "eps", t),
                                   self._at(group, "weight_decay", t),
                                   self._flag(group, "maximize"))
        return spec, lr, {}


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012; torch.optim.Adadelta, for-loop order).

    Per element (``lr``, ``weight_decay`` may be schedules)::

        g = -grad if maximize else grad
        g = g + weight_decay * p                   (if weight_decay != 0)
        s = s * rho;  s = s + ((1 - rho) * g) * g
        delta = (sqrt(a + eps) / sqrt(s + eps)) * g
        a = a * rho;  a = a + ((1 - rho) * delta) * delta
        p = p + (-lr) * delta

    Results match torch's for-loop path to float rounding, and the two backends bit for
    bit.
    """

    _rules = {
        "lr": _Rule("sched", _NONNEG), "rho": _Rule("sched", {"low": 0.0, "high": 1.0}),
        "eps": _Rule("sched", _NONNEG), "weight_decay": _Rule("sched", _NONNEG),
        "maximize": _Rule("flag"),
    }
    _slot_names = ("square_avg", "acc_delta")
    _nonneg_slots = Optimizer._nonneg_slots | {"acc_delta"}

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _init_state(self, group, p):
        return {"square_avg": _zeros(p), "acc_delta": _zeros(p)}

    def _group_spec(self, gi, group, gstate, t):
        lr = self._at(group, "lr", t)
        spec = kernels.adadelta_spec(lr, self._at(group, "rho", t), self._at(group, "eps", t),
                                     self._at(group, "weight_decay", t),
                                     self._flag(group, "maximize"))
        return spec, lr, {}


class ASGD(Optimizer):
    """Averaged SGD (Polyak & Juditsky 1992; torch.optim.ASGD, for-loop order).

    Per element at step t, ``k = t + 1``, with the step size ``eta`` and averaging weight
    ``mu`` computed at the end of the previous step (``eta = lr`` and ``mu = 1`` at a
    group's first step; both rounded to float32, as torch stores them; ``lr``,
    ``weight_decay`` may be schedules)::

        g = -grad if maximize else grad
        g = g + weight_decay * p                   (if weight_decay != 0)
        p = p * (1 - lambd * eta);  p = p + (-eta) * g
        ax = p  if mu == 1,  else  ax = ax + (p - ax) * mu
        eta = lr / (1 + lambd * lr * k)**alpha;  mu = 1 / max(1, k - t0)   (for step k+1)

    ``ax`` (the state buffer) is the averaged iterate; it never feeds back into the
    update. Results match torch's for-loop path to float rounding, and the two backends
    bit for bit. The group's ``eta`` and ``mu`` are in ``state_dict()["groups"]``.
    """

    _rules = {
        "lr": _Rule("sched", _NONNEG), "lambd": _Rule("sched", _NONNEG), "alpha": _Rule("sched"),
        "t0": _Rule("real"), "weight_decay": _Rule("sched", _NONNEG),
        "maximize": _Rule("flag"),
    }
    _slot_names = ("ax",)

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                                      weight_decay=weight_decay, maximize=maximize))

    def _init_state(self, group, p):
        return {"ax": _zeros(p)}

    def _init_group_state(self, group):
        lr = group["lr"]
        return {"eta": 0.0 if _is_schedule(lr) else kernels._f32(lr), "mu": 1.0}

    def _group_spec(self, gi, group, gstate, t):
        lr = self._at(group, "lr", t)
        lambd = self._at(group, "lambd", t)
        k = self._local(gi, t)
        # a group's first step uses the lr of that moment (torch creates the state then)
        eta, mu = (kernels._f32(lr), 1.0) if k == 0 else (gstate["eta"], gstate["mu"])
        spec = kernels.asgd_spec(eta, mu, lambd, self._at(group, "weight_decay", t),
                                 self._flag(group, "maximize"))
        new_eta, new_mu = kernels.asgd_next(k + 1, lr, lambd, self._at(group, "alpha", t),
                                            self._at(group, "t0", t))
        return spec, lr, {"eta": new_eta, "mu": new_mu}


def _check_etas(name, pair):
    if not 0.0 < pair[0] < 1.0 < pair[1]:
        raise ValueError(f"{name} must satisfy 0 < etaminus < 1 < etaplus, got {pair!r}")


def _check_step_sizes(name, pair):
    if not 0.0 <= pair[0] <= pair[1]:
        raise ValueError(f"{name} must satisfy 0 <= step_size_min <= step_size_max, got "
                         f"{pair!r}")


class Rprop(Optimizer):
    """Rprop (Riedmiller & Braun 1993; torch.optim.Rprop, for-loop order).

    Every element has its own step size ``step_size`` (a state buffer, starting at
    ``lr``; the lr is not read after that, as in torch). Per element::

        g = -grad if maximize else grad
        s = sign(g * prev)
        f = etaplus if s > 0, etaminus if s < 0, 1 if s == 0   (NaN stays NaN)
        step_size = clip(step_size * f, step_size_min, step_size_max)
        g = 0 where s < 0
        p = p - sign(g) * step_size;  prev = g

    Results match torch's for-loop path to float rounding, and the two backends bit for
    bit.
    """

    _rules = {
        "lr": _Rule("real", _NONNEG),
        "etas": _PairRule(("etaminus", "etaplus"), _check_etas),
        "step_sizes": _PairRule(("step_size_min", "step_size_max"), _check_step_sizes),
        "maximize": _Rule("flag"),
    }
    _slot_names = ("prev", "step_size")
    _nonneg_slots = Optimizer._nonneg_slots | {"step_size"}

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, etas=etas, step_sizes=step_sizes,
                                      maximize=maximize))

    def _init_state(self, group, p):
        return {"prev": _zeros(p), "step_size": np.full_like(p, group["lr"])}

    def _group_spec(self, gi, group, gstate, t):
        etaminus, etaplus = self._at(group, "etas", t)
        lo, hi = self._at(group, "step_sizes", t)
        spec = kernels.rprop_spec(etaminus, etaplus, lo, hi, self._flag(group, "maximize"))
        return spec, self._at(group, "lr", t), {}
