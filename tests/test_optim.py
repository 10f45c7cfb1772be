"""Optimizers: compiled vs reference, vs torch.optim, vs the schedule-free paper."""
import inspect
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastlr
import fastlr.reference as ref
from test_optim_cases import (CONFIG_IDS, CONFIGS, RTOL, TORCH_NAMES, assert_close, data,
                              run)

NAMES = ref.optim.OPTIMIZERS


# ---- the two backends ------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_same_signature_and_docs(name):
    a, b = getattr(fastlr, name), getattr(ref, name)
    assert a is not b and issubclass(a, b) and a._kernels is fastlr.kernels
    assert inspect.signature(a) == inspect.signature(b)
    assert a.__doc__ == b.__doc__ and ("p = " in a.__doc__ or "y = " in a.__doc__)


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=CONFIG_IDS)
def test_compiled_matches_reference(name, kwargs, dtype):
    params, grads = data(dtype, 100, seed=1)
    a, oa = run(fastlr, name, kwargs, params, grads)
    b, ob = run(ref, name, kwargs, params, grads)
    assert_close(a, b, RTOL[dtype])
    sa, sb = oa.state_dict(), ob.state_dict()
    for x, y in zip(sa["state"], sb["state"]):
        assert x.keys() == y.keys()
        assert_close([x[k] for k in sorted(x)], [y[k] for k in sorted(y)], RTOL[dtype])
    assert sa["groups"] == sb["groups"] and oa.last_lrs == ob.last_lrs
    assert not np.allclose(a[-1], params[-1])     # the run really moved the params


@settings(max_examples=25, deadline=None)
@given(config=st.sampled_from(CONFIGS),
       sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=5),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**31))
def test_compiled_matches_reference_any_sizes(config, sizes, dtype, seed):
    name, kwargs = config
    params, grads = data(dtype, 8, seed=seed, shapes=[(n,) for n in sizes])
    a, _ = run(fastlr, name, kwargs, params, grads)
    b, _ = run(ref, name, kwargs, params, grads)
    assert_close(a, b, RTOL[dtype])


# ---- torch.optim (for-loop path; fused with the float32 tolerance) ------------------------

def torch_run(torch, name, kwargs, params, grads, **extra):
    ts = [torch.from_numpy(p.copy()) for p in params]
    opt = getattr(torch.optim, name)(ts, **kwargs, **extra)
    for g in grads:
        for t, gi in zip(ts, g):
            t.grad = torch.from_numpy(gi.copy())
        opt.step()
    return [t.numpy() for t in ts]


TORCH_CONFIGS = [(n, kw) for n, kw in CONFIGS if n in TORCH_NAMES]
TORCH_IDS = [i for i, (n, _) in zip(CONFIG_IDS, CONFIGS) if n in TORCH_NAMES]


@pytest.mark.torch
@pytest.mark.parametrize("name,kwargs", TORCH_CONFIGS, ids=TORCH_IDS)
def test_matches_torch_for_loop(fl, name, kwargs, dtype):
    torch = pytest.importorskip("torch")
    params, grads = data(dtype, 50, seed=2)
    ours, _ = run(fl, name, kwargs, params, grads)
    theirs = torch_run(torch, name, kwargs, params, grads, foreach=False)
    assert_close(ours, theirs, RTOL[dtype])


@pytest.mark.torch
@pytest.mark.parametrize("name,kwargs", [c for c in TORCH_CONFIGS
                                         if c[0] in ("SGD", "Adam", "AdamW", "Adagrad")],
                         ids=[i for i, c in zip(TORCH_IDS, TORCH_CONFIGS)
                              if c[0] in ("SGD", "Adam", "AdamW", "Adagrad")])
def test_matches_torch_fused(name, kwargs):
    torch = pytest.importorskip("torch")
    params, grads = data(np.float32, 50, seed=3)
    ours, _ = run(fastlr, name, kwargs, params, grads)
    theirs = torch_run(torch, name, kwargs, params, grads, fused=True)
    assert_close(ours, theirs, RTOL[np.float32])


@pytest.mark.torch
@pytest.mark.parametrize("name", ["AdamW", "SGD"])
def test_one_cycle_drives_lr_and_momentum_like_torch(fl, name, dtype):
    """OneCycle(...) as lr and its .momentum() as beta1/momentum = torch's OneCycleLR
    with cycle_momentum (torch writes the betas/momentum into the param group)."""
    torch = pytest.importorskip("torch")
    total = 60
    sched = fl.OneCycle(0.05, total)
    mom = sched.momentum(base_momentum=0.85, max_momentum=0.95)
    params, grads = data(dtype, 50, seed=4)
    if name == "AdamW":
        ours, opt = run(fl, name, dict(lr=sched, betas=(mom, 0.999), weight_decay=0.01),
                        params, grads)
        kwargs = dict(lr=0.05, betas=(0.95, 0.999), weight_decay=0.01)
    else:
        ours, opt = run(fl, name, dict(lr=sched, momentum=mom, nesterov=True), params, grads)
        kwargs = dict(lr=0.05, momentum=0.95, nesterov=True)
    ts = [torch.from_numpy(p.copy()) for p in params]
    topt = getattr(torch.optim, name)(ts, foreach=False, **kwargs)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.05, total_steps=total,
                                                 base_momentum=0.85, max_momentum=0.95)
    for g in grads:
        for t, gi in zip(ts, g):
            t.grad = torch.from_numpy(gi.copy())
        topt.step()
        last = topt.param_groups[0]["lr"]
        tsched.step()
    assert_close(ours, [t.numpy() for t in ts], RTOL[dtype])
    assert opt.last_lr == pytest.approx(last, rel=1e-12)


