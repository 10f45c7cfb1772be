"""fastlr's optimizers as ``torch.optim.Optimizer`` subclasses (CPU, float32/float64).

``fastlr.torch.optim.AdamW(model.parameters(), lr=1e-3)`` is a drop-in for
``torch.optim.AdamW``: the same constructor arguments and defaults, ``step(closure=None)``,
``zero_grad``, editable ``param_groups`` (an lr written by any LR scheduler takes effect at
the next step), ``add_param_group``, torch's step and state-dict hooks, and
``state_dict()``/``load_state_dict()`` in torch.optim's own layout, so a checkpoint moves
between ``torch.optim.AdamW`` and this class in both directions.

The update itself is not written here. Each optimizer owns inner ``fastlr.optim``
optimizers (the compiled numpy classes) built over numpy views of the tensors' memory:
a step pushes the param groups' current hyperparameters into the inner optimizer and
runs its single nogil C call over every param that has a gradient. Nothing is copied:
params are updated in place, gradients are read where autograd left them, and the state
tensors in ``optimizer.state`` are ``torch.from_numpy`` views of the inner optimizer's
buffers. So the results equal the numpy classes (``fastlr.AdamW`` ...) bit for bit, and
torch.optim's for-loop path (``foreach=False``) to float rounding.

Supported tensors: dense CPU float32/float64 params (contiguous or another dense layout
such as channels_last), also as the local shards of ``DTensor`` params (FSDP2). A param
with another layout (a non-dense view) raises a ``ValueError`` at construction: the C
kernels update memory in place, and a working copy would have to be written back; make
the tensor contiguous first. CUDA, sparse, complex, bfloat16 and float16 tensors raise
a ``TypeError``/``ValueError`` that says to use torch.optim for them. Params of mixed
float32/float64 are fine. Params whose ``grad`` is None are skipped, as torch does.

Per-param counters (Adam's ``state[p]["step"]``) follow torch: a param that missed a
step has a smaller count. Params whose counters differ are stepped by separate inner
optimizers (one C call each); in the common case, every param has a gradient at every
step, there is one. The inner optimizers are rebuilt (keeping the state, which costs a
copy of it) when the set of params with gradients, the param groups or a structural
option (``amsgrad``, ``centered``, ``momentum`` turning on) change, and after
``load_state_dict``.

``step`` is excluded from ``torch.compile`` (``torch.compiler.disable``): it is a C call
on memory, not a graph, and tracing it would recompile for every new lr value. A
compiled training step around it compiles once. ``torch.amp.GradScaler`` works as with
torch.optim's for-loop optimizers: these classes do not set
``_step_supports_amp_scaling``, so the scaler unscales the gradients in place, checks
them for infs and NaNs, and calls ``step`` only when they are finite. DDP needs nothing
(every rank steps on the averaged gradients); under FSDP2 ``fully_shard`` the kernels
update each rank's local shard in place and the state tensors are DTensors like the
params, as distributed checkpointing expects. The C kernels use
:func:`fastlr.set_num_threads` threads, not ``torch.get_num_threads()``.

``import fastlr`` never imports torch; importing this module without torch raises the
``ImportError`` of :mod:`fastlr.torch`, which says how to install it.
"""
from __future__ import annotations

import operator

# torch is there: fastlr/torch/__init__.py (always imported first) raised the ImportError
# with the install hint otherwise
import torch
from torch.optim import Optimizer as _TorchOptimizer

import numpy as np

from .. import optim as _fastlr_optim

try:  # DTensor params (FSDP2 fully_shard); absent in torch builds without distributed
    from torch.distributed.tensor import DTensor as _DTensor
except ImportError:  # pragma: no cover - torch always ships it on Linux
    _DTensor = None

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Lion", "ScheduleFreeSGD",
           "ScheduleFreeAdamW"]

_FLOATS = (torch.float32, torch.float64)
_USE_TORCH = "use torch.optim for it (fastlr.torch.optim runs on CPU float32/float64 " \
             "dense tensors)"
_disable = torch.compiler.disable
_data_ptr = torch.Tensor.data_ptr
_Tensor = torch.Tensor
_strided = torch.strided
_is = operator.is_


def _inner_state(inner):
    """The live state of an inner fastlr optimizer: its per-param buffer dicts (numpy
    arrays, in param order) and its per-group state dicts.

    The one place this module reads internals of
    :class:`fastlr.reference.optim.Optimizer` (``_state``, ``_group_state``): the buffers
    are exposed to torch without a copy, and the schedule-free averaging weights are
    mirrored into the torch param groups after each step.
    """
    return inner._state, inner._group_state


# ---- tensors -----------------------------------------------------------------------------

def _local(t):
    """The tensor holding ``t``'s memory on this rank (a DTensor's local shard)."""
    if _DTensor is not None and isinstance(t, _DTensor):
        return t.to_local()
    return t


