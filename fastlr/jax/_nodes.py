"""The schedule tree as ``jax.numpy`` operations: one function per node kind.

:func:`build` turns a schedule's ``_spec()`` tree (the one the compiled engine flattens,
``(kind, flag, params, arrays, children)``) into :class:`Node` objects, once, outside of
any trace. :func:`evaluate` then writes each node's formula as jnp operations on a
:class:`Clock`. Adding a node kind is one function registered with ``@kind("name")``.

Each formula is the ``_value`` of its reference class (fastlr/reference), with three
deliberate differences, none of which changes a value beyond rounding:

- **Exact integer steps.** optax passes an int32 count, and float32 holds integers
  exactly only up to 2**24. So while the step is an integer, comparisons with the
  schedule's boundaries, stair indices ``floor(t / c)`` and local clocks ``t - b`` are
  computed on the integer (a comparison ``t >= c`` becomes ``n >= ceil(c)``, ``c`` in
  float64 as the reference has it), and so is the clock of a phase that starts at ``b``
  (``t - b``, rounded once); only then is it converted to float. Steps therefore switch
  AT every boundary at any count, in float32 too, and a short phase late in a long run
  (a decay of 100 steps after 2**24) is as precise as at the start.
- **Divisions by a constant are not exact.** XLA computes ``x / c`` for a constant
  ``c`` as ``x * (1/c)`` (off by an ulp), so no formula relies on a quotient being exact:
  stairs ``floor(t / c)`` are corrected by comparing ``k * c`` with ``t``, and a value
  that must vanish at a point is written so that its numerator does.
- **Branches are selects.** ``jnp.where`` evaluates both sides, so every side is fed an
  argument inside its domain (a shifted clock is clamped at 0, a ``sqrt``/``pow`` base is
  replaced where it is not used: the "double where"). Untaken branches then give neither
  NaN values nor NaN gradients under ``jax.grad``.
- **SGDR cycles from a table.** The cycle starts ``S(k)`` of ``CosineRestarts`` with
  ``cycle_mult != 1`` are computed in Python with the reference's float64 formula, up to
  ``2**53`` but at most :data:`MAX_CYCLES` + 1 of them (a bounded table, 16 KB in
  float32), and looked up with ``searchsorted``: so the cycle of a step is the
  reference's exact answer. Only when ``cycle_mult`` is so close to 1 that more cycles
  start before 2**53 (``cycle_mult=1.001``, say), steps past the table's last start take
  the closed form ``log1p(t (m-1)/c) / log(m)``, corrected by comparisons with ``S``
  computed in the compute dtype: the reference's cycle under x64, but in float32 the
  position within a cycle then carries float32's relative error of ``t``.
- **Noise hashes in uint64.** ``Noise`` is the reference's splitmix64 hash of
  ``(seed, floor(t))`` on uint64 arrays (XLA's integer arithmetic wraps mod 2**64, as
  the reference masks), then its uniforms, Box-Muller and rejection loop (a bounded
  ``while_loop``) in float64, whatever the compute dtype. jax has uint64 and float64
  only under ``jax_enable_x64``, so without it the node raises TypeError (when the
  schedule is built, and again when it is traced).
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as _v

__all__ = ["Node", "Clock", "build", "evaluate", "kind", "KINDS", "MAX_CYCLES"]

_F64_TINY = float(np.finfo(np.float64).tiny)

#: the largest table of SGDR cycle starts kept per CosineRestarts node (8 bytes each)
MAX_CYCLES = 4096


class Node(NamedTuple):
    """One node of a schedule tree, ready to evaluate (built outside any trace)."""

    kind: str
    flag: int
    params: tuple
    arrays: tuple
    kids: tuple          # Node objects
    schedules: tuple     # the child schedules themselves (Warmup reads its peak from one)
    extra: Any           # what a node kind precomputes in Python (see PREPARE)


class Clock(NamedTuple):
    """The step a node sees: ``x`` in the compute dtype and, while the step is an
    integer, ``n``, the same step as an exact integer array (else None)."""

    x: Any
    n: Any = None


#: kind name -> formula ``f(node, clock) -> values`` (the compute dtype, clock's shape)
KINDS: dict[str, Callable[[Node, Clock], Any]] = {}
#: kind name -> ``prepare(spec) -> extra``, run once when the tree is built
PREPARE: dict[str, Callable[[tuple], Any]] = {}


def kind(name, prepare=None):
    """Register the formula of the node kind ``name`` (and its Python-side precomputation)."""
    def register(fn):
        KINDS[name] = fn
        if prepare is not None:
            PREPARE[name] = prepare
        return fn
    return register


def build(schedule, what="s"):
    """The :class:`Node` tree of a fastlr schedule; a TypeError names what cannot be traced."""
    spec = schedule._spec()
    if spec is None:
        raise TypeError(
            f"{what} is {type(schedule).__name__}, which runs a Python callable and has no "
            "closed form; fastlr.jax.schedule needs a built-in schedule (write the function "
            "in jax.numpy yourself, or replace the Lambda)")
    name, flag, params, arrays, children = spec
    if name not in KINDS:
        raise TypeError(
            f"{what} is {type(schedule).__name__} (node kind {name!r}), which fastlr.jax has "
            f"no formula for; known kinds: {sorted(KINDS)}")
    kids = tuple(build(c, f"{what}.{type(schedule).__name__}[{i}]")
                 for i, c in enumerate(children))
    prep = PREPARE.get(name)
    return Node(name, int(flag), tuple(float(p) for p in params),
                tuple(tuple(float(a) for a in arr) for arr in arrays), kids, tuple(children),
                None if prep is None else prep(spec))


def evaluate(node, clock):
    return KINDS[node.kind](node, clock)


# -- the clock: comparisons, stairs and shifts, exact on integer steps ---------------------

def _imax(n):
    return int(jnp.iinfo(n.dtype).max)


def ge(t, c):
    """``t >= c`` for a Python float ``c``."""
    if t.n is None:
        return t.x >= c
    k = math.ceil(c)                         # integer n >= c  <=>  n >= ceil(c)
    if k > _imax(t.n):
        return jnp.zeros(t.n.shape, bool)
    return t.n >= max(k, 0)


def le(t, c):
    """``t <= c`` for a Python float ``c``."""
    if t.n is None:
        return t.x <= c
    k = math.floor(c)
    if k >= _imax(t.n):
        return jnp.ones(t.n.shape, bool)
    return t.n <= max(k, -1)


def lt(t, c):
    return jnp.logical_not(ge(t, c))


def shift(t, b):
    """The clock ``max(t - b, 0)`` of a child that starts at ``b`` (clamped so that the
    child, evaluated where it is not selected, still sees a valid step)."""
    if b == 0:
        return t
    if t.n is not None and b == math.floor(b):
        n = jnp.maximum(t.n - min(int(b), _imax(t.n)), 0)
        return Clock(n.astype(t.x.dtype), n)
    if t.n is not None:
        # t - b = (n - floor(b)) - frac(b): the integer part exact, then one rounding,
        # which in float64 is the reference's rounding of t - b
        whole = math.floor(b)
        m = t.n - min(whole, _imax(t.n))
        return Clock(jnp.maximum(m.astype(t.x.dtype) - (b - whole), 0.0))
    return Clock(jnp.maximum(t.x - b, 0.0))


def since(t, b):
    """``t - b`` in the compute dtype for a Python float ``b``: from the integer step when
    there is one (one rounding, of a number no larger than the difference), so a formula
    that runs from ``b`` sees its own clock to float32 precision, not that of ``t``."""
    if t.n is None or not 0 <= b <= _imax(t.n):
        return t.x - b
    whole = math.floor(b)
    return (t.n - whole).astype(t.x.dtype) - (b - whole)


def stair(t, c):
    """``floor(t / c)`` as (float index without gradient, integer index or None)."""
    if t.n is not None and c == math.floor(c):
        if c > _imax(t.n):
            k = jnp.zeros_like(t.n)
        else:
            k = t.n // int(c)
        return k.astype(t.x.dtype), k
    # XLA divides by a constant as a product with its rounded reciprocal (off by an
    # ulp: 60 * (1/60) < 1), so the floor is corrected by exact comparisons
    k = jnp.floor(t.x / c)
    k = jnp.where((k + 1.0) * c <= t.x, k + 1.0, k)
    k = jnp.where(k * c > t.x, k - 1.0, k)
    return jax.lax.stop_gradient(k), None


def count_le(t, a):
    """How many of the sorted Python floats ``a`` are ``<= t`` (``bisect_right``)."""
    if not a:
        return jnp.zeros(t.x.shape, jnp.int32)
    if t.n is None:
        return jnp.searchsorted(jnp.asarray(a, t.x.dtype), t.x, side="right")
    top = _imax(t.n)
    ks = [math.ceil(x) for x in a]
    ks = [k for k in ks if k <= top]          # beyond the integer range: never reached
    if not ks:
        return jnp.zeros(t.n.shape, jnp.int32)
    return jnp.searchsorted(jnp.asarray(ks, t.n.dtype), t.n, side="right")


def _const(t, value):
    return jnp.full(t.x.shape, value, t.x.dtype)


def _cospi(x):
    return jnp.cos(math.pi * x)


def _cpow(g, x):
    """``g ** x`` for a Python constant ``g > 0``. In float32, ``g`` itself would be
    rounded (0.99999 is 0.99998999) and ``x`` multiply that error (4e-6 at x = 326), so
    it is ``exp(x * log(g))`` with ``log(g)`` from float64: one rounding of the exponent.
    In float64, ``pow`` as the reference, unless ``g`` is subnormal: XLA flushes those
    to 0, and ``0 ** x`` would lose a value like ``(1e-308) ** 0.04``."""
    if x.dtype == jnp.float64 and g >= _F64_TINY:
        return jnp.power(jnp.asarray(g, x.dtype), x)
    return jnp.exp(x * math.log(g))


def _pow_pos(base, p):
    """``base ** p`` for ``p > 0``, 0 where ``base <= 0``, with a finite gradient there."""
    ok = base > 0
    return jnp.where(ok, jnp.where(ok, base, 1.0) ** p, 0.0)


# -- leaves --------------------------------------------------------------------------------

@kind("constant")
def _constant(node, t):
    return _const(t, node.params[0])


@kind("linear")
def _linear(node, t):
    s, e, T = node.params
    return jnp.where(ge(t, T), e, s + (e - s) * (jnp.minimum(t.x, T) / T))


@kind("step")
def _step(node, t):
    lr, size, g = node.params
    k, _ = stair(t, size)
    return lr * _pow_const(g, k)


def _pow_const(g, k):
    """``g ** k`` for a constant ``g >= 0`` and a gradient-free ``k >= 0`` (0**0 = 1)."""
    if g == 0.0:
        return jnp.where(k == 0, 1.0, 0.0).astype(k.dtype)
    return _cpow(g, k)


@kind("multistep")
def _multistep(node, t):
    lr, g = node.params
    k = count_le(t, node.arrays[0]).astype(t.x.dtype)
    return lr * _pow_const(g, k)


@kind("exponential")
def _exponential(node, t):
    lr, g, d, fin = node.params
    if lr == 0.0:
        return _const(t, 0.0)
    if node.flag:
        e, _ = stair(t, d)
    else:
        e = t.x / d
    if fin == fin and g > 1.0:
        # growth is clamped at fin; past the crossing the exponent is capped one decay
        # unit further, so pow never overflows (inf would make a NaN gradient)
        cross = (math.log(fin) - math.log(lr)) / math.log(g) if fin > 0.0 else 0.0
        e = jnp.minimum(e, max(cross, 0.0) + 1.0)
    value = lr * _cpow(g, e)
    if fin == fin:
        if g < 1.0:
            value = jnp.maximum(value, fin)
        elif g > 1.0:
            value = jnp.minimum(value, fin)
    return value


def _k_ratio(elapsed, length, k):
    """``elapsed / length``, or timm's ``elapsed**k / length**k`` (``elapsed >= 0`` where
    it is used; a negative one, from an unselected branch, gives 0). ``length`` is a
    Python float or an array. In float64 the reference's two powers; in float32 one power
    of the ratio, since ``length**k`` overflows float32 (1e5 ** 8)."""
    if k == 1.0:
        return elapsed / length
    if elapsed.dtype == jnp.float64:
        top = _pow_pos(elapsed, k)
        if isinstance(length, float):
            try:
                return top / math.pow(length, k)
            except OverflowError:
                return top / math.inf
        return top / jnp.power(length, k)
    return _pow_pos(elapsed / length, k)


def _k_rest(elapsed, gap, length, k):
    """``1 - _k_ratio(elapsed, length, k)`` given also ``gap = length - elapsed`` (from
    the integer step where there is one). In float32 ``1 - r**k`` near ``r = 1`` loses
    what a power < 1 of it would show (``sqrt`` of a 6e-8 error is 2.4e-4), so it is
    ``-expm1(k log1p(-gap/length))``; in float64 the reference's form."""
    if k == 1.0 or elapsed.dtype == jnp.float64:
        return 1.0 - _k_ratio(elapsed, length, k)
    g = jnp.clip(gap / length, 0.0, 1.0)
    ok = g < 1.0                                # elapsed 0: log1p(-1) = -inf
    return jnp.where(ok, -jnp.expm1(k * jnp.log1p(-jnp.where(ok, g, 0.0))), 1.0)


