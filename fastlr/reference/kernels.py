"""Single-array optimizer updates in numpy: the executable spec of ``src_c/fl_optim_body.h``.

Every public function updates ``param`` and its state buffers in place from one
gradient. The order of operations is torch.optim's for-loop path (``foreach=False``),
one rounding per operation and no fused multiply-add, so the compiled kernels
(:mod:`fastlr.kernels`, same names and signatures) reproduce these bit for bit, and
torch's own CPU kernels (which fuse a few multiply-adds) agree to a few ulp per step.

Host scalars (bias corrections, ``-lr/bc1``, ...) are computed in double in Python,
as torch does, then cast to the array's dtype once: with NEP 50 a float32 array times
an ``np.float32`` stays float32, so float32 math here is float32 math.

How a step is split between host and kernel: a ``*_spec`` function turns the
hyperparameters into ``(kind, flags, coefficients)`` (shared by both backends, so both
see the same doubles), and the kernel for ``kind`` applies it to the arrays.
"""
from __future__ import annotations

import bisect
import math
import numbers
import threading

import numpy as np

from .. import _threads
from .. import _validate as v

__all__ = [
    "sgd", "adam", "adamw", "rmsprop", "adagrad", "lion", "schedule_free_sgd",
    "schedule_free_adamw", "lerp", "set_num_threads", "get_num_threads",
]
__all__ += ["nadam", "radam", "adamax", "adadelta", "asgd", "rprop"]

# kinds and flags: the numbering of src_c/fl_optim.h
SGD, ADAM, RMSPROP, ADAGRAD, LION, SFSGD, SFADAMW, LERP = range(8)
MAXIMIZE, L2, DECAY, FIRST, NESTEROV, AMSGRAD, CENTERED, MOMENTUM = (1 << k for k in range(8))
# the torch.optim family, appended (fl_optim.h keeps the same numbering)
NADAM, RADAM, ADAMAX, ADADELTA, ASGD, RPROP = range(8, 14)
LAST_KIND = RPROP
#: the most coefficients a spec may carry (FL_NCOEF)
NCOEF = 12
# kind-specific readings of flag bits (a kind reads only the bits listed with its kernel)
RECTIFY = CENTERED      # RAdam: rho_t > 5, the rectified update
AX_COPY = FIRST         # ASGD: mu == 1, the average is a copy of the param


# ---- hyperparameters -> (kind, flags, coefficients) -------------------------------------
# Each returns the coefficients in the order the kernel reads them (fl_optim_body.h).