def _dense(t):
    """Whether ``t`` covers one gap-free block of memory (contiguous, channels_last, ...)."""
    if t.is_contiguous():
        return True
    expect = 1
    for stride, size in sorted((st, sz) for sz, st in zip(t.shape, t.stride()) if sz != 1):
        if stride != expect:
            return False
        expect *= size
    return True


def _flat(t):
    """A 1-D tensor over ``t``'s memory (``t`` dense), in memory order."""
    if t.is_contiguous():
        return t.view(-1)
    return t.as_strided((t.numel(),), (1,))


def _check_tensor(name, t):
    """A param (or its local shard) the C kernels can update in place."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    local = _local(t)
    if local.layout != torch.strided:
        raise ValueError(f"{name} is a {local.layout} tensor; fastlr.torch.optim updates "
                         f"dense tensors only: {_USE_TORCH}")
    if local.device.type != "cpu":
        raise ValueError(f"{name} is on {local.device}; fastlr.torch.optim runs on the CPU: "
                         f"{_USE_TORCH}")
    if local.dtype not in _FLOATS:
        raise TypeError(f"{name} has dtype {local.dtype}; fastlr.torch.optim supports "
                        f"torch.float32 and torch.float64: {_USE_TORCH}")
    if not _dense(local):
        raise ValueError(f"{name} is not dense in memory (shape {tuple(local.shape)}, strides "
                         f"{local.stride()}); the C kernels update the param's memory in "
                         "place: make it contiguous first (p.data = p.data.contiguous()), or "
                         "use torch.optim for it")
    return local


def _array(t):
    """A numpy view of a dense tensor's memory: in its shape when contiguous, else 1-D in
    memory order (the kernels are elementwise, so only the order has to agree)."""
    return t.numpy() if t.is_contiguous() else _flat(t).numpy()


def _grad_array(i, p_array, p_local, g):
    """``(array, is_view)``: the gradient of param ``i`` as a numpy array laid out as
    the param's array ``p_array`` (see :func:`_array`); a view of the gradient's memory
    unless its layout differs from the param's (then a copy, which must not be reused at
    a later step)."""
    if type(g) is _Tensor and not g.requires_grad and g.is_contiguous():
        # the common case in a few cheap reads: numpy() itself refuses what is not a
        # dense CPU tensor, and the result must match the param's array exactly
        try:
            a = g.numpy()
        except (TypeError, RuntimeError, ValueError):
            a = None
        if a is not None and a.shape == p_array.shape and a.dtype == p_array.dtype:
            return a, True
    if _DTensor is not None and isinstance(g, _DTensor):
        g = g.to_local()
    g = g.detach()
    if g.layout != torch.strided:
        raise ValueError(f"params[{i}].grad is a {g.layout} tensor; fastlr.torch.optim needs "
                         f"dense gradients: {_USE_TORCH}")
    if g.device.type != "cpu":
        raise ValueError(f"params[{i}].grad is on {g.device}, not the CPU: {_USE_TORCH}")
    if g.dtype != p_local.dtype:
        raise TypeError(f"params[{i}].grad has dtype {g.dtype} but the param has dtype "
                        f"{p_local.dtype}")
    if g.shape != p_local.shape:
        raise ValueError(f"params[{i}].grad has shape {tuple(g.shape)} but the param has "
                         f"shape {tuple(p_local.shape)}")
    g = g.resolve_neg()
    if p_local.is_contiguous():
        if g.is_contiguous():
            return g.numpy(), True
        return g.contiguous().numpy(), False
    if g.stride() == p_local.stride():
        return _flat(g).numpy(), True
    g = torch.empty_like(p_local).copy_(g)   # preserve_format: the param's strides
    return _flat(g).numpy(), False


def _scalar(value):
    """A hyperparameter as the inner optimizer takes it (tensors -> Python floats)."""
    if isinstance(value, torch.Tensor):
        return value.item()
    if isinstance(value, tuple):
        return tuple(_scalar(x) for x in value)
    return value


def _scalar_dtype():
    # torch.optim's _get_scalar_dtype(): the dtype of the "step" tensors
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


# ---- the inner optimizers ------------------------------------------------------------------

class _Bucket:
    """One inner fastlr optimizer over the params that share a counter (its step count).

    ``params``/``locals``/``index``/``pos``: the member params, their (local, detached)
    tensors, their indices in the flat param list and their positions in the step's list
    of params with gradients. The inner optimizer's param order is group by group; a
    schedule-free group without gradients takes part through a 0-element array (it still
    advances, as in schedulefree).
    """

    __slots__ = ("inner", "name", "counter", "params", "locals", "index", "pos", "groups",
                 "views", "steps", "exposed", "grad_src", "grad_ptr", "grad_arr",
                 "inner_grads", "member_slot", "dtensor", "arrays")


class _KernelOptimizer(_TorchOptimizer):
    """Base of the torch front ends: a torch Optimizer whose update is a fastlr step.

    A subclass sets ``_inner`` (the ``fastlr.optim`` class name), ``_hyper`` (the
    group options pushed into the inner groups; same names in torch and fastlr),
    ``_per_param_step`` (torch keeps a ``state[p]["step"]`` tensor) and ``_counted``
    (the update depends on that count, so params are bucketed by it), and may override
    ``_structure(group)`` (options whose change needs other state buffers).
    """

    _inner: str = ""
    _hyper: tuple = ()
    _per_param_step = True
    _counted = True
    #: every param group takes part in every step (schedule-free's group counter)
    _all_groups = False

    def __init__(self, params, defaults):
        self._buckets = None
        self._layout = None
        self._versioned = []
        self._has_dtensor = False
        self._all_have = True
        super().__init__(params, defaults)

    # -- hooks of the concrete classes -----------------------------------------------------
    def _structure(self, group):
        return ()

    def _inner_name(self, group):
        return self._inner

    def _counter(self, group, state):
        """The count the update depends on (bucket key); 0 for a fresh param."""
        if not self._counted or "step" not in state:
            return 0
        return int(_local(state["step"]).item())

    def _inner_group_state(self, group, counter):
        """The inner group state to load for a bucket (None: the inner's fresh state)."""
        return None

    def _inner_extra(self, groups):
        return {}

    def _after_step(self, b):
        pass

    def _before_step(self):
        pass

    def _init_group_state(self, group):
        pass

    # -- construction ----------------------------------------------------------------------
    def _options(self, group):
        return {k: _scalar(group[k]) for k in self._hyper}

    def _check_options(self, group):
        """Check a group's options with the inner class's own checks (its errors)."""
        if group.get("differentiable"):
            raise ValueError(f"{type(self).__name__} runs fastlr's C kernels, which autograd "
                             "cannot differentiate through: differentiable=True needs "
                             "torch.optim")
        cls = getattr(_fastlr_optim, self._inner_name(group))
        cls([{"params": [np.zeros(1)], **self._options(group)}])

    @_disable
    def add_param_group(self, param_group):
        """Add a param group as torch does (the defaults fill the missing options); its
        tensors and options are checked first, and a failed call adds nothing."""
        n = len(self.param_groups)
        super().add_param_group(param_group)
        try:
            group = self.param_groups[-1]
            start = sum(len(g["params"]) for g in self.param_groups[:-1])
            for k, p in enumerate(group["params"]):
                _check_tensor(f"params[{start + k}]", p)
            self._check_options(group)
        except Exception:
            del self.param_groups[n:]
            raise
        self._init_group_state(group)
        self._buckets = None

    def __setstate__(self, state):
        super().__setstate__(state)
        # load_state_dict and unpickling land here: the state tensors may be new ones
        self._buckets = None
        self._layout = None
        self._versioned = []

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}

    @_disable
    def zero_grad(self, set_to_none=True):
        """torch's ``zero_grad``. With ``set_to_none`` the optimizer also forgets its
        views of the old gradients, so they are freed as with torch.optim."""
        if set_to_none and self._buckets:
            for b in self._buckets:
                n = len(b.params)
                b.grad_src, b.grad_ptr, b.grad_arr = [None] * n, [0] * n, [None] * n
        super().zero_grad(set_to_none)

    # -- buckets ---------------------------------------------------------------------------
    def _build(self, members):
        """The inner optimizers over ``members`` (``[(flat index, group index, param)]``)."""
        by_key = {}
        for pos, (i, gi, p) in enumerate(members):
            group = self.param_groups[gi]
            key = (self._inner_name(group), self._counter(group, self.state.get(p, {})))
            by_key.setdefault(key, []).append((pos, i, gi, p))
        if self._all_groups:
            present = {gi for _, gi, _ in members}
            for gi, group in enumerate(self.param_groups):
                if gi not in present:
                    key = (self._inner_name(group), self._counter(group, {}))
                    by_key.setdefault(key, []).append((None, None, gi, None))
        buckets = [self._make_bucket(name, counter, sorted(items, key=lambda x: x[2]))
                   for (name, counter), items in by_key.items()]
        self._versioned = [t for b in buckets for t in b.locals]
        return buckets

    def _make_bucket(self, name, counter, items):
        b = _Bucket()
        b.name, b.counter = name, counter
        real = [it for it in items if it[3] is not None]
        b.pos = [pos for pos, _, _, _ in real]
        b.index = [i for _, i, _, _ in real]
        b.params = [p for _, _, _, p in real]
        b.dtensor = any(_DTensor is not None and isinstance(p, _DTensor) for p in b.params)
        # checked again: p.data may have been replaced since the group was added
        b.locals = [_check_tensor(f"params[{i}]", p).detach()
                    for i, p in zip(b.index, b.params)]
        b.groups = sorted({gi for _, _, gi, _ in items})
        inner_groups, arrays_of = [], {gi: [] for gi in b.groups}
        b.member_slot, b.inner_grads, b.arrays = [], [], []
        slot = 0
        for gi in b.groups:
            mine = [j for j, it in enumerate(real) if it[2] == gi]
            if mine:
                for j in mine:
                    arrays_of[gi].append(_array(b.locals[j]))
                    b.arrays.append(arrays_of[gi][-1])
                    b.member_slot.append(slot)
                    b.inner_grads.append(None)
                    slot += 1
            else:                         # a group taking part without gradients
                arrays_of[gi].append(np.zeros(0, np.float32))
                b.inner_grads.append(np.zeros(0, np.float32))
                slot += 1
            inner_groups.append({"params": arrays_of[gi], **self._options(self.param_groups[gi])})
        b.inner = inner = getattr(_fastlr_optim, name)(inner_groups)
        bufs, fresh = _inner_state(inner)
        loaded = counter != 0
        b.views = []
        for j, p in enumerate(b.params):
            local, old_state = b.locals[j], self.state.get(p, {})
            views = {}
            for key, arr in bufs[b.member_slot[j]].items():
                view = torch.from_numpy(arr)           # the param's shape when contiguous
                if not local.is_contiguous():
                    view = view.as_strided(local.shape, local.stride())
                old = old_state.get(key)
                if old is not None:
                    view.copy_(_local(old))
                    loaded = True
                elif key == "z" and counter:
                    view.copy_(local)          # schedule-free: z starts at the param
                views[key] = view
            b.views.append(views)
        if self._per_param_step:
            b.steps = np.zeros(len(b.params), dtype=np.float64
                               if _scalar_dtype() == torch.float64 else np.float32)
            for j, p in enumerate(b.params):
                old = self.state.get(p, {}).get("step")
                if old is not None:
                    b.steps[j] = float(_local(old))
        else:
            b.steps = None
        groups = [self.param_groups[gi] for gi in b.groups]
        gstates = [self._inner_group_state(g, counter) for g in groups]
        if loaded or any(gs is not None for gs in gstates):
            # the counters and group state through the public resume path (the buffers,
            # already filled above, are handed back as they are)
            inner.load_state_dict({
                "optimizer": name, "step": counter, "skipped_steps": 0, "last_lrs": None,
                "state": [dict(s) for s in bufs],
                "groups": [dict(f) if gs is None else gs for gs, f in zip(gstates, fresh)],
                **self._inner_extra(groups),
            })
        n = len(b.params)
        b.grad_src, b.grad_ptr, b.grad_arr = [None] * n, [0] * n, [None] * n
        b.exposed = False
        return b

    def _expose(self, b):
        """Put the bucket's buffers into ``self.state`` in torch's layout. Done after the
        bucket's first successful step: torch creates state at a param's first step."""
        steps = None if b.steps is None else torch.from_numpy(b.steps)
        for j, p in enumerate(b.params):
            state = self.state[p]
            if steps is not None:
                state["step"] = steps[j]       # first, as in torch.optim's state
            for key, view in b.views[j].items():
                state[key] = self._wrap(p, view)
        b.exposed = True

    @staticmethod
    def _wrap(p, view):
        """A state tensor like torch.optim's ``zeros_like(p)``: a DTensor for a DTensor."""
        if _DTensor is not None and isinstance(p, _DTensor):
            return _DTensor.from_local(view, p.device_mesh, p.placements, run_check=False,
                                       shape=p.shape, stride=p.stride())
        return view

    def _layout_of(self, flat, grads):
        """What the buckets depend on: the params (by identity), which have gradients,
        their memory, and the structural options of every group."""
        if any(_DTensor is not None and isinstance(p, _DTensor) for p in flat):
            ptrs = [_local(p).data_ptr() for p in flat]
        else:
            ptrs = list(map(_data_ptr, flat))
        return (flat, [g is None for g in grads], ptrs,
                [self._structure(g) for g in self.param_groups])

    def _same_layout(self, flat, grads):
        """The fast check of every step: nothing the buckets depend on changed."""
        old = self._layout
        if self._buckets is None or old is None:
            return False
        if len(flat) != len(old[0]) or not all(map(_is, flat, old[0])):
            return False
        if [g is None for g in grads] != old[1]:
            return False
        if [self._structure(g) for g in self.param_groups] != old[3]:
            return False
        if self._has_dtensor:
            return [_local(p).data_ptr() for p in flat] == old[2]
        return list(map(_data_ptr, flat)) == old[2]

    def _rebuild(self, flat, grads):
        members, i = [], 0
        for gi, group in enumerate(self.param_groups):
            for p in group["params"]:
                if grads[i] is not None:
                    members.append((i, gi, p))
                i += 1
        self._buckets = self._build(members) if members or self._all_groups else []
        self._layout = self._layout_of(flat, grads)
        self._has_dtensor = any(b.dtensor for b in self._buckets)
        self._all_have = len(members) == len(flat)

    def _grads_of(self, b, grads):
        """The bucket's gradients as numpy arrays in the inner order. The array of a
        gradient is reused while that same tensor is the grad, at the same memory (the
        benchmark case, ``zero_grad(set_to_none=False)``, DDP's bucket views)."""
        src, ptr, arr = b.grad_src, b.grad_ptr, b.grad_arr
        if len(self._buckets) > 1 or len(b.pos) != len(grads):
            grads = [grads[k] for k in b.pos]
        if b.dtensor or not all(map(_is, grads, src)) \
                or list(map(_data_ptr, grads)) != ptr:
            if b.dtensor:
                for j, g in enumerate(grads):
                    if g is src[j] and _local(g).data_ptr() == ptr[j]:
                        continue
                    a, is_view = _grad_array(b.index[j], b.arrays[j], b.locals[j], g)
                    arr[j] = a
                    src[j], ptr[j] = (g, _local(g).data_ptr()) if is_view else (None, 0)
            else:
                # new gradient tensors at every step (the usual loop): _grad_array's fast
                # case inlined, as this runs once per tensor per step
                arrays = b.arrays
                for j, g in enumerate(grads):
                    gp = g.data_ptr() if g.layout == _strided else -1
                    if g is src[j] and gp == ptr[j]:
                        continue
                    a = None
                    if type(g) is _Tensor and not g.requires_grad and g.is_contiguous():
                        try:
                            a = g.numpy()
                        except (TypeError, RuntimeError, ValueError):
                            pass
                        else:
                            pa = arrays[j]
                            if a.shape != pa.shape or a.dtype != pa.dtype:
                                a = None
                    if a is None:
                        a, is_view = _grad_array(b.index[j], arrays[j], b.locals[j], g)
                    else:
                        is_view = True
                    arr[j] = a
                    src[j], ptr[j] = (g, gp) if is_view else (None, 0)
        if len(b.inner_grads) == len(arr):
            return arr
        out = b.inner_grads
        for j, slot in enumerate(b.member_slot):
            out[slot] = arr[j]
        return out

    # -- the step --------------------------------------------------------------------------
    @_disable
    def step(self, closure=None):
        """One update of every param that has a gradient; returns ``closure()``'s loss.

        ``closure`` (optional) re-evaluates the model and returns the loss; it runs with
        grad enabled before the gradients are read, as in torch.optim. Everything the
        step reads is checked before any tensor is written.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._before_step()
        flat = [p for group in self.param_groups for p in group["params"]]
        grads = [p.grad for p in flat]
        if not self._same_layout(flat, grads):
            self._rebuild(flat, grads)
        if not self._buckets:
            return loss
        if not self._all_have:
            grads = [g for g in grads if g is not None]
        inputs = []
        for b in self._buckets:
            for gi, group in zip(b.groups, b.inner.param_groups):
                group.update(self._options(self.param_groups[gi]))
            inputs.append(self._grads_of(b, grads))
        if len(self._buckets) > 1:
            # each inner optimizer checks its options at its own step: check all of them
            # first, so that a bad option leaves every bucket untouched
            for gi in sorted({gi for b in self._buckets for gi in b.groups}):
                self._check_options(self.param_groups[gi])
        for b, garrays in zip(self._buckets, inputs):
            b.inner.step(garrays)
            if b.steps is not None:
                b.steps += 1
            if not b.exposed:
                self._expose(b)
            self._after_step(b)
        # torch.optim's in-place updates bump the params' version counters (autograd's
        # check for a param modified after it was saved for backward); numpy writes do not
        torch.autograd.graph.increment_version(self._versioned)
        return loss


# ---- the torch.optim family --------------------------------------------------------------

class SGD(_KernelOptimizer):
    """``torch.optim.SGD`` (same arguments and defaults) on fastlr's :class:`fastlr.SGD`.

    ``state[p]["momentum_buffer"]`` appears at a param's first step with
    ``momentum != 0`` (a copy of the gradient, then ``buf = momentum * buf + (1 -
    dampening) * g``), as in torch. ``foreach`` and ``fused`` are accepted and recorded
    (the step is always one C call); ``differentiable=True`` raises.
    """

    _inner = "SGD"
    _hyper = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")
    _per_param_step = False

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def _structure(self, group):
        return (_scalar(group["momentum"]) != 0,)

    def _counter(self, group, state):
        # 1: the param has a momentum buffer (torch: not the first momentum step)
        return int(_scalar(group["momentum"]) != 0 and "momentum_buffer" in state)

    def _inner_group_state(self, group, counter):
        return {"momentum_initialized": bool(counter)}


class Adam(_KernelOptimizer):
    """``torch.optim.Adam`` (same arguments and defaults) on :class:`fastlr.Adam`, or on
    :class:`fastlr.AdamW` for a group with ``decoupled_weight_decay=True``.

    State per param, created at its first step as in torch: ``step`` (a 0-dim float32
    tensor), ``exp_avg``, ``exp_avg_sq``, and ``max_exp_avg_sq`` with ``amsgrad``.
    ``foreach``, ``fused`` and ``capturable`` are accepted and recorded (no effect on the
    CPU C kernels); ``differentiable=True`` raises.
    """

    _inner = "Adam"
    _hyper = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable,
                                      fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _inner_name(self, group):
        return "AdamW" if group.get("decoupled_weight_decay") else "Adam"

    def _structure(self, group):
        return (bool(group["amsgrad"]), self._inner_name(group))


class AdamW(Adam):
    """``torch.optim.AdamW`` (same arguments and defaults, ``weight_decay=1e-2``) on
    :class:`fastlr.AdamW`: Adam with decoupled weight decay, ``p = p * (1 - lr *
    weight_decay)`` before the update. State as ``Adam``; a checkpoint moves
    between ``torch.optim.AdamW`` and this class in both directions."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:   # as torch.optim.AdamW: always decoupled
            group["decoupled_weight_decay"] = True