# ---- Lion: an independent transcription of lucidrains/lion-pytorch in torch ops ----------

@pytest.mark.torch
@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_lion_matches_torch_transcription(fl, dtype, wd):
    torch = pytest.importorskip("torch")
    lr, b1, b2 = 1e-3, 0.9, 0.99
    params, grads = data(dtype, 50, seed=5)
    ours, _ = run(fl, "Lion", dict(lr=lr, betas=(b1, b2), weight_decay=wd), params, grads)
    ps = [torch.from_numpy(p.copy()) for p in params]
    ms = [torch.zeros_like(p) for p in ps]
    for g in grads:
        for p, m, gi in zip(ps, ms, g):
            gi = torch.from_numpy(gi)
            p.mul_(1 - lr * wd)
            update = m.clone().mul_(b1).add(gi, alpha=1 - b1).sign_()
            p.add_(update, alpha=-lr)
            m.mul_(b2).add_(gi, alpha=1 - b2)
    assert_close(ours, [p.numpy() for p in ps], RTOL[dtype])


# ---- schedule-free: the paper's three sequences, kept explicitly ---------------------------

def schedule_free_oracle(params, grads, *, adam, lr, beta, wd, warmup, r, power,
                         beta2=0.999, eps=1e-8, paper=False):
    """x, y, z as in Defazio et al. 2024 (Algorithm 1; the explicit reference
    implementation): z <- z - lr_t*u, x <- (1-c) x + c z, y <- (1-beta) z + beta x.
    Adam's bias correction divides v (schedulefree >= 1.3), or with ``paper`` scales
    lr_t (schedulefree's AdamWScheduleFreePaper)."""
    x = [p.astype(np.float64) for p in params]
    y = [p.copy() for p in x]
    z = [p.copy() for p in x]
    v = [np.zeros_like(p) for p in x]
    lr_max, weight_sum = -1.0, 0.0
    for k, g in enumerate(grads):
        lr_t = lr * ((k + 1) / warmup if k < warmup else 1.0)
        bc2 = 1 - beta2 ** (k + 1)
        if adam and paper:
            lr_t *= math.sqrt(bc2)
            bc2 = 1.0
        lr_max = max(lr_t, lr_max)
        weight = (k + 1) ** r * lr_max ** power
        weight_sum += weight
        c = weight / weight_sum
        for i, gi in enumerate(g):
            gi = gi.astype(np.float64)
            if adam:
                v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
                u = gi / (np.sqrt(v[i] / bc2) + eps) + wd * y[i]
            else:
                u = gi + wd * y[i]
            z[i] = z[i] - lr_t * u
            x[i] = (1 - c) * x[i] + c * z[i]
            y[i] = (1 - beta) * z[i] + beta * x[i]
    return x, y


@pytest.mark.parametrize("name", ["ScheduleFreeSGD", "ScheduleFreeAdamW",
                                  "ScheduleFreeAdamW-paper"])
@pytest.mark.parametrize("wd,warmup,r", [(0.0, 0, 0.0), (0.01, 5, 1.0)])
def test_schedule_free_follows_the_paper(fl, name, wd, warmup, r):
    name, _, form = name.partition("-")
    adam = name == "ScheduleFreeAdamW"
    lr, beta = (0.01, 0.9) if adam else (0.1, 0.8)
    params, grads = data(np.float64, 60, seed=6)
    opts = dict(lr=lr, weight_decay=wd, warmup_steps=warmup, r=r)
    opts.update(betas=(beta, 0.999)) if adam else opts.update(momentum=beta)
    if form:
        opts.update(formulation=form)
    ys, opt = run(fl, name, opts, params, grads)
    x, y = schedule_free_oracle(params, grads, adam=adam, lr=lr, beta=beta, wd=wd,
                                warmup=warmup, r=r, power=2.0, paper=form == "paper")
    assert_close(ys, y, 1e-10)
    opt.eval_params()
    assert not opt.train_mode
    assert_close(ys, x, 1e-10)
    with pytest.raises(RuntimeError, match="train_params"):
        opt.step(grads[0])
    opt.eval_params()                     # no-op in eval mode
    assert_close(ys, x, 1e-10)
    opt.train_params()
    assert opt.train_mode
    assert_close(ys, y, 1e-10)