def sgd_spec(lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    flags = ((MAXIMIZE if maximize else 0) | (L2 if weight_decay != 0 else 0)
             | (MOMENTUM if momentum != 0 else 0) | (FIRST if first else 0)
             | (NESTEROV if nesterov else 0))
    return SGD, flags, (weight_decay, momentum, 1.0 - dampening, -lr)


def adam_spec(step, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled):
    bias_correction1 = 1.0 - beta1 ** step
    bias_correction2 = 1.0 - beta2 ** step
    step_size = lr / bias_correction1
    flags = ((MAXIMIZE if maximize else 0) | (AMSGRAD if amsgrad else 0))
    if weight_decay != 0:
        flags |= DECAY if decoupled else L2
    return ADAM, flags, (1.0 - lr * weight_decay, weight_decay, 1.0 - beta1, beta2,
                         1.0 - beta2, bias_correction2 ** 0.5, eps, -step_size)


def rmsprop_spec(lr, alpha, eps, weight_decay, momentum, centered, maximize):
    flags = ((MAXIMIZE if maximize else 0) | (L2 if weight_decay != 0 else 0)
             | (CENTERED if centered else 0) | (MOMENTUM if momentum > 0 else 0))
    return RMSPROP, flags, (weight_decay, alpha, 1.0 - alpha, eps, momentum, -lr)


def adagrad_spec(step, lr, lr_decay, weight_decay, eps, maximize):
    clr = lr / (1.0 + (step - 1) * lr_decay)
    flags = (MAXIMIZE if maximize else 0) | (L2 if weight_decay != 0 else 0)
    return ADAGRAD, flags, (weight_decay, eps, -clr)


def lion_spec(lr, beta1, beta2, weight_decay):
    flags = DECAY if weight_decay != 0 else 0
    return LION, flags, (1.0 - lr * weight_decay, beta1, 1.0 - beta1, -lr, beta2, 1.0 - beta2)


def sfsgd_spec(lr, momentum, ckp1, weight_decay, first):
    flags = (L2 if weight_decay != 0 else 0) | (FIRST if first else 0)
    return SFSGD, flags, (weight_decay, ckp1, lr * (momentum * (1.0 - ckp1) - 1.0), -lr)


def sfadamw_spec(lr, beta1, beta2, eps, ckp1, weight_decay, first, bias_correction2=1.0):
    # bias_correction2 divides v inside the sqrt (schedulefree >= 1.3); 1.0 for the paper
    # form, which folds sqrt(bias_correction2) into lr instead (v / 1.0 is exact)
    flags = (L2 if weight_decay != 0 else 0) | (FIRST if first else 0)
    return SFADAMW, flags, (beta2, 1.0 - beta2, eps, weight_decay, ckp1,
                            lr * (beta1 * (1.0 - ckp1) - 1.0), -lr, bias_correction2)


def lerp_spec(weight):
    return LERP, 0, (weight,)


def _f32(x):
    """``x`` rounded to float32, as torch stores its 0-dim float32 state scalars
    (NAdam's ``mu_product``, ASGD's ``eta`` and ``mu``; torch's default scalar dtype)."""
    return float(np.float32(x))


def _wd_flags(weight_decay, decoupled, lr):
    """(flags, coefficient) for weight decay in one slot: ``1 - lr*wd`` when decoupled,
    ``wd`` when coupled (the two never apply together)."""
    if weight_decay == 0:
        return 0, 0.0
    return (DECAY, 1.0 - lr * weight_decay) if decoupled else (L2, weight_decay)


def nadam_spec(step, lr, beta1, beta2, eps, weight_decay, momentum_decay, mu_product,
               maximize, decoupled):
    """``(spec, new mu_product)``; ``mu_product`` is the product of the mus so far."""
    bias_correction2 = 1.0 - beta2 ** step
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
    mu_product = _f32(np.float32(mu_product) * np.float32(mu))
    mu_product_next = mu_product * mu_next
    if mu_product == 1.0 or mu_product_next == 1.0:
        raise ValueError(f"NAdam's momentum product rounds to 1 (beta1={beta1!r} is too close "
                         "to 1), which would divide by zero")
    flags, wdc = _wd_flags(weight_decay, decoupled, lr)
    flags |= MAXIMIZE if maximize else 0
    coeffs = (wdc, 1.0 - beta1, beta2, 1.0 - beta2, bias_correction2, eps,
              (-lr * (1.0 - mu)) / (1.0 - mu_product), (-lr * mu_next) / (1.0 - mu_product_next))
    return (NADAM, flags, coeffs), mu_product


def radam_spec(step, lr, beta1, beta2, eps, weight_decay, maximize, decoupled):
    bias_correction1 = 1.0 - beta1 ** step
    bias_correction2 = 1.0 - beta2 ** step
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * step * (beta2 ** step) / bias_correction2
    flags, wdc = _wd_flags(weight_decay, decoupled, lr)
    flags |= MAXIMIZE if maximize else 0
    rect = 0.0
    if rho_t > 5.0:
        flags |= RECTIFY
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
    return RADAM, flags, (wdc, 1.0 - beta1, beta2, 1.0 - beta2, bias_correction1, lr,
                          bias_correction2 ** 0.5, eps, rect)


def adamax_spec(step, lr, beta1, beta2, eps, weight_decay, maximize):
    clr = lr / (1.0 - beta1 ** step)
    flags = (MAXIMIZE if maximize else 0) | (L2 if weight_decay != 0 else 0)
    return ADAMAX, flags, (weight_decay, 1.0 - beta1, beta2, eps, -clr)


def adadelta_spec(lr, rho, eps, weight_decay, maximize):
    flags = (MAXIMIZE if maximize else 0) | (L2 if weight_decay != 0 else 0)
    return ADADELTA, flags, (weight_decay, rho, 1.0 - rho, eps, -lr)


def asgd_spec(eta, mu, lambd, weight_decay, maximize):
    """One ASGD step with the ``eta`` and ``mu`` computed at the end of the previous one."""
    flags = ((MAXIMIZE if maximize else 0) | (L2 if weight_decay != 0 else 0)
             | (AX_COPY if mu == 1.0 else 0))
    return ASGD, flags, (weight_decay, 1.0 - lambd * eta, -eta, mu)


def asgd_next(step, lr, lambd, alpha, t0):
    """``(eta, mu)`` for the step after step ``step`` (counted from 1), float32-rounded as
    torch stores them."""
    # lambd, lr >= 0 and step >= 1: the base is >= 1, so the power is real
    try:
        eta = lr / ((1.0 + lambd * lr * step) ** alpha)
    except OverflowError:       # an infinite denominator (Python raises, C gives inf)
        eta = 0.0
    except ZeroDivisionError:   # the power underflowed to 0 (alpha very negative)
        eta = math.inf
    eta = _f32(eta)
    if not math.isfinite(eta):
        raise ValueError(f"ASGD's step size lr / (1 + lambd*lr*t)**alpha is not finite at t="
                         f"{step} (lr={lr!r}, lambd={lambd!r}, alpha={alpha!r})")
    return eta, _f32(1.0 / max(1.0, step - t0))


def rprop_spec(etaminus, etaplus, step_size_min, step_size_max, maximize):
    return RPROP, MAXIMIZE if maximize else 0, (etaminus, etaplus, step_size_min, step_size_max)


# ---- the numpy kernels -------------------------------------------------------------------

def _lerp_(a, b, w):
    """``a = lerp(a, b, w)`` in place, torch's formula without the FMA."""
    if abs(w) < 0.5:
        a += w * (b - a)
    else:
        a[...] = b - (b - a) * (w.dtype.type(1) - w)


def _np_sgd(p, g, s, flags, c):
    T = p.dtype.type
    wd, mom, damp1, nlr = T(c[0]), T(c[1]), T(c[2]), T(c[3])
    g = _l2_grad(p, _signed(g, flags), flags, wd)
    if flags & MOMENTUM:
        buf = s[0]
        if flags & FIRST:
            buf[...] = g
        else:
            buf *= mom
            buf += damp1 * g
        g = g + mom * buf if flags & NESTEROV else buf
    p += nlr * g


def _np_adam(p, g, s, flags, c):
    T = p.dtype.type
    decay, wd, w1, b2, c2, bc2s, eps, nstep = (T(x) for x in c)
    m, vv = s[0], s[1]
    if flags & MAXIMIZE:
        g = -g
    if flags & DECAY:
        p *= decay
    if flags & L2:
        g = g + wd * p
    _lerp_(m, g, w1)
    vv *= b2
    vv += (c2 * g) * g
    if flags & AMSGRAD:
        np.maximum(s[2], vv, out=s[2])
        vv = s[2]
    p += (nstep * m) / (np.sqrt(vv) / bc2s + eps)


def _np_rmsprop(p, g, s, flags, c):
    T = p.dtype.type
    wd, alpha, ca, eps, mom, nlr = (T(x) for x in c)
    sq = s[0]
    g = _l2_grad(p, _signed(g, flags), flags, wd)
    sq *= alpha
    sq += (ca * g) * g
    if flags & CENTERED:
        ga = s[1]
        _lerp_(ga, g, ca)
        avg = np.sqrt(sq - ga * ga)
    else:
        avg = np.sqrt(sq)
    avg += eps
    if flags & MOMENTUM:
        buf = s[2]
        buf *= mom
        buf += g / avg
        p += nlr * buf
    else:
        p += (nlr * g) / avg


def _np_adagrad(p, g, s, flags, c):
    T = p.dtype.type
    wd, eps, nclr = T(c[0]), T(c[1]), T(c[2])
    total = s[0]
    g = _l2_grad(p, _signed(g, flags), flags, wd)
    total += g * g
    p += (nclr * g) / (np.sqrt(total) + eps)


def _np_lion(p, g, s, flags, c):
    T = p.dtype.type
    decay, b1, c1, nlr, b2, c2 = (T(x) for x in c)
    m = s[0]
    if flags & DECAY:
        p *= decay
    p += nlr * np.sign(m * b1 + c1 * g)
    m *= b2
    m += c2 * g


def _np_sfsgd(p, g, s, flags, c):
    T = p.dtype.type
    wd, ck, coef, nlr = T(c[0]), T(c[1]), T(c[2]), T(c[3])
    z = s[0]
    if flags & FIRST:
        z[...] = p
    if flags & L2:
        g = g + wd * p
    _lerp_(p, z, ck)
    p += coef * g
    z += nlr * g


def _np_sfadamw(p, g, s, flags, c):
    T = p.dtype.type
    b2, c2, eps, wd, ck, coef, nlr, bc2 = (T(x) for x in c)
    z, vv = s[0], s[1]
    if flags & FIRST:
        z[...] = p
    vv *= b2
    vv += (c2 * g) * g
    u = g / (np.sqrt(vv / bc2) + eps)
    if flags & L2:
        u = u + wd * p
    _lerp_(p, z, ck)
    p += coef * u
    z += nlr * u


def _np_lerp(p, g, s, flags, c):
    _lerp_(p, s[0], p.dtype.type(c[0]))


def _signed(g, flags):
    """The gradient of the objective: ``-grad`` when maximizing (a new array; ``grad``
    itself is never written)."""
    return -g if flags & MAXIMIZE else g


def _l2_grad(p, g, flags, wd):
    """``g + wd * p`` under coupled (L2) weight decay, else ``g``."""
    return g + wd * p if flags & L2 else g


def _decay_or_l2(p, g, flags, wdc):
    if flags & DECAY:
        p *= wdc
    if flags & L2:
        g = g + wdc * p
    return g


def _np_nadam(p, g, s, flags, c):
    T = p.dtype.type
    wdc, w1, b2, c2, bc2, eps, cg, cm = (T(x) for x in c[:8])
    m, vv = s[0], s[1]
    g = _decay_or_l2(p, _signed(g, flags), flags, wdc)
    _lerp_(m, g, w1)
    vv *= b2
    vv += (c2 * g) * g
    den = np.sqrt(vv / bc2)
    den += eps
    p += (cg * g) / den
    p += (cm * m) / den


def _np_radam(p, g, s, flags, c):
    T = p.dtype.type
    wdc, w1, b2, c2, bc1, lr, bc2s, eps, rect = (T(x) for x in c[:9])
    m, vv = s[0], s[1]
    g = _decay_or_l2(p, _signed(g, flags), flags, wdc)
    _lerp_(m, g, w1)
    vv *= b2
    vv += (c2 * g) * g
    u = (m / bc1) * lr
    if flags & RECTIFY:
        # torch's float / tensor is reciprocal() then a product: two roundings
        u = (u * ((T(1) / (np.sqrt(vv) + eps)) * bc2s)) * rect
    p -= u


def _np_adamax(p, g, s, flags, c):
    T = p.dtype.type
    wd, w1, b2, eps, nclr = (T(x) for x in c[:5])
    m, u = s[0], s[1]
    g = _l2_grad(p, _signed(g, flags), flags, wd)
    _lerp_(m, g, w1)
    u *= b2
    np.maximum(u, np.abs(g) + eps, out=u)
    p += (nclr * m) / u


def _np_adadelta(p, g, s, flags, c):
    T = p.dtype.type
    wd, rho, crho, eps, nlr = (T(x) for x in c[:5])
    sq, acc = s[0], s[1]
    g = _l2_grad(p, _signed(g, flags), flags, wd)
    sq *= rho
    sq += (crho * g) * g
    delta = (np.sqrt(acc + eps) / np.sqrt(sq + eps)) * g
    acc *= rho
    acc += (crho * delta) * delta
    p += nlr * delta


def _np_asgd(p, g, s, flags, c):
    T = p.dtype.type
    wd, decay, neta, mu = (T(x) for x in c[:4])
    ax = s[0]
    g = _l2_grad(p, _signed(g, flags), flags, wd)
    p *= decay
    p += neta * g
    if flags & AX_COPY:
        ax[...] = p
    else:
        ax += (p - ax) * mu


def _np_rprop(p, g, s, flags, c):
    T = p.dtype.type
    em, ep, lo, hi = (T(x) for x in c[:4])
    prev, size = s[0], s[1]
    if flags & MAXIMIZE:
        g = -g
    sgn = np.sign(g * prev)
    factor = np.where(sgn > 0, ep, np.where(sgn < 0, em, np.where(sgn == 0, T(1), sgn)))
    size *= factor
    # clamp by two selects (a NaN fails both tests and stays), exactly as the C kernel
    size[...] = np.where(size < lo, lo, size)
    size[...] = np.where(size > hi, hi, size)
    g = np.where(sgn < 0, T(0), g)
    p -= np.sign(g) * size
    prev[...] = g


_NUMPY = (_np_sgd, _np_adam, _np_rmsprop, _np_adagrad, _np_lion, _np_sfsgd, _np_sfadamw,
          _np_lerp, _np_nadam, _np_radam, _np_adamax, _np_adadelta, _np_asgd, _np_rprop)


def _run_one(spec, param, grad, states):
    """Apply ``spec`` to one array. The callers validated the arrays; this checks that
    the spec is well formed and everything it reads is given, so a direct call raises
    before writing instead of failing half way (as the compiled twin does)."""
    need = check_spec("spec", spec)
    states = tuple(states) + (None,) * (3 - len(states))
    if need & NEED_GRAD and grad is None:
        raise TypeError("grad must be a numpy.ndarray, got NoneType")
    for k in range(3):
        if need & (1 << k) and states[k] is None:
            raise TypeError(f"states[{k}] must be a numpy.ndarray, got NoneType")
    kind, flags, coeffs = spec
    _NUMPY[kind](param, grad, states, flags, coeffs)


# ---- array checks (shared by both backends: same errors, same order) ----------------------

def _describe(value):
    return f"{type(value).__name__}"


def check_array(name, a, *, writeable=True):
    """An optimizable array: float32/float64 ndarray, C-contiguous, writeable."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {_describe(a)}")
    if a.dtype not in (np.float32, np.float64) or not a.dtype.isnative:
        raise TypeError(f"{name} must have dtype float32 or float64, got {a.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use np.ascontiguousarray)")
    if writeable and not a.flags.writeable:
        raise ValueError(f"{name} is read-only; it is updated in place")
    return a


def check_like(name, a, like_name, like, *, writeable=False):
    """``a`` must be an ndarray with ``like``'s dtype and shape, C-contiguous."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {_describe(a)}")
    if a.dtype != like.dtype or not a.dtype.isnative:
        raise TypeError(f"{name} has dtype {a.dtype} but {like_name} has dtype {like.dtype}")
    if a.shape != like.shape:
        raise ValueError(f"{name} has shape {a.shape} but {like_name} has shape {like.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use np.ascontiguousarray)")
    if writeable and not a.flags.writeable:
        raise ValueError(f"{name} is read-only; it is updated in place")
    return a


def _span(a):
    start = a.__array_interface__["data"][0]
    return start, start + a.nbytes


class Bounds:
    """The memory of labelled arrays (an optimizer's params and state buffers), sorted, to
    find which one another array overlaps. The arrays must not overlap each other."""

    def __init__(self, labelled):
        labelled = list(labelled)
        spans = sorted((*_span(a), i) for i, (_, a) in enumerate(labelled) if a.nbytes)
        for (s0, e0, i0), (s1, e1, i1) in zip(spans, spans[1:]):
            if s1 < e0:
                i, j = sorted((i0, i1))
                raise ValueError(f"{labelled[j][0]} overlaps the memory of {labelled[i][0]}; "
                                 "every array can be optimized only once")
        self.starts = [s for s, _, _ in spans]
        self.ends = [e for _, e, _ in spans]
        self.labels = [labelled[i][0] for _, _, i in spans]

    def overlapping(self, a):
        """The label of an array whose memory ``a`` overlaps, or None."""
        if not a.nbytes:
            return None
        start, end = _span(a)
        k = bisect.bisect_left(self.starts, end) - 1
        return self.labels[k] if k >= 0 and self.ends[k] > start else None


def grad_list(grads, n):
    """The gradients of a step as a list of ``n`` (one per param, in order)."""
    if isinstance(grads, np.ndarray):
        if n == 1:
            return [grads]
        raise TypeError(f"grads must be a list of {n} arrays (one per param), got one ndarray")
    if not isinstance(grads, (list, tuple)):
        raise TypeError(f"grads must be a list of arrays (one per param), got {_describe(grads)}")
    if len(grads) != n:
        raise ValueError(f"expected {n} gradients (one per param), got {len(grads)}")
    return grads


def check_step(params, shapes, grads, bounds):
    """Everything a step reads or writes, checked before anything is written.

    A gradient may alias another gradient (both are only read), but not a param or a
    state buffer (those are written while it is read).
    """
    for i, p in enumerate(params):
        check_array(f"params[{i}]", p)
        if p.shape != shapes[i]:
            raise ValueError(f"params[{i}] changed shape from {shapes[i]} to {p.shape}")
    if grads is None:
        return
    for i, (p, g) in enumerate(zip(params, grads)):
        check_like(f"grads[{i}]", g, f"params[{i}]", p)
        label = bounds.overlapping(g)
        if label is not None:
            raise ValueError(f"grads[{i}] overlaps the memory of {label}; "
                             "pass gradients in arrays of their own")


def needs(kind, flags):
    """Which arrays kernel ``kind`` reads under ``flags``: bit k for state buffer k,
    ``NEED_GRAD`` for the gradient (``fl_optim_needs`` in src_c/fl_optim.c)."""
    g = NEED_GRAD
    if kind == SGD:
        return g | (1 if flags & MOMENTUM else 0)
    if kind == ADAM:
        return g | 3 | (4 if flags & AMSGRAD else 0)
    if kind == RMSPROP:
        return g | 1 | (2 if flags & CENTERED else 0) | (4 if flags & MOMENTUM else 0)
    if kind in (ADAGRAD, LION, SFSGD):
        return g | 1
    if kind == SFADAMW:
        return g | 3
    if kind == LERP:
        return 1
    if kind in (NADAM, RADAM, ADAMAX, ADADELTA, RPROP):
        return g | 3
    if kind == ASGD:
        return g | 1
    raise ValueError(f"unknown kernel kind {kind!r}")


NEED_GRAD = 8


def check_spec(name, spec):
    """A ``(kind, flags, coefficients)`` triple as the kernels read it."""
    if not isinstance(spec, tuple) or len(spec) != 3:
        raise TypeError(f"{name} must be a (kind, flags, coefficients) tuple, got "
                        f"{_describe(spec)}")
    kind, flags, coeffs = spec
    if not isinstance(kind, int) or not 0 <= kind <= LAST_KIND:
        raise ValueError(f"{name} has an unknown kernel kind {kind!r}")
    if not isinstance(flags, int) or not 0 <= flags < 256:
        raise ValueError(f"{name} has invalid flags {flags!r}")
    if not isinstance(coeffs, tuple) or len(coeffs) > NCOEF \
            or not all(isinstance(c, float) for c in coeffs):
        raise TypeError(f"{name} must have a tuple of at most {NCOEF} float coefficients")
    return needs(kind, flags)


def check_specs(specs, slots, group_of, with_grads):
    """One valid spec per group, and every state buffer each param's spec reads exists."""
    ngroups = max(group_of) + 1 if group_of else 0
    if not isinstance(specs, (list, tuple)) or len(specs) != ngroups:
        raise ValueError(f"a step needs one spec per param group ({ngroups})")
    need = [check_spec(f"specs[{k}]", s) for k, s in enumerate(specs)]
    for i, (s, k) in enumerate(zip(slots, group_of)):
        if need[k] & NEED_GRAD and not with_grads:
            raise ValueError(f"specs[{k}] needs gradients")
        for j in range(3):
            if need[k] & (1 << j) and s[j] is None:
                raise ValueError(f"params[{i}] has no state buffer {j} but specs[{k}] "
                                 "reads it")


RUNNER_BUSY = ("this optimizer is already stepping in another thread: steps on one "
               "optimizer must not overlap (the optimizers serialise their own steps; this "
               "is the internal runner)")


class _Runner:
    """Applies one step's updates to all of an optimizer's arrays (internal).

    ``slots[i]`` are param i's state buffers in the kernel's order (None where absent);
    ``group_of[i]`` indexes the per-group spec that :meth:`step` receives. Everything
    is validated here, so a bad table raises instead of writing anywhere; the compiled
    twin (``fastlr._optim.Runner``) does the same checks and the update in one C call.

    ``completed`` counts the calls that wrote. ``torn`` is set when an exception (a
    KeyboardInterrupt, a MemoryError) stopped a write half way: numpy updates one
    array operation at a time, so such a step is neither applied nor undone.
    """

    def __init__(self, params, slots, group_of, names=None):
        self.params, self.shapes, self.slots, self.group_of, self.bounds = \
            check_runner(params, slots, group_of, names)
        self.completed = 0
        self.torn = False
        self._busy = threading.Lock()

    def __reduce__(self):
        raise TypeError("fastlr.reference.kernels._Runner cannot be pickled; pickle the "
                        "optimizer (it rebuilds its runner)")

    def _enter(self):
        if not self._busy.acquire(blocking=False):
            raise RuntimeError(RUNNER_BUSY)

    def _write(self, work):
        self.torn = True
        for p, g, s, spec in work:
            _run_one(spec, p, g, s)
        self.torn = False
        self.completed += 1

    def step(self, grads, specs, skip_nonfinite):
        """Validate, then update; returns False (nothing written) when ``skip_nonfinite``
        and a gradient holds a NaN or an infinity."""
        self._enter()
        try:
            grads = list(grads)
            if len(grads) != len(self.params):
                raise ValueError("a step needs one gradient per param")
            check_specs(specs, self.slots, self.group_of, True)
            check_step(self.params, self.shapes, grads, self.bounds)
            if skip_nonfinite and not all(np.isfinite(g).all() for g in grads):
                return False
            self._write([(p, g, s, specs[k]) for p, g, s, k in
                         zip(self.params, grads, self.slots, self.group_of)])
            return True
        finally:
            self._busy.release()

    def lerp(self, weights):
        """``params[i] = lerp(params[i], slots[i][0], weights[group_of[i]])``."""
        self._enter()
        try:
            specs = [lerp_spec(float(w)) for w in weights]
            check_specs(specs, self.slots, self.group_of, False)
            check_step(self.params, self.shapes, None, self.bounds)
            self._write([(p, None, s, specs[k]) for p, s, k in
                         zip(self.params, self.slots, self.group_of)])
        finally:
            self._busy.release()


def check_runner(params, slots, group_of, names=None):
    """A runner's table, checked: ``(params, shapes, slots, group_of, bounds)``.

    ``names`` (one tuple of state names per param) label the buffers in messages.
    """
    params = tuple(params)
    slots = tuple(tuple(s) for s in slots)
    group_of = tuple(group_of)
    n = len(params)
    if len(slots) != n or len(group_of) != n:
        raise ValueError(f"need one slot tuple and one group index per param ({n})")
    labelled = []
    for i, p in enumerate(params):
        check_array(f"params[{i}]", p)
        labelled.append((f"params[{i}]", p))
    for i, (p, s) in enumerate(zip(params, slots)):
        if len(s) != 3:
            raise ValueError(f"slots[{i}] must hold 3 entries (None where absent)")
        for j, a in enumerate(s):
            if a is not None:
                label = (f"the state buffer {names[i][j]!r} of params[{i}]" if names
                         else f"slots[{i}][{j}]")
                check_like(label, a, f"params[{i}]", p, writeable=True)
                labelled.append((label, a))
    for i, k in enumerate(group_of):
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < n:
            raise ValueError(f"group_of[{i}] must be an int in [0, {n}), got "
                             f"{k if isinstance(k, int) and abs(k) < 10**30 else type(k)}")
    if set(group_of) != set(range(max(group_of) + 1 if n else 0)):
        raise ValueError("group_of must use every group index from 0 to its maximum")
    return params, tuple(p.shape for p in params), slots, group_of, Bounds(labelled)


# ---- threads ------------------------------------------------------------------------------

def set_num_threads(n):
    """Use ``n`` threads (an int in [1, 1024]) for large arrays (OpenMP in the compiled
    backend); one count for every compiled loop of fastlr.

    Every count gives the same results. The reference backend runs serially and only
    records the number. A child made by ``os.fork()`` runs serially (OpenMP's threads
    do not survive a fork): there this count reads 1 whatever is set.
    """
    _threads.set_count(n)


def get_num_threads():
    """The thread count optimizer steps use (default: the cores this process may use,
    or ``OMP_NUM_THREADS``; 1 in a forked child)."""
    return _threads.get_count()


# ---- the public single-array kernels --------------------------------------------------------

def int_digits(n):
    """The number of decimal digits of the int ``n``, without ``str(n)`` (which Python
    refuses past 4300 digits)."""
    n = abs(int(n))
    if n < 10:
        return 1
    d = int(math.log10(n)) + 1          # exact up to the float's rounding near 10**k
    if 10 ** (d - 1) > n:
        d -= 1
    elif 10 ** d <= n:
        d += 1
    return d


_HUGE = 2 ** 1023


def is_huge_int(value):
    """An int too large for a float64: shown by its digit count, never printed."""
    t = type(value)
    if t is float or t is bool:       # the common cases, checked at every step: fast
        return False
    if t is int:
        return value >= _HUGE or value <= -_HUGE
    return (isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
            and abs(int(value)) >= _HUGE)


def huge_int_error(name, value, where=""):
    return ValueError(f"{name} must be finite, got an int with {int_digits(value)} digits"
                      f"{where} (too large for a float)")


def real_hp(name, value, **bounds):
    """A hyperparameter as a float, checked (``_validate.real``); a huge int gets a
    message with its digit count instead of its (unprintable) value."""
    if is_huge_int(value):
        raise huge_int_error(name, value)
    return float(v.real(name, value, **bounds))


_hp = real_hp


def count_hp(name, value, *, low=0):
    """A step count in [low, 2**53] (``_validate.step_count``; past 2**53 a float64 no
    longer counts exactly and ``beta**step`` would need an int-to-float conversion that
    overflows)."""
    if is_huge_int(value):
        raise ValueError(f"{name} must be <= 2**53, got an int with {int_digits(value)} "
                         "digits")
    n = v.step_count(name, value)
    if n < low:
        raise ValueError(f"{name} must be >= {low}, got {n!r}")
    if n > v.MAX_STEP:
        raise ValueError(f"{name} must be <= 2**53, got {n!r}")
    return n


def _states(param, grad, required, optional=None):
    """Validate state buffers: like ``param``, writeable, not overlapping each other,
    ``param`` or ``grad``. ``required`` ones must be arrays; ``optional`` ones may be None
    (absent)."""
    arrays = [(n, a) for n, a in (("param", param), ("grad", grad)) if a is not None]
    named = [(n, a, True) for n, a in required.items()]
    named += [(n, a, False) for n, a in (optional or {}).items()]
    for name, a, needed in named:
        if a is None and not needed:
            continue
        check_like(name, a, "param", param, writeable=True)
        for other_name, other in arrays:
            if np.may_share_memory(a, other):
                raise ValueError(f"{name} overlaps the memory of {other_name}")
        arrays.append((name, a))


def _arrays(param, grad):
    check_array("param", param)
    check_like("grad", grad, "param", param)
    if np.may_share_memory(grad, param):
        raise ValueError("grad overlaps the memory of param; pass it in an array of its own")


def sgd(param, grad, momentum_buffer=None, *, lr, momentum=0.0, dampening=0.0,
        weight_decay=0.0, nesterov=False, maximize=False, first_step=False):
    """One SGD update in place (torch.optim.SGD, for-loop order).

    ``g = -grad`` if maximize; ``g = g + weight_decay*param``; with momentum,
    ``buf = g`` on the first step (``first_step=True``: torch's first-step copy, no
    dampening) else ``buf = momentum*buf + (1-dampening)*g``, then ``g = g +
    momentum*buf`` (nesterov) or ``g = buf``; finally ``param = param - lr*g``.
    ``momentum_buffer`` is required when ``momentum != 0``.
    """
    _arrays(param, grad)
    lr = _hp("lr", lr, low=0.0)
    momentum = _hp("momentum", momentum, low=0.0)
    dampening = _hp("dampening", dampening)
    weight_decay = _hp("weight_decay", weight_decay, low=0.0)
    nesterov = v.flag("nesterov", nesterov)
    maximize = v.flag("maximize", maximize)
    first_step = v.flag("first_step", first_step)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("nesterov momentum requires a momentum > 0 and zero dampening, "
                         f"got momentum={momentum!r}, dampening={dampening!r}")
    if momentum != 0 and momentum_buffer is None:
        raise ValueError("momentum_buffer is required when momentum != 0")
    _states(param, grad, {}, {"momentum_buffer": momentum_buffer})
    spec = sgd_spec(lr, momentum, dampening, weight_decay, nesterov, maximize, first_step)
    _run_one(spec, param, grad, (momentum_buffer if momentum != 0 else None, None, None))


def _adam_hps(lr, beta1, beta2, eps, weight_decay):
    """The checked hyperparameters every Adam-family kernel takes, in one order (so the
    first bad one is the one named, the same in every kernel)."""
    return (_hp("lr", lr, low=0.0),
            _hp("beta1", beta1, low=0.0, high=1.0, high_open=True),
            _hp("beta2", beta2, low=0.0, high=1.0, high_open=True),
            _hp("eps", eps, low=0.0),
            _hp("weight_decay", weight_decay, low=0.0))


def adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr, beta1=0.9,
         beta2=0.999, eps=1e-8, weight_decay=0.0, maximize=False, decoupled=False):
    """One Adam update in place (torch.optim.Adam, for-loop order); ``step`` counts from 1.

    ``g = -grad`` if maximize; weight decay: ``param = param*(1 - lr*wd)`` when
    ``decoupled`` (AdamW) else ``g = g + wd*param``; ``m = lerp(m, g, 1-beta1)``;
    ``v = beta2*v + (1-beta2)*g*g``; with ``max_exp_avg_sq`` (amsgrad) ``vmax =
    max(vmax, v)`` is used for v; ``param = param + (-lr/bc1)*m / (sqrt(v)/sqrt(bc2) +
    eps)`` with ``bc = 1 - beta**step`` in double.
    """
    _arrays(param, grad)
    step = count_hp("step", step, low=1)   # the count after this update
    lr, beta1, beta2, eps, weight_decay = _adam_hps(lr, beta1, beta2, eps, weight_decay)
    maximize = v.flag("maximize", maximize)
    decoupled = v.flag("decoupled", decoupled)
    _states(param, grad, {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq},
            {"max_exp_avg_sq": max_exp_avg_sq})
    spec = adam_spec(step, lr, beta1, beta2, eps, weight_decay, max_exp_avg_sq is not None,
                     maximize, decoupled)
    _run_one(spec, param, grad, (exp_avg, exp_avg_sq, max_exp_avg_sq))


