"""fastlr schedules as optax schedules, in closed form.

:func:`schedule` turns a fastlr schedule into a function ``count -> value`` that optax
accepts wherever it takes a schedule (``optax.adamw(learning_rate=...)``,
``optax.inject_hyperparams``, ``optax.scale_by_schedule``). The function is the
schedule's formula written in ``jax.numpy`` (one formula per node of the schedule tree,
those of :mod:`fastlr.reference`), so it traces under ``jax.jit``, ``jax.vmap`` and
``jax.grad``, holds no table, and is exact at every count.

``import fastlr`` never imports jax; importing this module without jax raises an
``ImportError`` that says how to install it.
"""
from __future__ import annotations

import warnings

try:
    import jax
    import jax.numpy as jnp
except ImportError as exc:
    raise ImportError(
        "fastlr.jax needs JAX, which is not installed (or failed to import: "
        f"{exc}). Install it with `pip install jax` (CPU; JAX's install guide covers "
        "GPU and TPU builds), then import fastlr.jax again."
    ) from exc

from .. import _validate as _v
from ..reference import Schedule as _Schedule
from . import _nodes

__all__ = ["schedule"]

_MAX_STEP_INT = int(_v.MAX_STEP)


def schedule(s, total_steps=None, *, dtype=None):
    """An optax-compatible schedule ``f(count)`` equal to the fastlr schedule ``s``.

    ``f(count) = s(count)``, computed in ``jax.numpy`` from ``s``'s formula (no table, no
    horizon): past the end of ``s`` it holds ``s``'s final value, as ``s`` does.

    Args:
      s: a fastlr schedule of either backend (``fastlr.Cosine(...)``,
        ``fastlr.reference.Warmup(...)``, any composition). ``Lambda`` has no closed form
        and raises ``TypeError``.
      total_steps: deprecated and ignored (``f`` needs no horizon since 0.2; it used to
        size a table of values). Passing it warns with ``DeprecationWarning``; it will be
        removed in 0.3.
      dtype: the dtype of the values. ``None`` (the default) gives jax's default float
        dtype: float32, or float64 under ``jax.config.update("jax_enable_x64", True)``.
        Any other float dtype is computed in float32 (float64 for ``jnp.float64`` under
        x64) and cast once at the end.

    Returns:
      ``f(count)``: ``count`` is a scalar or array (a Python or numpy number, a jax array
      or a tracer), of an integer dtype (optax passes an int32 count: the number of
      updates already taken, which is fastlr's step ``t``) or a float dtype (a
      fractional step; needed to take ``jax.grad`` with respect to the count). The
      result has ``count``'s shape and the dtype described under ``dtype``. Counts
      below 0 are taken as 0 and counts above ``2**53`` as ``2**53``, the steps fastlr
      schedules accept (``s`` itself raises on them; under ``jit`` nothing can raise).
      ``f.schedule`` is ``s``.

    Raises:
      TypeError: ``s`` is not a fastlr schedule, holds a ``Lambda``, or holds a
        ``Noise`` while ``jax_enable_x64`` is off (its noise is a uint64 hash of the
        step, and jax only has uint64 under x64; ``dtype=jnp.float32`` still gives
        float32 values).

    Accuracy: equal to ``s(count)`` to the compute dtype's rounding: float64 within
    ``1e-12`` of ``s``'s peak; float32 within ``4e-6`` of the peak (a power's exponent
    multiplies float32's rounding). In float32, integer
    counts stay exact integers wherever ``s`` compares them or counts with them
    (boundaries, milestones, stairs, cycles, the clocks of ``Warmup``/``Sequence``
    children and of every phase), so each switch happens AT its step also past float32's
    ``2**24``, and a short phase late in a long run keeps its precision. What float32
    cannot hold stays rounded: a fractional length or boundary (a cycle of 6.9 steps is
    6.900000095, so far into a run of them the position drifts by ``t * 6e-8`` steps), a
    float count, and the SGDR cycles of ``CosineRestarts`` past its 4096th (found by a
    corrected closed form; that is past step ``59000 * cycle_steps`` with
    ``cycle_mult=1.001``, ``5e19 * cycle_steps`` with 1.01). Under x64 all of these are
    the reference's float64 values, to float64 rounding.

    ``jax.grad`` of ``f`` at a float count is the schedule's slope there (0 on flat and
    stepped parts) and never NaN: every branch that ``jnp.where`` does not select gets an
    argument inside its domain.

    Example:
      >>> opt = optax.adamw(learning_rate=fastlr.jax.schedule(
      ...     fastlr.warmup_cosine(3e-4, warmup_steps=1000, total_steps=100_000)))
    """
    if not isinstance(s, _Schedule):
        raise TypeError(f"s must be a fastlr schedule, got {s!r} ({type(s).__name__})")
    if total_steps is not None:
        _v.step_count("total_steps", total_steps)   # a bad value still fails loudly
        warnings.warn(
            "fastlr.jax.schedule(s, total_steps) is deprecated: the schedule is now "
            "computed in closed form, exact at every count, and total_steps is ignored; "
            "call fastlr.jax.schedule(s). The argument will be removed in fastlr 0.3.",
            DeprecationWarning, stacklevel=2)
    out_dtype = None
    if dtype is not None:
        try:
            out_dtype = jnp.dtype(dtype)
        except TypeError:
            out_dtype = None
        if out_dtype is None or not jnp.issubdtype(out_dtype, jnp.floating):
            raise TypeError(f"dtype must be a jax float dtype (jnp.float32, jnp.float64, "
                            f"...), got {dtype!r}")
    root = _nodes.build(s)

    def fastlr_schedule(count):
        wide = bool(jax.config.jax_enable_x64)
        if out_dtype is None:
            compute = jnp.float64 if wide else jnp.float32
        else:
            compute = jnp.float64 if (out_dtype == jnp.float64 and wide) else jnp.float32
        values = _nodes.evaluate(root, _clock(count, compute, wide))
        return values if out_dtype is None else values.astype(out_dtype)

    fastlr_schedule.schedule = s
    fastlr_schedule.__doc__ = f"fastlr {s!r} as an optax schedule (count -> value)."
    return fastlr_schedule