class RMSprop(_KernelOptimizer):
    """``torch.optim.RMSprop`` (same arguments and defaults) on :class:`fastlr.RMSprop`.

    State per param: ``step``, ``square_avg``, ``momentum_buffer`` (``momentum > 0``),
    ``grad_avg`` (``centered``), created at its first step as in torch.
    """

    _inner = "RMSprop"
    _hyper = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize")
    _counted = False

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps,
                                      centered=centered, weight_decay=weight_decay,
                                      capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def _structure(self, group):
        momentum = _scalar(group["momentum"])
        # a schedule has a buffer from the start (as in fastlr.RMSprop)
        return (bool(group["centered"]), callable(momentum) or momentum > 0)


class Adagrad(_KernelOptimizer):
    """``torch.optim.Adagrad`` (same arguments and defaults) on :class:`fastlr.Adagrad`.

    As in torch, every param gets its state when its group is added: ``step`` (0) and
    ``sum`` (filled with ``initial_accumulator_value``).
    """

    _inner = "Adagrad"
    _hyper = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps",
              "maximize")

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0,
                 initial_accumulator_value=0, eps=1e-10, foreach=None, *, maximize=False,
                 differentiable=False, fused=None):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps,
                                      weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, fused=fused))

    def _init_group_state(self, group):
        init = _scalar(group["initial_accumulator_value"])
        for p in group["params"]:
            state = self.state[p]
            if not state:
                state["step"] = torch.tensor(0.0, dtype=_scalar_dtype())
                state["sum"] = torch.full_like(p, init, memory_format=torch.preserve_format)