def _cospi_any(x):
    """``cos(pi x)`` for ``x >= 0``, ``x`` folded into [0, 1] first (as the reference)."""
    y = jnp.fmod(x, 2.0)
    return _cospi(jnp.where(y > 1.0, 2.0 - y, y))


def _ceil_div(t, c):
    """``ceil(t / c)`` (float, without gradient), exact for integer steps."""
    k, kn = stair(t, c)
    if kn is not None:
        over = t.n > kn * int(c)
    else:
        over = k * c < t.x
    return jnp.where(over, k + 1.0, k)


@kind("polynomial")
def _polynomial(node, t):
    lr, T, fin, power, kd = node.params
    if node.flag:                        # keras cycle: the horizon T * max(1, ceil(t / T))
        horizon = jax.lax.stop_gradient(T * jnp.maximum(_ceil_div(t, T), 1.0))
        if kd == 1.0:
            rest = (horizon - t.x) / horizon     # 0 exactly at every multiple of T
        else:
            rest = _k_rest(t.x, horizon - t.x, horizon, kd)
    elif kd == 1.0:
        # (T - t) / T rather than the reference's 1 - t/T: 0 exactly from T on, also where
        # XLA's division by T is off by an ulp (pow(2**-56, 0.5) would be 4e-9 of the peak)
        rest = (T - jnp.minimum(t.x, T)) / T
    else:
        gap = jnp.maximum(-since(t, T), 0.0)     # T - t, from the integer step
        rest = jnp.where(ge(t, T), 0.0, _k_rest(jnp.minimum(t.x, T), gap, T, kd))
    return (lr - fin) * _pow_pos(rest, power) + fin