# Two steps worked by hand (p0 = 1, grads 0.5 then -1, lr = 0.1, beta = 0.9, beta2 = 0.5,
# eps = 0, no decay/warmup, r = 0, weight_lr_power = 2).
#   SGD: step 0 c = 1, y = 1 - 0.1*0.5 = 0.95 = z; step 1 c = 0.01/0.02 = 1/2,
#     y = 0.95 + 0.1*(0.9/2 - 1)*(-1) = 1.005, z = 0.95 + 0.1 = 1.05, x = (0.95 + 1.05)/2 = 1.
#   AdamW (current): step 0 v = 0.125, bc2 = 0.5, u = 0.5/sqrt(0.25) = 1, y = z = 0.9;
#     step 1 v = 0.5625, bc2 = 0.75, u = -1/sqrt(0.75) = -2/sqrt(3), c = 1/2,
#     y = 0.9 + 0.1*0.55*2/sqrt(3), z = 0.9 + 0.2/sqrt(3), x = (0.9 + z)/2.
#   AdamW (paper): lr_0 = 0.1*sqrt(0.5), u = 0.5/sqrt(0.125) = sqrt(2): y = z = 0.9 again;
#     lr_1 = 0.1*sqrt(0.75), weights 0.005 then 0.0075, so c = 0.6; u = -1/0.75 = -4/3,
#     y = 0.9 + lr_1*(1 - 0.9*0.4)*4/3, z = 0.9 + lr_1*4/3 = 0.9 + 0.2/sqrt(3),
#     x = 0.4*0.9 + 0.6*z.
_R3 = math.sqrt(3.0)
SF_BY_HAND = [
    ("ScheduleFreeSGD", dict(momentum=0.9), (0.95, 1.005), 1.0, 0.1),
    ("ScheduleFreeAdamW", dict(betas=(0.9, 0.5), eps=0.0), (0.9, 0.9 + 0.11 / _R3),
     (0.9 + 0.9 + 0.2 / _R3) / 2, 0.1),
    ("ScheduleFreeAdamW", dict(betas=(0.9, 0.5), eps=0.0, formulation="paper"),
     (0.9, 0.9 + 0.1 * math.sqrt(0.75) * 0.64 * 4 / 3), 0.36 + 0.6 * (0.9 + 0.2 / _R3),
     0.1 * math.sqrt(0.75)),
]


@pytest.mark.parametrize("name,kw,ys,x,last_lr", SF_BY_HAND,
                         ids=["sgd", "adamw", "adamw-paper"])
def test_schedule_free_two_steps_by_hand(fl, name, kw, ys, x, last_lr):
    p = np.array([1.0])
    opt = getattr(fl, name)([p], lr=0.1, **kw)
    for g, y in zip((0.5, -1.0), ys):
        opt.step([np.array([g])])
        assert p[0] == pytest.approx(y, rel=1e-15, abs=0)
    assert opt.last_lr == pytest.approx(last_lr, rel=1e-15)
    opt.eval_params()
    assert p[0] == pytest.approx(x, rel=1e-15, abs=0)


def test_schedule_free_eval_before_any_step_is_a_no_op(fl):
    p = np.arange(5.0)
    opt = fl.ScheduleFreeAdamW([p])
    opt.eval_params()
    opt.train_params()
    np.testing.assert_array_equal(p, np.arange(5.0))


# ---- resume: 2N steps == N steps + state_dict + fresh optimizer + N steps, bit for bit -----