class Lion(_KernelOptimizer):
    """Lion (Chen et al. 2023) on :class:`fastlr.Lion`, with its arguments and defaults.

    State per param: ``exp_avg`` (lucidrains/lion-pytorch's name), created at its first
    step.
    """

    _inner = "Lion"
    _hyper = ("lr", "betas", "weight_decay")
    _per_param_step = False
    _counted = False

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))


# ---- schedule-free -------------------------------------------------------------------------

class _ScheduleFree(_KernelOptimizer):
    """The schedule-free front ends: schedulefree's group keys (``k``, ``train_mode``,
    ``weight_sum``, ``lr_max``, ``scheduled_lr``) and its ``train()``/``eval()``."""

    _per_param_step = False
    _all_groups = True
    _group_keys = {"k": 0, "train_mode": True, "weight_sum": 0.0, "lr_max": -1.0,
                   "scheduled_lr": 0.0}

    def add_param_group(self, param_group):
        for key, value in self._group_keys.items():
            if key in param_group:
                continue
            if key == "train_mode" and self.param_groups:
                value = self.param_groups[0]["train_mode"]
            param_group[key] = value
        super().add_param_group(param_group)

    def _counter(self, group, state):
        return int(group["k"])

    def _inner_group_state(self, group, counter):
        return {"lr_max": float(group["lr_max"]), "weight_sum": float(group["weight_sum"])}

    def _inner_extra(self, groups):
        return {"train_mode": all(bool(g["train_mode"]) for g in groups)}

    def _after_step(self, b):
        _, gstates = _inner_state(b.inner)
        lrs = b.inner.last_lrs
        for gi, gs, lr in zip(b.groups, gstates, lrs):
            group = self.param_groups[gi]
            group.update(k=b.inner.step_count, lr_max=gs["lr_max"],
                         weight_sum=gs["weight_sum"], scheduled_lr=lr)

    def _before_step(self):
        if not all(g["train_mode"] for g in self.param_groups):
            raise RuntimeError(f"{type(self).__name__} is in eval mode (the params hold x); "
                               "call optimizer.train() before optimizer.step()")

    @property
    def train_mode(self):
        """True while the params hold y (the gradient point), False while they hold x."""
        return all(g["train_mode"] for g in self.param_groups)

    @_disable
    def eval(self):
        """Put x, the averaged point to evaluate or save, into the params (in place), as
        schedulefree's ``eval()``; a no-op in eval mode."""
        self._switch(False)

    @_disable
    def train(self):
        """Put y, the point gradients are taken at, back into the params (in place), as
        schedulefree's ``train()``; a no-op in train mode (so cheap to call every step)."""
        self._switch(True)

    def _switch(self, to_train):
        if all(bool(g["train_mode"]) == to_train for g in self.param_groups):
            return
        # every param that has z moves (not only those with a gradient now)
        members, i = [], 0
        for gi, group in enumerate(self.param_groups):
            for p in group["params"]:
                if "z" in self.state.get(p, {}):
                    members.append((i, gi, p))
                i += 1
        for b in self._build(members):
            for gi, group in zip(b.groups, b.inner.param_groups):
                group.update(self._options(self.param_groups[gi]))
            if to_train:
                b.inner.train_params()
            else:
                b.inner.eval_params()
        torch.autograd.graph.increment_version([_local(p).detach() for _, _, p in members])
        for group in self.param_groups:
            group["train_mode"] = to_train
        self._buckets = None                  # next step rebuilds in train mode