@kind("cosine")
def _cosine(node, t):
    lr, T, fin, e, nc, kd = node.params
    x = _k_ratio(jnp.minimum(t.x, T), T, kd)
    if nc == 0.5 and e != 1.0 and x.dtype != jnp.float64:
        # float32: (1 + cos(pi x)) / 2 = sin(pi (1 - x) / 2) ** 2 with 1 - x from the
        # integer gap T - t: the cancellation of 1 + cos near T would be magnified by
        # the power (a 3e-8 error of c is 1.7e-4 after ** 0.5)
        gap = jnp.maximum(-since(t, T), 0.0)
        c = jnp.square(jnp.sin((0.5 * math.pi) * _k_rest(jnp.minimum(t.x, T), gap, T, kd)))
    elif nc == 0.5:
        c = 0.5 * (1.0 + _cospi(x))
    else:
        c = 0.5 * (1.0 + _cospi_any((2.0 * nc) * x))
    if e != 1.0:
        c = _pow_pos(c, e)
    return fin + (lr - fin) * c


def _restart_starts(spec):
    """The reference's cycle starts ``S(0), S(1), ...``: up to the first one past 2**53,
    or the first MAX_CYCLES + 1 of them when there are more (``cycle_mult`` near 1)."""
    c, m = spec[2][1:3]
    if m == 1.0:
        return None
    starts = []
    for k in range(MAX_CYCLES + 1):
        try:
            s = c * (math.pow(m, k) - 1.0) / (m - 1.0)
        except OverflowError:
            s = math.inf
        starts.append(s)
        if s > _v.MAX_STEP:
            break
    return tuple(starts)