def adamw(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr, beta1=0.9,
          beta2=0.999, eps=1e-8, weight_decay=1e-2, maximize=False):
    """One AdamW update in place: :func:`adam` with decoupled weight decay.

    ``param = param * (1 - lr * weight_decay)`` first, then the Adam update of :func:`adam`
    with no decay in the gradient (``adam(..., decoupled=True)``).
    """
    adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step=step, lr=lr, beta1=beta1,
         beta2=beta2, eps=eps, weight_decay=weight_decay, maximize=maximize, decoupled=True)


def rmsprop(param, grad, square_avg, grad_avg=None, momentum_buffer=None, *, lr, alpha=0.99,
            eps=1e-8, weight_decay=0.0, momentum=0.0, maximize=False):
    """One RMSprop update in place (torch.optim.RMSprop, for-loop order).

    ``g = -grad`` if maximize; ``g = g + wd*param``; ``sq = alpha*sq + (1-alpha)*g*g``;
    centered (``grad_avg`` given): ``ga = lerp(ga, g, 1-alpha)``, ``avg = sqrt(sq -
    ga*ga) + eps``, else ``avg = sqrt(sq) + eps``; with ``momentum > 0``: ``buf =
    momentum*buf + g/avg``, ``param = param - lr*buf``; else ``param = param -
    lr*g/avg``.
    """
    _arrays(param, grad)
    lr = _hp("lr", lr, low=0.0)
    alpha = _hp("alpha", alpha, low=0.0)
    eps = _hp("eps", eps, low=0.0)
    weight_decay = _hp("weight_decay", weight_decay, low=0.0)
    momentum = _hp("momentum", momentum, low=0.0)
    maximize = v.flag("maximize", maximize)
    if momentum > 0 and momentum_buffer is None:
        raise ValueError("momentum_buffer is required when momentum > 0")
    _states(param, grad, {"square_avg": square_avg},
            {"grad_avg": grad_avg, "momentum_buffer": momentum_buffer})
    spec = rmsprop_spec(lr, alpha, eps, weight_decay, momentum, grad_avg is not None, maximize)
    _run_one(spec, param, grad,
             (square_avg, grad_avg, momentum_buffer if momentum > 0 else None))