class ScheduleFreeSGD(_ScheduleFree):
    """Schedule-free SGD (Defazio et al. 2024) on :class:`fastlr.ScheduleFreeSGD`, with
    its arguments and defaults (schedulefree's ``SGDScheduleFree`` names).

    The params hold y during training; :meth:`eval` swaps the averaged x in and
    :meth:`train` swaps y back. Unlike schedulefree, the optimizer starts in train mode
    (``train()`` is a no-op then). State per param: ``z``; per group, schedulefree's
    ``k``, ``train_mode``, ``weight_sum``, ``lr_max``, ``scheduled_lr``.
    """

    _inner = "ScheduleFreeSGD"
    _hyper = ("lr", "momentum", "weight_decay", "warmup_steps", "r", "weight_lr_power")

    def __init__(self, params, lr=1.0, momentum=0.9, weight_decay=0.0, warmup_steps=0,
                 r=0.0, weight_lr_power=2.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      warmup_steps=warmup_steps, r=r,
                                      weight_lr_power=weight_lr_power))


class ScheduleFreeAdamW(_ScheduleFree):
    """Schedule-free AdamW (Defazio et al. 2024) on :class:`fastlr.ScheduleFreeAdamW`,
    with its arguments and defaults: schedulefree's ``AdamWScheduleFree`` (>= 1.3, the
    bias correction ``1 - beta2**k`` divides ``v`` in the denominator), or with
    ``formulation="paper"`` its ``AdamWScheduleFreePaper`` (the bias correction folded
    into the rate: ``lr_k = lr * warmup * sqrt(1 - beta2**k)``).

    Train/eval mode and group keys as :class:`ScheduleFreeSGD` (``scheduled_lr`` is the
    rate the step used, as in schedulefree). State per param: ``z`` and ``exp_avg_sq``.
    """

    _inner = "ScheduleFreeAdamW"
    _hyper = ("lr", "betas", "eps", "weight_decay", "warmup_steps", "r", "weight_lr_power",
              "formulation")

    def __init__(self, params, lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 warmup_steps=0, r=0.0, weight_lr_power=2.0, *, formulation="current"):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      warmup_steps=warmup_steps, r=r,
                                      weight_lr_power=weight_lr_power,
                                      formulation=formulation))

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            # a schedulefree checkpoint has no such key: its groups keep this optimizer's
            group.setdefault("formulation", self.defaults["formulation"])