def _restart_cycle_closed(x, c, m, first):
    """Cycle index (``>= first``) and start of the float step ``x`` past the table: the
    float log, then corrections by comparing with ``S`` both ways (the cycle is the
    largest ``i`` with ``S(i) <= t``, as in the reference)."""
    if x.dtype == jnp.float64:
        def start(k):                           # the reference's formula
            return c * (jnp.power(jnp.asarray(m, x.dtype), k) - 1.0) / (m - 1.0)
    else:
        # float32: m**k - 1 cancels (m is near 1 here); expm1(k log m) does not
        log_m = math.log(m)

        def start(k):
            return c * jnp.expm1(k * log_m) / (m - 1.0)
    i = jnp.maximum(jnp.floor(jnp.log1p(x * ((m - 1.0) / c)) / math.log(m)), first)
    for _ in range(2):                          # the log is off by at most one here
        i = jnp.where(start(i) > x, jnp.maximum(i - 1.0, first), i)
        i = jnp.where(start(i + 1.0) <= x, i + 1.0, i)
    i = jax.lax.stop_gradient(i)
    return i, start(i)


@kind("restarts", prepare=_restart_starts)
def _restarts(node, t):
    lr, c, m, fin, decay, limit, kd = node.params
    dt = t.x.dtype
    if m == 1.0:
        i, k = stair(t, c)
        if k is not None:                       # t - i*c exactly
            pos = (t.n - k * int(c)).astype(dt)
        else:
            pos = t.x - i * c
    else:
        starts = node.extra
        idx = count_le(t, starts) - 1
        i = idx.astype(dt)
        top = None if t.n is None else _imax(t.n)
        whole = [int(x) for x in starts if top is not None and x <= top]
        if top is not None and all(w == x for w, x in zip(whole, starts)):
            # integer starts (integer c and m) below the integer range: t - start exactly
            # (idx never points past them: those starts are beyond every count)
            pos = (t.n - jnp.asarray(whole, t.n.dtype)[idx]).astype(dt)
        else:
            # S as float32 hi + lo: t - hi is exact (Sterbenz: hi <= t < 2 hi, mostly),
            # so the position keeps float32's relative precision, not S's rounding
            hi = np.asarray(starts, dt)
            lo = np.where(np.isfinite(hi), np.subtract(starts, hi, dtype=np.float64), 0.0)
            pos = (t.x - jnp.asarray(hi)[idx]) - jnp.asarray(lo, dt)[idx]
        if starts[-1] <= _v.MAX_STEP:           # a truncated table: the closed form past it
            last = len(starts) - 1
            far, far_start = _restart_cycle_closed(t.x, c, m, float(last))
            beyond = idx == last
            i = jnp.where(beyond, far, i)
            pos = jnp.where(beyond, t.x - far_start, pos)
    length = c * _cpow(m, i)
    if node.flag == 0:                          # timm: the peak decays
        amplitude = lr * _pow_const(decay, i) - fin
    else:                                       # keras m_mul: the amplitude decays
        amplitude = (lr - fin) * _pow_const(decay, i)
    x = jnp.clip(_k_ratio(pos, length, kd), 0.0, 1.0)
    value = fin + amplitude * (0.5 * (1.0 + _cospi(x)))
    if limit != math.inf:
        value = jnp.where(i >= limit, fin, value)
    return value