def adagrad(param, grad, state_sum, *, step, lr, lr_decay=0.0, weight_decay=0.0, eps=1e-10,
            maximize=False):
    """One Adagrad update in place (torch.optim.Adagrad); ``step`` counts from 1.

    ``g = -grad`` if maximize; ``g = g + wd*param``; ``clr = lr / (1 + (step-1) *
    lr_decay)``; ``sum = sum + g*g``; ``param = param - clr*g / (sqrt(sum) + eps)``.
    """
    _arrays(param, grad)
    step = count_hp("step", step, low=1)   # the count after this update
    lr = _hp("lr", lr, low=0.0)
    lr_decay = _hp("lr_decay", lr_decay, low=0.0)
    weight_decay = _hp("weight_decay", weight_decay, low=0.0)
    eps = _hp("eps", eps, low=0.0)
    maximize = v.flag("maximize", maximize)
    _states(param, grad, {"state_sum": state_sum})
    _run_one(adagrad_spec(step, lr, lr_decay, weight_decay, eps, maximize), param, grad,
             (state_sum, None, None))


def lion(param, grad, exp_avg, *, lr, beta1=0.9, beta2=0.99, weight_decay=0.0):
    """One Lion update in place (Chen et al. 2023, "Symbolic Discovery of Optimization
    Algorithms"; operation order of lucidrains/lion-pytorch).

    ``param = param*(1 - lr*wd)``; ``param = param - lr*sign(beta1*m + (1-beta1)*g)``;
    ``m = beta2*m + (1-beta2)*g``. ``sign(0) = 0``.
    """
    _arrays(param, grad)
    lr = _hp("lr", lr, low=0.0)
    beta1 = _hp("beta1", beta1, low=0.0, high=1.0)
    beta2 = _hp("beta2", beta2, low=0.0, high=1.0)
    weight_decay = _hp("weight_decay", weight_decay, low=0.0)
    _states(param, grad, {"exp_avg": exp_avg})
    _run_one(lion_spec(lr, beta1, beta2, weight_decay), param, grad, (exp_avg, None, None))