# ---- the rest of torch.optim's elementwise family ---------------------------------------------

__all__ += ["NAdam", "RAdam", "Adamax", "Adadelta", "ASGD", "Rprop"]


class _ScalarState(_KernelOptimizer):
    """A front end whose inner optimizer keeps per-group scalars that torch keeps per param
    as 0-dim tensors (NAdam's ``mu_product``, ASGD's ``eta`` and ``mu``): they are read from
    a member param's state when a bucket is built and written back after every step, in
    torch's key order (after ``step``)."""

    _scalars: tuple = ()

    def _inner_group_state(self, group, counter):
        if counter == 0:
            return None
        for p in group["params"]:
            state = self.state.get(p, {})
            if "step" in state and int(_local(state["step"]).item()) == counter and \
                    all(k in state for k in self._scalars):
                return {k: float(_local(state[k]).item()) for k in self._scalars}
        return None

    def _after_step(self, b):
        _, gstates = _inner_state(b.inner)
        group_of = b.inner._group_of
        for j, p in enumerate(b.params):
            gs = gstates[group_of[b.member_slot[j]]]
            state = self.state[p]
            fresh = any(k not in state for k in self._scalars)
            for k in self._scalars:
                old = state.get(k)
                if isinstance(old, torch.Tensor) and old.dtype == _scalar_dtype() \
                        and old.dim() == 0:
                    old.fill_(gs[k])
                else:       # fresh, or cast to the param's dtype by load_state_dict
                    state[k] = torch.tensor(gs[k], dtype=_scalar_dtype())
            if fresh:    # torch's order: step, the scalars, then the buffers
                order = ["step", *self._scalars]
                items = sorted(state.items(), key=lambda kv: (
                    order.index(kv[0]) if kv[0] in order else len(order)))
                state.clear()
                state.update(items)