RESUME = [
    ("SGD", lambda fl: dict(lr=fl.Cosine(0.1, 20), momentum=0.9, nesterov=True,
                            weight_decay=0.01)),
    ("Adam", lambda fl: dict(lr=fl.warmup_cosine(0.01, 3, 20), amsgrad=True)),
    ("AdamW", lambda fl: dict(lr=0.01, betas=(fl.OneCycle(0.1, 20).momentum(), 0.999))),
    ("RMSprop", lambda fl: dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adagrad", lambda fl: dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
    ("Lion", lambda fl: dict(lr=fl.Step(1e-3, 4), weight_decay=0.1)),
    ("ScheduleFreeSGD", lambda fl: dict(lr=0.1, warmup_steps=3)),
    ("ScheduleFreeAdamW", lambda fl: dict(lr=0.01, warmup_steps=3, weight_decay=0.01)),
]


def _bits(arrays):
    return [a.view(np.uint32 if a.dtype == np.float32 else np.uint64).copy() for a in arrays]


@pytest.mark.parametrize("name,make", RESUME, ids=[n for n, _ in RESUME])
def test_resume_is_bit_exact(fl, name, make, dtype):
    n = 7
    params, grads = data(dtype, 2 * n, seed=7)
    whole, opt = run(fl, name, make(fl), params, grads)
    half, first = run(fl, name, make(fl), params, grads[:n])
    saved = first.state_dict()
    resumed = [p.copy() for p in half]
    second = getattr(fl, name)(resumed, **make(fl))
    second.load_state_dict(saved)
    assert second.step_count == n
    for g in grads[n:]:
        second.step(g)
    for a, b in zip(_bits(resumed), _bits(whole)):
        np.testing.assert_array_equal(a, b)
    for x, y in zip(second.state_dict()["state"], opt.state_dict()["state"]):
        for k in x:
            np.testing.assert_array_equal(_bits([x[k]])[0], _bits([y[k]])[0])
    assert second.last_lrs == opt.last_lrs and second.step_count == 2 * n


def test_state_dict_moves_between_backends():
    params, grads = data(np.float32, 10, seed=8)
    a, oa = run(fastlr, "AdamW", dict(lr=0.01), params, grads[:5])
    b = [p.copy() for p in a]
    ob = ref.AdamW(b, lr=0.01)
    ob.load_state_dict(oa.state_dict())
    for g in grads[5:]:
        oa.step(g)
        ob.step(g)
    assert_close(a, b, RTOL[np.float32])


def test_state_dict_is_a_copy(fl):
    p = np.ones(4)
    opt = fl.Adam([p], lr=0.1)
    opt.step([np.ones(4)])
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"][:] = 123.0
    assert opt.state_dict()["state"][0]["exp_avg"][0] != 123.0


def test_load_state_dict_checks_before_writing(fl):
    p = np.ones(4, np.float32)
    opt = fl.Adam([p], lr=0.1)
    opt.step([np.ones(4, np.float32)])
    before = opt.state_dict()
    bad_shape = opt.state_dict()
    bad_shape["state"][0]["exp_avg_sq"] = np.zeros(5, np.float32)
    bad_shape["state"][0]["exp_avg"][:] = 7.0
    bad_dtype = opt.state_dict()
    bad_dtype["state"][0]["exp_avg"] = np.zeros(4)
    missing = opt.state_dict()
    del missing["state"][0]["exp_avg"]
    other = fl.SGD([np.ones(4, np.float32)]).state_dict()
    for bad, exc, match in [(bad_shape, ValueError, "shape"), (bad_dtype, TypeError, "dtype"),
                            (missing, ValueError, "buffers"), (other, ValueError, "'SGD'"),
                            ({}, ValueError, "no 'optimizer'"), ([], TypeError, "dict")]:
        with pytest.raises(exc, match=match):
            opt.load_state_dict(bad)
        after = opt.state_dict()
        np.testing.assert_array_equal(after["state"][0]["exp_avg"],
                                      before["state"][0]["exp_avg"])
        assert after["step"] == 1


# ---- validation: checked before anything is written --------------------------------------

def _snapshot(opt, params):
    sd = opt.state_dict()
    return ([p.copy() for p in params],
            [{k: a.copy() for k, a in s.items()} for s in sd["state"]],
            sd["step"], sd["groups"])


def _assert_untouched(opt, params, snap):
    ps, states, step, groups = snap
    for a, b in zip(params, ps):
        np.testing.assert_array_equal(a, b)
    sd = opt.state_dict()
    for x, y in zip(sd["state"], states):
        for k in y:
            np.testing.assert_array_equal(x[k], y[k])
    assert sd["step"] == step and sd["groups"] == groups


def _bad_grads(good):
    """(description, grads with a problem at position 2, exception, message)."""
    wide = np.zeros((good[2].size * 2,), good[2].dtype)
    cases = [
        ("dtype", np.float64 if good[2].dtype == np.float32 else np.float32, TypeError,
         r"grads\[2\] has dtype"),
        ("int", np.int64, TypeError, r"grads\[2\] has dtype int64"),
        ("shape", "shape", ValueError, r"grads\[2\] has shape"),
        ("noncontiguous", "strided", ValueError, r"grads\[2\] must be C-contiguous"),
        ("list", "list", TypeError, r"grads\[2\] must be a numpy.ndarray"),
        ("alias", "alias", ValueError, r"grads\[2\] overlaps the memory of params\[1\]"),
    ]
    for what, how, exc, msg in cases:
        g = list(good)
        if how == "shape":
            g[2] = np.zeros(good[2].size + 1, good[2].dtype)
        elif how == "strided":
            g[2] = wide[::2]
        elif how == "list":
            g[2] = good[2].tolist()
        elif how != "alias":
            g[2] = good[2].astype(how)
        yield what, g, exc, msg


@pytest.mark.parametrize("name", NAMES)
def test_bad_gradient_leaves_everything_untouched(name, dtype):
    errors = {}
    for fl in (fastlr, ref):
        params, grads = data(dtype, 3, seed=9, shapes=[(5,), (6,), (6,), (3, 2)])
        opt = getattr(fl, name)(params)
        opt.step(grads[0])
        snap = _snapshot(opt, params)
        for what, g, exc, msg in _bad_grads(grads[1]):
            if what == "alias":
                g[2] = params[1]
            with pytest.raises(exc, match=msg) as info:
                opt.step(g)
            errors.setdefault(what, set()).add(str(info.value))
            _assert_untouched(opt, params, snap)
        with pytest.raises(ValueError, match="expected 4 gradients"):
            opt.step(grads[1][:3])
        params[3].flags.writeable = False
        with pytest.raises(ValueError, match=r"params\[3\] is read-only"):
            opt.step(grads[1])
        params[3].flags.writeable = True
        _assert_untouched(opt, params, snap)
        assert opt.step(grads[1]) and opt.step_count == 2
    assert all(len(messages) == 1 for messages in errors.values())   # same on both


def test_bad_schedule_value_leaves_everything_untouched(fl):
    def lr(t):
        return 0.1 if t < 2 else float("nan")

    params, grads = data(np.float32, 3, seed=10)
    opt = fl.Adam(params, lr=lr)
    opt.step(grads[0])
    opt.step(grads[1])
    snap = _snapshot(opt, params)
    with pytest.raises(ValueError, match="lr must be finite, got nan.*step 2"):
        opt.step(grads[2])
    _assert_untouched(opt, params, snap)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_skip_nonfinite_skips_the_whole_step(fl, bad):
    params, grads = data(np.float32, 4, seed=11)
    ref_params, _ = run(fl, "AdamW", {}, params, [grads[0], grads[2], grads[3]])
    ps = [p.copy() for p in params]
    opt = fl.AdamW(ps)
    assert opt.step(grads[0], skip_nonfinite=True) is True
    snap = _snapshot(opt, ps)
    broken = [g.copy() for g in grads[1]]
    broken[3].flat[17] = bad
    assert opt.step(broken, skip_nonfinite=True) is False
    _assert_untouched(opt, ps, snap)
    assert opt.skipped_steps == 1 and opt.step_count == 1
    assert opt.step(grads[2], skip_nonfinite=True) and opt.step(grads[3])
    for a, b in zip(ps, ref_params):
        np.testing.assert_array_equal(a, b)
    assert opt.state_dict()["skipped_steps"] == 1


def test_without_skip_a_nan_propagates(fl):
    p = np.ones(3)
    opt = fl.SGD([p], lr=0.1)
    assert opt.step([np.array([1.0, np.nan, 1.0])]) is True
    assert np.isnan(p[1]) and p[0] == 0.9


CONSTRUCTION_ERRORS = [
    (lambda: [[1.0, 2.0]], {}, TypeError, r"params\[0\] must be a numpy.ndarray"),
    (lambda: [np.ones(3, np.int32)], {}, TypeError, r"params\[0\] must have dtype float32"),
    (lambda: [np.ones(3, np.float16)], {}, TypeError, "float32 or float64, got float16"),
    (lambda: [np.ones((4, 4))[:, 1]], {}, ValueError, r"params\[0\] must be C-contiguous"),
    (lambda: [np.ones(3).view(">f8")], {}, TypeError, "float32 or float64"),
    (lambda: [], {}, ValueError, "params is empty"),
    (lambda: "abc", {}, TypeError, "params must be"),
    (lambda: [{"lr": 0.1}], {}, ValueError, "no 'params'"),
    (lambda: [{"params": [np.ones(2)], "lrr": 0.1}], {}, ValueError, "unknown option 'lrr'"),
    (lambda: [{"params": [np.ones(2)]}, np.ones(2)], {}, TypeError, "not a mix"),
    (lambda: [np.ones(3)], dict(lr=-0.1), ValueError, "lr must be >= 0.0, got -0.1"),
    (lambda: [np.ones(3)], dict(lr=float("nan")), ValueError, "lr must be finite"),
    (lambda: [np.ones(3)], dict(lr="0.1"), TypeError, "lr must be a real number"),
    (lambda: [np.ones(3)], dict(maximize=1), TypeError, "maximize must be a bool"),
]


@pytest.mark.parametrize("make,kwargs,exc,match", CONSTRUCTION_ERRORS)
def test_construction_errors(make, kwargs, exc, match):
    messages = set()
    for fl in (fastlr, ref):
        with pytest.raises(exc, match=match) as info:
            fl.SGD(make(), **kwargs)
        messages.add(str(info.value))
    assert len(messages) == 1


def test_read_only_and_shared_params_rejected(fl):
    p = np.ones(4)
    p.flags.writeable = False
    with pytest.raises(ValueError, match=r"params\[0\] is read-only"):
        fl.Adam([p])
    q = np.ones(8)
    with pytest.raises(ValueError, match=r"params\[1\] overlaps the memory of params\[0\]"):
        fl.Adam([q, q])
    with pytest.raises(ValueError, match="overlaps"):
        fl.Adam([q[:5], q[4:]])
    fl.Adam([q[:4], q[4:]])                  # disjoint halves of one buffer are fine


@pytest.mark.parametrize("name,kwargs,match", [
    ("SGD", dict(nesterov=True), "nesterov momentum requires"),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    ("Adam", dict(betas=(1.0, 0.999)), r"beta1 must be < 1.0"),
    ("Adam", dict(betas=(0.9,)), "betas must be a pair"),
    ("AdamW", dict(eps=-1e-8), "eps must be >= 0.0"),
    ("RMSprop", dict(alpha=-0.5), "alpha must be >= 0.0"),
    ("Adagrad", dict(lr_decay=-1.0), "lr_decay must be >= 0.0"),
    ("Lion", dict(betas=(0.9, 1.5)), "beta2 must be <= 1.0"),
    ("ScheduleFreeSGD", dict(momentum=0.0), "momentum must be > 0.0"),
    ("ScheduleFreeAdamW", dict(warmup_steps=-1), "warmup_steps must be >= 0"),
])
def test_bad_hyperparameters(fl, name, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        getattr(fl, name)([np.ones(3)], **kwargs)


# ---- params, groups, schedules ---------------------------------------------------------------

def test_params_forms_and_groups(fl, dtype):
    a, b, c = (np.ones(n, dtype) for n in (3, 4, 5))
    fl.SGD(a, lr=0.1).step(np.ones(3, dtype))
    np.testing.assert_allclose(a, 0.9)
    opt = fl.SGD([{"params": [b], "lr": 0.5}, {"params": c, "weight_decay": 1.0}], lr=0.1)
    opt.step([np.ones(4, dtype), np.ones(5, dtype)])
    np.testing.assert_allclose(b, 0.5)
    np.testing.assert_allclose(c, 0.8)         # g = 1 + 1*p = 2; p = 1 - 0.1*2
    assert opt.last_lrs == [0.5, 0.1] and opt.last_lr == 0.5
    opt.param_groups[0]["lr"] = 0.25           # torch-style change between steps
    opt.step([np.ones(4, dtype), np.zeros(5, dtype)])
    np.testing.assert_allclose(b, 0.25)


def test_schedules_evaluated_at_the_step_count(fl):
    seen = []

    def lr(t):
        seen.append(t)
        return 0.1 * (t + 1)

    p = np.zeros(2)
    opt = fl.SGD([p], lr=lr)
    assert opt.last_lr is None
    for _ in range(3):
        opt.step([np.ones(2)])
    assert seen == [0, 1, 2] and opt.last_lr == pytest.approx(0.3)
    np.testing.assert_allclose(p, -0.6)


def test_reduce_on_plateau_as_lr(fl):
    plateau = fl.ReduceOnPlateau(0.1, patience=0)
    p = np.zeros(2)
    opt = fl.SGD([p], lr=plateau)
    opt.step([np.ones(2)])
    plateau.update(1.0)
    plateau.update(2.0)                        # worse: cut to 0.01
    opt.step([np.ones(2)])
    assert opt.last_lr == pytest.approx(0.01)
    np.testing.assert_allclose(p, -0.11)


def test_sgd_first_momentum_step_copies_the_gradient(fl):
    """torch: the buffer starts as a copy of the gradient (no dampening) the first time
    momentum is non-zero, also when a schedule makes it non-zero later."""
    p = np.zeros(1)
    opt = fl.SGD([p], lr=1.0, momentum=lambda t: 0.0 if t < 1 else 0.5, dampening=0.5)
    opt.step([np.ones(1)])                     # plain SGD: p = -1
    opt.step([np.ones(1)])                     # buf = g = 1: p = -2
    opt.step([np.ones(1)])                     # buf = 0.5*1 + 0.5*1 = 1: p = -3
    opt.step([np.full(1, 3.0)])                # buf = 0.5 + 1.5 = 2: p = -5
    assert p[0] == -5.0


# ---- threads ----------------------------------------------------------------------------------

def test_steps_in_threads_match_sequential_runs(fl):
    """Steps release the GIL (compiled); either way results do not depend on it."""
    import threading

    runs = [("Adam", dict(lr=0.01)), ("SGD", dict(lr=0.1, momentum=0.9)),
            ("RMSprop", dict(centered=True)), ("Lion", {}),
            ("ScheduleFreeAdamW", {}), ("Adagrad", {})]
    shapes = [(1 << 17,), (1000,), (3,)]
    inputs = [data(np.float32, 10, seed=20 + i, shapes=shapes) for i in range(len(runs))]
    expected = [run(fl, n, kw, *inp)[0] for (n, kw), inp in zip(runs, inputs)]
    results = [None] * len(runs)

    def work(i):
        results[i] = run(fl, runs[i][0], runs[i][1], *inputs[i])[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(runs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_schedule_free_weight_overflow_is_a_clean_error(fl):
    p = np.zeros(3)
    opt = fl.ScheduleFreeSGD([p], lr=0.1, r=1024.0)
    opt.step([np.ones(3)])                       # (0+1)**1024 = 1: fine
    before = p.copy()
    with pytest.raises(ValueError, match=r"averaging weight .* overflowed at step 1"):
        opt.step([np.ones(3)])                   # 2**1024 overflows
    np.testing.assert_array_equal(p, before)     # nothing written
    assert opt.step_count == 1


# ---- any float hyperparameter read per step may be a schedule ----------------------------------

SCHEDULABLE = [   # (class, kwargs, the hyperparameters that may be schedules)
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
     ("lr", "momentum", "dampening", "weight_decay")),
    ("Adam", dict(lr=0.01, weight_decay=0.01, amsgrad=True, eps=1e-3),
     ("lr", "beta1", "beta2", "eps", "weight_decay")),
    ("AdamW", dict(lr=0.01, eps=1e-3), ("lr", "beta1", "beta2", "eps", "weight_decay")),
    ("RMSprop", dict(lr=0.01, momentum=0.5, weight_decay=0.01, eps=1e-3, centered=True),
     ("lr", "alpha", "eps", "momentum", "weight_decay")),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, eps=1e-3),
     ("lr", "lr_decay", "weight_decay", "eps")),
    ("Lion", dict(lr=1e-3, weight_decay=0.1), ("lr", "beta1", "beta2", "weight_decay")),
    ("ScheduleFreeSGD", dict(lr=0.1, weight_decay=0.01, r=0.5),
     ("lr", "momentum", "weight_decay", "r", "weight_lr_power")),
    ("ScheduleFreeAdamW", dict(lr=0.01, weight_decay=0.01, r=0.5, eps=1e-3),
     ("lr", "beta1", "beta2", "eps", "weight_decay", "r", "weight_lr_power")),
    ("NAdam", dict(lr=0.01, weight_decay=0.01, eps=1e-3),
     ("lr", "beta1", "beta2", "eps", "weight_decay", "momentum_decay")),
    ("RAdam", dict(lr=0.01, weight_decay=0.01, eps=1e-3),
     ("lr", "beta1", "beta2", "eps", "weight_decay")),
    ("Adamax", dict(lr=0.01, weight_decay=0.01, eps=1e-3),
     ("lr", "beta1", "beta2", "eps", "weight_decay")),
    ("Adadelta", dict(lr=1.0, weight_decay=0.01, eps=1e-3), ("lr", "rho", "eps", "weight_decay")),
    ("ASGD", dict(lr=0.01, weight_decay=0.01, lambd=0.01), ("lr", "lambd", "alpha", "weight_decay")),
]
SCHEDULED = [(n, kw, h) for n, kw, hs in SCHEDULABLE for h in hs]
SCHEDULED_IDS = [f"{n}-{h}" for n, _, h in SCHEDULED]


def _base(name, kwargs, hp):
    """The plain value of ``hp`` in ``kwargs`` (or the constructor's default)."""
    if hp in ("beta1", "beta2"):
        betas = kwargs.get("betas",
                           inspect.signature(getattr(ref, name)).parameters["betas"].default)
        return betas[hp == "beta2"]
    if hp in kwargs:
        return kwargs[hp]
    return inspect.signature(getattr(ref, name)).parameters[hp].default


def _with(name, kwargs, hp, value):
    """``kwargs`` with ``hp`` set to ``value`` (into the betas pair for beta1/beta2)."""
    out = dict(kwargs)
    if hp in ("beta1", "beta2"):
        betas = list(out.get("betas", inspect.signature(getattr(ref, name))
                             .parameters["betas"].default))
        betas[hp == "beta2"] = value
        out["betas"] = tuple(betas)
    else:
        out[hp] = value
    return out


def _wobble(base):
    # stays in (0.96 base, base]: inside every option's bounds when base is
    return lambda t: base * (1.0 - 0.02 * (1.0 + math.sin(t)))


@pytest.mark.parametrize("name,kwargs,hp", SCHEDULED, ids=SCHEDULED_IDS)
def test_a_scheduled_hyperparameter_is_the_value_of_its_step(fl, name, kwargs, hp, dtype):
    """A schedule is evaluated at the optimizer's step: bit for bit the same as writing
    its values into param_groups before each step."""
    sched = _wobble(_base(name, kwargs, hp))
    params, grads = data(dtype, 12, seed=40)
    ours, opt = run(fl, name, _with(name, kwargs, hp, sched), params, grads)
    manual = [p.copy() for p in params]
    other = getattr(fl, name)(manual, **_with(name, kwargs, hp, sched(0)))
    for t, g in enumerate(grads):
        other.param_groups[0].update(_with(name, other.param_groups[0], hp, sched(t)))
        other.step(g)
    for a, b in zip(ours, manual):
        np.testing.assert_array_equal(a, b)
    plain, _ = run(fl, name, kwargs, params, grads)
    assert any(not np.array_equal(a, b) for a, b in zip(ours, plain))  # it did vary
    if name.startswith("ScheduleFree"):    # x uses the beta of the last step
        opt.eval_params()
        other.eval_params()
        for a, b in zip(ours, manual):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name,kwargs,hp", SCHEDULED, ids=SCHEDULED_IDS)
def test_a_scheduled_value_out_of_bounds_fails_before_writing(fl, name, kwargs, hp):
    base = _base(name, kwargs, hp)
    bad = math.nan if hp in ("dampening", "alpha") else -0.5   # these have no bounds
    params, grads = data(np.float64, 3, seed=41)
    ps = [p.copy() for p in params]
    opt = getattr(fl, name)(ps, **_with(name, kwargs, hp,
                                        lambda t: bad if t == 2 else base))
    for g in grads[:2]:
        opt.step(g)
    before, saved = [p.copy() for p in ps], opt.state_dict()
    shown = "nan" if bad != bad else "-0.5"
    with pytest.raises(ValueError, match=rf"^{hp} must .*got {shown} .*step 2"):
        opt.step(grads[2])
    assert opt.step_count == 2
    for a, b in zip(ps, before):
        np.testing.assert_array_equal(a, b)
    after = opt.state_dict()
    for st_a, st_b in zip(after["state"], saved["state"]):
        for k in st_a:
            np.testing.assert_array_equal(st_a[k], st_b[k])
    assert after["groups"] == saved["groups"]


@pytest.mark.parametrize("name,hp,value", [
    ("Adagrad", "initial_accumulator_value", 0.1), ("ScheduleFreeAdamW", "warmup_steps", 3),
    ("Adam", "amsgrad", True), ("SGD", "nesterov", True), ("RMSprop", "centered", True),
    ("ScheduleFreeAdamW", "formulation", "paper")])
def test_structural_options_stay_plain(fl, name, hp, value):
    with pytest.raises(TypeError, match=rf"^{hp} must be"):
        getattr(fl, name)([np.zeros(3)], **{hp: lambda t: value})


def test_nesterov_checks_a_scheduled_dampening_at_each_step(fl):
    p = np.ones(3)
    opt = fl.SGD([p], lr=0.1, momentum=0.9, nesterov=True,
                 dampening=lambda t: 0.0 if t < 1 else 0.1)
    opt.step([np.ones(3)])
    with pytest.raises(ValueError, match=r"nesterov.*dampening=0\.1"):
        opt.step([np.ones(3)])
    assert opt.step_count == 1
    with pytest.raises(ValueError, match="nesterov"):
        fl.SGD([np.ones(3)], momentum=0.9, nesterov=True, dampening=0.1)


RESUME_SCHEDULED = [
    ("Adam", lambda fl: dict(lr=0.01, betas=(0.9, _wobble(0.999)), eps=_wobble(1e-6))),
    ("RMSprop", lambda fl: dict(lr=0.01, alpha=fl.Cosine(0.99, 20, final_lr=0.9))),
    ("Adagrad", lambda fl: dict(lr=0.1, lr_decay=_wobble(0.01))),
    ("ScheduleFreeAdamW", lambda fl: dict(lr=0.01, betas=(_wobble(0.9), _wobble(0.999)),
                                          r=_wobble(0.5), weight_lr_power=_wobble(2.0))),
]


@pytest.mark.parametrize("name,make", RESUME_SCHEDULED, ids=[n for n, _ in RESUME_SCHEDULED])
def test_resume_with_scheduled_hyperparameters_is_bit_exact(fl, name, make, dtype):
    test_resume_is_bit_exact(fl, name, make, dtype)


@pytest.mark.parametrize("mod", [fastlr.kernels, ref.kernels], ids=["compiled", "reference"])
def test_schedule_free_adamw_kernel_bias_correction(mod):
    # p = 1, g = 0.5, v = 0 -> 0.125; ckp1 = 1 on the first step, so y = 1 - lr*u
    for bc2, u in ((0.5, 1.0), (1.0, math.sqrt(2.0))):
        p, z, v = np.array([1.0]), np.zeros(1), np.zeros(1)
        mod.schedule_free_adamw(p, np.array([0.5]), z, v, lr=0.1, ckp1=1.0, beta2=0.5,
                                eps=0.0, first_step=True, bias_correction2=bc2)
        assert p[0] == pytest.approx(1.0 - 0.1 * u, rel=1e-15)
        assert z[0] == p[0] and v[0] == 0.125
    p, z, v = np.array([1.0]), np.zeros(1), np.zeros(1)
    with pytest.raises(ValueError, match="bias_correction2 must be > 0"):
        mod.schedule_free_adamw(p, np.array([0.5]), z, v, lr=0.1, ckp1=1.0,
                                bias_correction2=0.0)
    assert p[0] == 1.0 and v[0] == 0.0


@settings(max_examples=40, deadline=None)
@given(case=st.sampled_from(SCHEDULED), amp=st.floats(0.0, 0.04), seed=st.integers(0, 99),
       f32=st.booleans())
def test_scheduled_hyperparameters_agree_between_backends(case, amp, seed, f32):
    name, kwargs, hp = case
    base = _base(name, kwargs, hp)
    kw = _with(name, kwargs, hp, lambda t: base * (1.0 - amp * (1.0 + math.sin(3 * t))))
    params, grads = data(np.float32 if f32 else np.float64, 8, seed=seed, shapes=[(5,), (3, 4)])
    a, _ = run(fastlr, name, kw, params, grads)
    b, _ = run(ref, name, kw, params, grads)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