def schedule_free_sgd(param, grad, z, *, lr, momentum, ckp1, weight_decay=0.0,
                      first_step=False):
    """One schedule-free SGD update in place (Defazio et al. 2024); ``param`` holds y.

    ``z = y`` on the first step; ``g = g + wd*y``; ``y = lerp(y, z, ckp1)``; ``y = y +
    lr*(momentum*(1-ckp1) - 1)*g``; ``z = z - lr*g``. ``ckp1`` is the averaging weight
    ``c_{t+1}`` (see :class:`fastlr.ScheduleFreeSGD`).
    """
    _arrays(param, grad)
    lr = _hp("lr", lr, low=0.0)
    momentum = _hp("momentum", momentum, low=0.0, high=1.0)
    ckp1 = _hp("ckp1", ckp1, low=0.0, high=1.0)
    weight_decay = _hp("weight_decay", weight_decay, low=0.0)
    first_step = v.flag("first_step", first_step)
    _states(param, grad, {"z": z})
    _run_one(sfsgd_spec(lr, momentum, ckp1, weight_decay, first_step), param, grad,
             (z, None, None))


def schedule_free_adamw(param, grad, z, exp_avg_sq, *, lr, ckp1, beta1=0.9, beta2=0.999,
                        eps=1e-8, weight_decay=0.0, first_step=False, bias_correction2=1.0):
    """One schedule-free AdamW update in place (Defazio et al. 2024); ``param`` holds y.

    ``z = y`` on the first step; ``v = beta2*v + (1-beta2)*g*g``; ``u = g/(sqrt(v /
    bias_correction2) + eps) + wd*y``; ``y = lerp(y, z, ckp1)``; ``y = y +
    lr*(beta1*(1-ckp1) - 1)*u``; ``z = z - lr*u``. ``lr`` is the step's effective rate
    (the optimizer folds warmup into it). schedulefree's ``AdamWScheduleFree`` (>= 1.3)
    passes ``bias_correction2 = 1 - beta2**t``; its ``AdamWScheduleFreePaper`` passes
    1.0 and folds ``sqrt(1 - beta2**t)`` into ``lr`` instead.
    """
    _arrays(param, grad)
    lr = _hp("lr", lr, low=0.0)
    ckp1 = _hp("ckp1", ckp1, low=0.0, high=1.0)
    beta1 = _hp("beta1", beta1, low=0.0, high=1.0)
    beta2 = _hp("beta2", beta2, low=0.0, high=1.0, high_open=True)
    eps = _hp("eps", eps, low=0.0)
    weight_decay = _hp("weight_decay", weight_decay, low=0.0)
    first_step = v.flag("first_step", first_step)
    bias_correction2 = _hp("bias_correction2", bias_correction2, low=0.0, low_open=True,
                           high=1.0)
    _states(param, grad, {"z": z, "exp_avg_sq": exp_avg_sq})
    _run_one(sfadamw_spec(lr, beta1, beta2, eps, ckp1, weight_decay, first_step,
                          bias_correction2), param, grad, (z, exp_avg_sq, None))