def _clock(count, compute, wide):
    """The count as a :class:`_nodes.Clock`.

    In float32 an integer count also stays an integer (``Clock.n``), for the exact
    comparisons. In float64 the float itself is exact up to 2**53, and computing with it
    is what the reference does, rounding for rounding."""
    c = jnp.asarray(count)
    dt = c.dtype
    if dt == jnp.bool_ or not (jnp.issubdtype(dt, jnp.integer)
                               or jnp.issubdtype(dt, jnp.floating)):
        raise TypeError(f"count must have an integer or float dtype, got dtype {dt}")
    if jnp.issubdtype(dt, jnp.unsignedinteger):
        if dt.itemsize < 4:
            c = c.astype(jnp.int32)
        elif wide:
            c = jnp.minimum(c, _MAX_STEP_INT).astype(jnp.int64)
        else:                                       # uint32 without int64: as a float
            c = c.astype(compute)
    elif jnp.issubdtype(dt, jnp.integer) and dt.itemsize < 4:
        c = c.astype(jnp.int32)
    if jnp.issubdtype(c.dtype, jnp.integer) and compute == jnp.float32:
        n = jnp.clip(c, 0, min(_MAX_STEP_INT, int(jnp.iinfo(c.dtype).max)))
        return _nodes.Clock(n.astype(compute), n)
    if jnp.issubdtype(c.dtype, jnp.integer):
        c = jnp.clip(c, 0, min(_MAX_STEP_INT, int(jnp.iinfo(c.dtype).max)))
    return _nodes.Clock(jnp.clip(c.astype(compute), 0.0, _v.MAX_STEP))