class NAdam(_ScalarState):
    """``torch.optim.NAdam`` (same arguments and defaults) on :class:`fastlr.NAdam`.

    State per param, created at its first step as in torch: ``step``, ``mu_product`` (0-dim
    tensors of torch's scalar dtype), ``exp_avg``, ``exp_avg_sq``. ``mu_product`` is
    rounded to float32 at every step as torch's float32 tensor is, also after a
    ``load_state_dict`` (torch casts it to a float64 param's dtype there and stops
    rounding, a 1e-12 effect that fades as the product vanishes; here a resume is bit
    for bit). ``foreach`` and ``capturable`` are accepted and recorded;
    ``differentiable=True`` raises.
    """

    _inner = "NAdam"
    _hyper = ("lr", "betas", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay",
              "maximize")
    _scalars = ("mu_product",)

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable))


class RAdam(_KernelOptimizer):
    """``torch.optim.RAdam`` (same arguments and defaults) on :class:`fastlr.RAdam`.

    State per param, created at its first step: ``step``, ``exp_avg``, ``exp_avg_sq``.
    """

    _inner = "RAdam"
    _hyper = ("lr", "betas", "eps", "weight_decay", "decoupled_weight_decay", "maximize")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False,
                 capturable=False, differentiable=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable))


class Adamax(_KernelOptimizer):
    """``torch.optim.Adamax`` (same arguments and defaults) on :class:`fastlr.Adamax`.

    State per param, created at its first step: ``step``, ``exp_avg``, ``exp_inf``.
    """

    _inner = "Adamax"
    _hyper = ("lr", "betas", "eps", "weight_decay", "maximize")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, capturable=capturable))