def lerp(param, end, *, weight):
    """``param = lerp(param, end, weight)`` in place: ``param + weight*(end - param)``
    for ``|weight| < 0.5``, else ``end - (end - param)*(1 - weight)`` (torch's formula)."""
    check_array("param", param)
    weight = _hp("weight", weight)
    check_like("end", end, "param", param)
    if np.may_share_memory(end, param):
        raise ValueError("end overlaps the memory of param")
    _run_one(lerp_spec(weight), param, None, (end, None, None))


def _pair(name, value, names):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"{name} must be a pair ({', '.join(names)}), got "
                        f"{type(value).__name__}")
    return tuple(_hp(n, x) for n, x in zip(names, value))


def nadam(param, grad, exp_avg, exp_avg_sq, *, step, lr, beta1=0.9, beta2=0.999, eps=1e-8,
          weight_decay=0.0, momentum_decay=4e-3, mu_product=1.0, maximize=False,
          decoupled=False):
    """One NAdam update in place (torch.optim.NAdam, for-loop order); ``step`` counts from
    1. Returns the new momentum product, to pass as ``mu_product`` at the next step.

    ``mu_k = beta1 * (1 - 0.5 * 0.96**(k * momentum_decay))``, ``P = f32(P * mu_k)``
    (float32, as torch stores it); ``g = -grad`` if maximize; ``param = param*(1 -
    lr*wd)`` (``decoupled``) or ``g = g + wd*param``; ``m = lerp(m, g, 1-beta1)``; ``v =
    beta2*v + (1-beta2)*g*g``; ``d = sqrt(v / (1 - beta2**k)) + eps``; ``param = param +
    (-lr*(1-mu_k)/(1-P) * g)/d``; ``param = param + (-lr*mu_{k+1}/(1-P*mu_{k+1}) * m)/d``.
    """
    _arrays(param, grad)
    step = count_hp("step", step, low=1)
    lr, beta1, beta2, eps, weight_decay = _adam_hps(lr, beta1, beta2, eps, weight_decay)
    momentum_decay = _hp("momentum_decay", momentum_decay, low=0.0)
    mu_product = _hp("mu_product", mu_product, low=0.0, high=1.0)
    maximize = v.flag("maximize", maximize)
    decoupled = v.flag("decoupled", decoupled)
    _states(param, grad, {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq})
    spec, mu_product = nadam_spec(step, lr, beta1, beta2, eps, weight_decay, momentum_decay,
                                  mu_product, maximize, decoupled)
    _run_one(spec, param, grad, (exp_avg, exp_avg_sq, None))
    return mu_product