@kind("invsqrt")
def _invsqrt(node, t):
    lr, W, tau = node.params
    if node.flag:                               # transformers' timescale
        return lr * jnp.sqrt(tau / (jnp.maximum(since(t, W), 0.0) + tau))
    return lr * jnp.sqrt(W / jnp.maximum(t.x, W))


@kind("invtime")
def _invtime(node, t):
    lr, r, d = node.params
    if node.flag:
        p, _ = stair(t, d)
    else:
        p = t.x / d
    return lr / (1.0 + r * p)


@kind("cyclic")
def _cyclic(node, t):
    base, top, up, down, g = node.params
    total = up + down
    ratio = up / total
    k, kn = stair(t, total)                     # cycle - 1
    if kn is not None:
        x = (t.n - kn * int(total)).astype(t.x.dtype) / total
    else:
        # the reference's 1 + t/total - cycle, without its float32 cancellation
        x = (t.x - k * total) / total
    f = jnp.where(x <= ratio, x / ratio, (x - 1.0) / (ratio - 1.0))
    if node.flag == 0:
        scale = 1.0
    elif node.flag == 1:
        scale = 1.0 / _cpow(2.0, k)
    else:
        scale = _cpow(g, t.x)
    return base + (top - base) * f * scale


@kind("onecycle")
def _onecycle(node, t):
    total, pct_start = node.params[:2]
    points = node.params[2:]
    three, cosine = bool(node.flag & 2), not node.flag & 1
    if three:
        ends = (pct_start * total - 1.0, 2.0 * pct_start * total - 2.0, total - 1.0)
    else:
        ends = (pct_start * total - 1.0, total - 1.0)
    # the reference walks the phases and takes the first whose end is >= t (the last one
    # otherwise): select from the last phase back
    start = [0.0] + list(ends[:-1])
    value = None
    for i in reversed(range(len(ends))):
        s, e = start[i], ends[i]
        if e > s:       # where this phase is selected, s < t <= e: the clip is for the rest
            pct = jnp.clip(since(t, s) / (e - s), 0.0, 1.0)
        else:           # a phase of zero or negative length is over as soon as it starts
            pct = _const(t, 1.0)
        a, b = points[i], points[i + 1]
        v = b + (a - b) / 2.0 * (_cospi(pct) + 1.0) if cosine else (b - a) * pct + a
        value = v if value is None else jnp.where(le(t, e), v, value)
    return jnp.where(ge(t, total - 1.0), points[-1], value)