class Adadelta(_KernelOptimizer):
    """``torch.optim.Adadelta`` (same arguments and defaults) on :class:`fastlr.Adadelta`.

    State per param, created at its first step: ``step``, ``square_avg``, ``acc_delta``.
    """

    _inner = "Adadelta"
    _hyper = ("lr", "rho", "eps", "weight_decay", "maximize")
    _counted = False

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize, capturable=capturable,
                                      foreach=foreach, differentiable=differentiable))


class ASGD(_ScalarState):
    """``torch.optim.ASGD`` (same arguments and defaults) on :class:`fastlr.ASGD`.

    State per param, created at its first step: ``step``, ``eta``, ``mu`` (0-dim tensors,
    float32-valued as in torch) and ``ax``, the averaged iterate.
    """

    _inner = "ASGD"
    _hyper = ("lr", "lambd", "alpha", "t0", "weight_decay", "maximize")
    _scalars = ("eta", "mu")

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0,
                 foreach=None, maximize=False, differentiable=False, capturable=False):
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                                      weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize, capturable=capturable,
                                      differentiable=differentiable))


class Rprop(_KernelOptimizer):
    """``torch.optim.Rprop`` (same arguments and defaults) on :class:`fastlr.Rprop`.

    State per param, created at its first step: ``step``, ``prev`` and ``step_size`` (filled
    with the group's lr at that moment; as in torch, later lr changes have no effect).
    """

    _inner = "Rprop"
    _hyper = ("lr", "etas", "step_sizes", "maximize")
    _counted = False

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        super().__init__(params, dict(lr=lr, etas=etas, step_sizes=step_sizes,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, capturable=capturable))