def radam(param, grad, exp_avg, exp_avg_sq, *, step, lr, beta1=0.9, beta2=0.999, eps=1e-8,
          weight_decay=0.0, maximize=False, decoupled=False):
    """One RAdam update in place (torch.optim.RAdam, for-loop order); ``step`` counts from 1.

    ``g = -grad`` if maximize; weight decay as :func:`nadam`; ``m = lerp(m, g, 1-beta1)``;
    ``v = beta2*v + (1-beta2)*g*g``; ``u = (m / bc1) * lr``; when ``rho_k > 5`` (see
    :class:`fastlr.RAdam`) ``u = (u * ((1/(sqrt(v) + eps)) * sqrt(bc2))) * rect``;
    ``param = param - u``.
    """
    _arrays(param, grad)
    step = count_hp("step", step, low=1)
    lr, beta1, beta2, eps, weight_decay = _adam_hps(lr, beta1, beta2, eps, weight_decay)
    maximize = v.flag("maximize", maximize)
    decoupled = v.flag("decoupled", decoupled)
    _states(param, grad, {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq})
    _run_one(radam_spec(step, lr, beta1, beta2, eps, weight_decay, maximize, decoupled),
             param, grad, (exp_avg, exp_avg_sq, None))


def adamax(param, grad, exp_avg, exp_inf, *, step, lr, beta1=0.9, beta2=0.999, eps=1e-8,
           weight_decay=0.0, maximize=False):
    """One Adamax update in place (torch.optim.Adamax, for-loop order); ``step`` counts
    from 1.

    ``g = -grad`` if maximize; ``g = g + wd*param``; ``m = lerp(m, g, 1-beta1)``; ``u =
    max(beta2*u, |g| + eps)``; ``param = param + ((-lr/(1 - beta1**step)) * m) / u``.
    """
    _arrays(param, grad)
    step = count_hp("step", step, low=1)
    lr, beta1, beta2, eps, weight_decay = _adam_hps(lr, beta1, beta2, eps, weight_decay)
    maximize = v.flag("maximize", maximize)
    _states(param, grad, {"exp_avg": exp_avg, "exp_inf": exp_inf})
    _run_one(adamax_spec(step, lr, beta1, beta2, eps, weight_decay, maximize), param, grad,
             (exp_avg, exp_inf, None))