@kind("wsd")
def _wsd(node, t):
    lr, W, stable, D, fin, tau, sp, dp = node.params
    decay, kind_stable = node.flag & 7, node.flag >> 3
    stable_end = W + stable
    decay_end = stable_end + D
    if kind_stable == 0:
        top = lr
    else:
        # lr * (1 + s/tau) ** -sp as exp(-sp * log1p(s/tau)): no rounding of 1 + s/tau
        s = jnp.maximum(since(t, W), 0.0)
        top = jnp.maximum(lr * jnp.exp(-sp * jnp.log1p(s / tau)), fin)
    if D > 0:
        q = jnp.clip(since(t, stable_end) / D, 0.0, 1.0)
        if decay == 0:
            f = 1.0 - q
        elif decay == 1:
            f = 0.5 * (1.0 + _cospi(q))
        elif decay == 2:
            f = 1.0 - jnp.sqrt(jnp.where(q > 0, q, 1.0))
            f = jnp.where(q > 0, f, 1.0)
        elif decay == 3:
            f = 1.0 - _pow_pos(q, dp)
        else:
            f = (_cpow(dp, q) - dp) / (1.0 - dp)
        val = jnp.where(ge(t, decay_end), fin, fin + (top - fin) * f)
    else:
        val = _const(t, fin)
    val = jnp.where(lt(t, stable_end), top, val)
    if W > 0:
        val = jnp.where(lt(t, W), lr * (jnp.minimum(t.x, W) / W), val)
    return val