def adadelta(param, grad, square_avg, acc_delta, *, lr, rho=0.9, eps=1e-6, weight_decay=0.0,
             maximize=False):
    """One Adadelta update in place (torch.optim.Adadelta, for-loop order).

    ``g = -grad`` if maximize; ``g = g + wd*param``; ``s = rho*s + (1-rho)*g*g``; ``delta =
    (sqrt(a + eps) / sqrt(s + eps)) * g``; ``a = rho*a + (1-rho)*delta*delta``; ``param =
    param - lr*delta``.
    """
    _arrays(param, grad)
    lr = _hp("lr", lr, low=0.0)
    rho = _hp("rho", rho, low=0.0, high=1.0)
    eps = _hp("eps", eps, low=0.0)
    weight_decay = _hp("weight_decay", weight_decay, low=0.0)
    maximize = v.flag("maximize", maximize)
    _states(param, grad, {"square_avg": square_avg, "acc_delta": acc_delta})
    _run_one(adadelta_spec(lr, rho, eps, weight_decay, maximize), param, grad,
             (square_avg, acc_delta, None))


def asgd(param, grad, ax, *, lr, mu=1.0, lambd=1e-4, weight_decay=0.0, maximize=False):
    """One ASGD update in place (torch.optim.ASGD, for-loop order); ``lr`` is this step's
    step size (torch's ``eta``), ``mu`` its averaging weight.

    ``g = -grad`` if maximize; ``g = g + wd*param``; ``param = param*(1 - lambd*lr)``;
    ``param = param - lr*g``; ``ax = param`` if ``mu == 1`` else ``ax = ax + (param -
    ax)*mu``. (:class:`fastlr.ASGD` computes the next ``eta`` and ``mu``.)
    """
    _arrays(param, grad)
    lr = _hp("lr", lr, low=0.0)
    mu = _hp("mu", mu, low=0.0)
    lambd = _hp("lambd", lambd, low=0.0)
    weight_decay = _hp("weight_decay", weight_decay, low=0.0)
    maximize = v.flag("maximize", maximize)
    _states(param, grad, {"ax": ax})
    _run_one(asgd_spec(lr, mu, lambd, weight_decay, maximize), param, grad, (ax, None, None))


def rprop(param, grad, prev, step_size, *, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0),
          maximize=False):
    """One Rprop update in place (torch.optim.Rprop, for-loop order); ``step_size`` holds
    every element's step size (torch starts it at ``lr``).

    ``g = -grad`` if maximize; ``s = sign(g*prev)``; ``step_size = clip(step_size * f,
    step_size_min, step_size_max)`` with ``f = etaplus, etaminus, 1`` for ``s > 0, < 0,
    == 0``; ``g = 0`` where ``s < 0``; ``param = param - sign(g)*step_size``; ``prev = g``.
    """
    _arrays(param, grad)
    etaminus, etaplus = _pair("etas", etas, ("etaminus", "etaplus"))
    if not 0.0 < etaminus < 1.0 < etaplus:
        raise ValueError(f"etas must satisfy 0 < etaminus < 1 < etaplus, got "
                         f"{(etaminus, etaplus)!r}")
    lo, hi = _pair("step_sizes", step_sizes, ("step_size_min", "step_size_max"))
    if not 0.0 <= lo <= hi:
        raise ValueError(f"step_sizes must satisfy 0 <= step_size_min <= step_size_max, got "
                         f"{(lo, hi)!r}")
    maximize = v.flag("maximize", maximize)
    _states(param, grad, {"prev": prev, "step_size": step_size})
    _run_one(rprop_spec(etaminus, etaplus, lo, hi, maximize), param, grad,
             (prev, step_size, None))