@kind("pwconst")
def _pwconst(node, t):
    bounds, values = node.arrays
    return jnp.asarray(values, t.x.dtype)[count_le(t, bounds)]


@kind("pwlinear")
def _pwlinear(node, t):
    s, y = node.arrays
    if len(s) == 1:
        return _const(t, y[0])
    k = jnp.clip(count_le(t, s), 1, len(s) - 1)
    sa, ya = jnp.asarray(s, t.x.dtype), jnp.asarray(y, t.x.dtype)
    s0, s1, y0, y1 = sa[k - 1], sa[k], ya[k - 1], ya[k]
    if t.n is not None and all(x == math.floor(x) and x <= _imax(t.n) for x in s):
        # whole-step knots: the position in the segment from the integer step, exactly
        pos = (t.n - jnp.asarray([int(x) for x in s], t.n.dtype)[k - 1]).astype(t.x.dtype)
    else:
        pos = t.x - s0
    inner = y0 + (y1 - y0) * (pos / (s1 - s0))
    return jnp.where(le(t, s[0]), y[0], jnp.where(ge(t, s[-1]), y[-1], inner))


# -- composites ----------------------------------------------------------------------------

def _value_of(schedule, t):
    """A child's value at the Python step ``t``, as its reference formula computes it."""
    return float(schedule._value(float(t)))


@kind("warmup", prepare=lambda spec: _value_of(spec[4][0], spec[2][2]))
def _warmup(node, t):
    W, start, _, lag = node.params
    child = evaluate(node.kids[0], shift(t, lag))
    if W == 0:
        return child
    peak = node.extra             # the child's value at the target step (reference: _peak)
    x = jnp.minimum(t.x, W) / W
    # 1 - x as (W - t) / W: from the integer step when there is one, so that it keeps
    # its precision near the end of a long warmup (1 - t/W is 0 in float32 at 2**24)
    rest = jnp.clip(-since(t, W) / W, 0.0, 1.0)
    if node.flag == 0:
        rise = start + (peak - start) * x
    elif node.flag == 1:
        # start ** (1 - x) * peak ** x, as the reference (no overflow of peak / start)
        if peak == 0.0:                         # 0 ** x: start at 0, then 0
            rise = jnp.where(x > 0, 0.0, start)
        else:
            rise = _cpow(start, rest) * _cpow(peak, x)
    elif node.flag == 2:
        rise = start + (peak - start) * (0.5 * (1.0 - _cospi(x)))
    else:
        ok = rest > 0                           # sqrt's gradient is infinite at 0
        root = jnp.where(ok, jnp.sqrt(jnp.where(ok, rest, 1.0)), 0.0)
        rise = start + (peak - start) * (1.0 - root)
    return jnp.where(lt(t, W), rise, child)


@kind("sequence")
def _sequence(node, t):
    bounds = node.arrays[0]
    idx = count_le(t, bounds)
    out = evaluate(node.kids[0], t)
    for i, b in enumerate(bounds, start=1):
        # a repeated boundary leaves an empty segment, which count_le never selects
        out = jnp.where(idx == i, evaluate(node.kids[i], shift(t, b)), out)
    return out


@kind("scaled")
def _scaled(node, t):
    return node.params[0] * evaluate(node.kids[0], t)


@kind("tanh")
def _tanh(node, t):
    lr, T, fin, lb, ub = node.params
    x = jnp.minimum(t.x, T) / T
    value = fin + (lr - fin) * (0.5 * (1.0 - jnp.tanh(lb * (1.0 - x) + ub * x)))
    return jnp.where(ge(t, T), fin, value)


@kind("product")
def _product(node, t):
    value = evaluate(node.kids[0], t)
    for kid in node.kids[1:]:
        value = value * evaluate(kid, t)
    return value


@kind("swa", prepare=lambda spec: _value_of(spec[4][0], spec[2][3]))
def _swa(node, t):
    swa, S, A, _ = node.params
    base = node.extra                           # the child's value at S (reference: base)
    if A == 0:
        x = _const(t, 1.0)
    else:
        x = jnp.clip(since(t, S) / A, 0.0, 1.0)
    f = 0.5 * (1.0 - _cospi(x)) if node.flag == 0 else x
    value = swa + (base - swa) * (1.0 - f)
    return jnp.where(lt(t, S), evaluate(node.kids[0], t), value)


# -- Noise: splitmix64 on uint64 (needs jax_enable_x64) -----------------------------------

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
#: as fastlr.reference.algebra.NOISE_TRIES (rejection attempts before the noise is 0)
_NOISE_TRIES = 64


def _need_x64():
    if not jax.config.jax_enable_x64:
        raise TypeError(
            "Noise needs jax_enable_x64: its noise is a splitmix64 hash of (seed, step) "
            "in uint64 arithmetic, which jax only has under x64; call "
            "jax.config.update('jax_enable_x64', True) before fastlr.jax.schedule (the "
            "values can still be float32: pass dtype=jnp.float32)")


def _mix_py(z):
    z = (z + _GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _mix(z):
    """splitmix64's output function of ``z + golden`` on uint64 arrays (wrapping)."""
    u = jnp.uint64
    z = z + u(_GOLDEN)
    z = (z ^ (z >> u(30))) * u(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> u(27))) * u(0x94D049BB133111EB)
    return z ^ (z >> u(31))


def _noise_prepare(spec):
    _need_x64()
    hi, lo = spec[2][4:6]
    return _mix_py((int(hi) << 32) | int(lo))   # the seed's hash, shared by every step


def _noise_n(node, step):
    """The reference's ``noise_factor`` of the uint64 ``step`` array, in float64."""
    _, _, pct, std = node.params[:4]
    mixed = _mix(jnp.uint64(node.extra) ^ step)

    def uniform(k):
        h = _mix(mixed ^ jnp.uint64(k))
        return (h >> jnp.uint64(11)).astype(jnp.float64) * 2.0 ** -53

    if node.flag == 1:
        return pct * (2.0 * uniform(0) - 1.0)
    wide = pct > std

    def body(state):
        j, done, n = state
        u1, u2 = uniform(2 * j), uniform(2 * j + 1)
        if wide:                                # Box-Muller (1 - u1 is in (0, 1])
            cand = std * (jnp.sqrt(-2.0 * jnp.log(1.0 - u1)) * jnp.cos(2.0 * math.pi * u2))
            ok = jnp.abs(cand) < pct
        else:                                   # uniform proposals, normal density
            cand = pct * (2.0 * u1 - 1.0)
            ok = u2 < jnp.exp(-0.5 * (cand / std) * (cand / std))
        take = ok & ~done
        return j + 1, done | ok, jnp.where(take, cand, n)

    def more(state):
        j, done, _ = state
        return (j < _NOISE_TRIES) & ~jnp.all(done)

    zero = jnp.zeros(step.shape, jnp.float64)
    init = (jnp.uint64(0), jnp.zeros(step.shape, bool), zero)
    return jax.lax.while_loop(more, body, init)[2]


@kind("noise", prepare=_noise_prepare)
def _noise(node, t):
    _need_x64()                                 # x64 may have been turned off since
    start, end = node.params[:2]
    value = evaluate(node.kids[0], t)
    if t.n is not None:
        step = t.n.astype(jnp.uint64)
    else:
        step = jnp.floor(jax.lax.stop_gradient(t.x)).astype(jnp.uint64)
    n = jax.lax.stop_gradient(_noise_n(node, step)).astype(t.x.dtype)
    inside = ge(t, start)
    if end != math.inf:
        inside = inside & lt(t, end)
    return jnp.where(inside, value * (1.0 + n), value)
