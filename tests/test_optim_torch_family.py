"""NAdam, RAdam, Adamax, Adadelta, ASGD, Rprop: torch 2.13's for-loop path, both backends,
resume, validation, and the torch front ends' state layout."""
import pickle

import numpy as np
import pytest

import fastlr
import fastlr.reference as ref
from fastlr import _optim
from test_optim_cases import RTOL, _id, assert_close, bits_differ, data, new_configs, run

NEW = ("NAdam", "RAdam", "Adamax", "Adadelta", "ASGD", "Rprop")
CASES = new_configs()
IDS = [_id(n, kw) for n, kw in CASES]


def torch_steps(torch, name, kwargs, params, grads, set_lr=None):
    ts = [torch.from_numpy(p.copy()) for p in params]
    opt = getattr(torch.optim, name)(ts, foreach=False, **kwargs)
    for t, g in enumerate(grads):
        if set_lr is not None:
            for group in opt.param_groups:
                group["lr"] = set_lr(t)
        for p, gi in zip(ts, g):
            p.grad = torch.from_numpy(gi.copy())
        opt.step()
    return [p.numpy() for p in ts], opt


def test_every_new_class_is_in_both_backends_and_the_grid():
    for name in NEW:
        assert name in ref.optim.OPTIMIZERS and name in fastlr.__all__
        assert getattr(fastlr, name)._kernels is fastlr.kernels
    assert {n for n, _ in CASES} == set(NEW)


@pytest.mark.torch
@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_matches_torch_for_loop_over_100_steps(name, kwargs, dtype):
    torch = pytest.importorskip("torch")
    params, grads = data(dtype, 100, seed=31)
    ours, _ = run(fastlr, name, kwargs, params, grads)
    theirs, _ = torch_steps(torch, name, kwargs, params, grads)
    assert_close(ours, theirs, RTOL[dtype])
    assert not np.allclose(ours[-1], params[-1])


@pytest.mark.parametrize("level", ["baseline", "avx2", "avx512"])
def test_compiled_equals_reference_bit_for_bit_at_every_simd_level(level):
    old = _optim.simd_level()
    try:
        _optim.set_simd_level(level)
        for name, kwargs in CASES:
            for dtype in (np.float32, np.float64):
                params, grads = data(dtype, 30, seed=32)
                a, oa = run(fastlr, name, kwargs, params, grads)
                b, ob = run(ref, name, kwargs, params, grads)
                assert bits_differ(a, b) == 0, (name, kwargs, dtype)
                for x, y in zip(oa.state_dict()["state"], ob.state_dict()["state"]):
                    assert bits_differ([x[k] for k in sorted(x)], [y[k] for k in sorted(y)]) == 0
                assert oa.state_dict()["groups"] == ob.state_dict()["groups"]
    finally:
        _optim.set_simd_level(old)


def test_nonfinite_and_zero_gradients_agree_bit_for_bit():
    """NaN, inf, zeros and tiny values (a product g*prev that underflows: Rprop's sign 0)."""
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 1e-300, 2.0],
                       dtype=np.float64)
    for dtype in (np.float32, np.float64):
        g = special.astype(dtype)
        for name, kwargs in CASES:
            out = []
            for backend in (fastlr, ref):
                p = [np.linspace(-1, 1, g.size).astype(dtype)]
                opt = getattr(backend, name)(p, **kwargs)
                with np.errstate(all="ignore"):     # the NaNs are the point
                    for _ in range(3):
                        opt.step([g.copy()])
                out.append((p[0], opt.state_dict()["state"][0]))
            np.testing.assert_array_equal(out[0][0], out[1][0])
            for k in out[0][1]:
                np.testing.assert_array_equal(out[0][1][k], out[1][1][k])


@pytest.mark.torch
def test_rprop_sign_changes_zero_stretches_and_underflow_like_torch(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(33)
    params = [rng.standard_normal(64).astype(dtype)]
    tiny = np.finfo(dtype).tiny
    grads = []
    for t in range(40):
        g = rng.standard_normal(64).astype(dtype)
        g[: 8] = 0.0 if t % 3 else g[: 8]              # zero-grad stretches
        g[8:16] = tiny * (1 if t % 2 else -1)          # g * prev underflows to 0
        grads.append([g])
    for kwargs in (dict(lr=0.1), dict(lr=0.1, etas=(0.2, 2.0), step_sizes=(1e-3, 0.3),
                                      maximize=True)):
        ours, _ = run(fastlr, "Rprop", kwargs, params, grads)
        theirs, _ = torch_steps(torch, "Rprop", kwargs, params, grads)
        np.testing.assert_array_equal(ours[0], theirs[0])


@pytest.mark.torch
@pytest.mark.parametrize("name,kwargs", [
    ("NAdam", dict(weight_decay=0.1)), ("RAdam", dict(weight_decay=0.1)),
    ("Adamax", dict()), ("Adadelta", dict()), ("ASGD", dict(lambd=1e-2, t0=5.0)),
    ("Rprop", dict())])
def test_lr_changed_every_step_like_torch(fl, name, kwargs, dtype):
    """A schedule as lr equals torch with the group lr rewritten before each step (ASGD:
    it sets the next step's eta; Rprop: only the first step's lr counts)."""
    torch = pytest.importorskip("torch")
    sched = fl.Cosine(0.05, 30)
    params, grads = data(dtype, 30, seed=34)
    ours, _ = run(fl, name, dict(lr=sched, **kwargs) if name != "Rprop"
                  else dict(lr=0.05, **kwargs), params, grads)
    theirs, _ = torch_steps(torch, name, dict(lr=0.05, **kwargs), params, grads,
                            set_lr=lambda t: float(sched(t)))
    assert_close(ours, theirs, RTOL[dtype])


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_resume_and_pickle_are_bit_exact(fl, name, kwargs):
    n = 6
    params, grads = data(np.float64, 2 * n, seed=35)
    whole, opt = run(fl, name, kwargs, params, grads)
    half, first = run(fl, name, kwargs, params, grads[:n])
    resumed = [p.copy() for p in half]
    second = getattr(fl, name)(resumed, **kwargs)
    second.load_state_dict(first.state_dict())
    copied_params, copied = pickle.loads(pickle.dumps((half, first)))
    for g in grads[n:]:
        second.step(g)
        copied.step(g)
    assert bits_differ(resumed, whole) == 0 and bits_differ(copied_params, whole) == 0
    assert second.state_dict()["groups"] == opt.state_dict()["groups"]


def test_group_scalars_are_in_the_state_dict_and_checked(fl):
    p = [np.ones(3)]
    nadam = fl.NAdam(p)
    nadam.step([np.ones(3)])
    sd = nadam.state_dict()
    assert 0 < sd["groups"][0]["mu_product"] < 1
    assert sd["groups"][0]["mu_product"] == float(np.float32(sd["groups"][0]["mu_product"]))
    bad = dict(sd, groups=[{"mu_product": 1.5}])
    before = p[0].copy()
    with pytest.raises(ValueError, match="mu_product"):
        nadam.load_state_dict(bad)
    assert nadam.state_dict()["groups"] == sd["groups"]
    np.testing.assert_array_equal(p[0], before)
    asgd = fl.ASGD([np.ones(3)], lr=0.1, t0=0.0)
    asgd.step([np.ones(3)])
    sd = asgd.state_dict()
    assert sd["groups"][0]["eta"] == float(np.float32(0.1 / (1 + 1e-4 * 0.1) ** 0.75))
    assert sd["groups"][0]["mu"] == 1.0
    with pytest.raises(ValueError, match="eta"):
        asgd.load_state_dict(dict(sd, groups=[{"eta": float("nan"), "mu": 1.0}]))


@pytest.mark.parametrize("name,kwargs,match", [
    ("Rprop", dict(etas=(1.5, 1.2)), "etas"), ("Rprop", dict(etas=(0.5, 0.9)), "etas"),
    ("Rprop", dict(etas=(0.5,)), "etas"), ("Rprop", dict(step_sizes=(1.0, 0.1)), "step_sizes"),
    ("Rprop", dict(step_sizes=(-1.0, 1.0)), "step_sizes"), ("Rprop", dict(lr=-1.0), "lr"),
    ("NAdam", dict(momentum_decay=-1.0), "momentum_decay"), ("NAdam", dict(betas=(1.0, 0.9)),
                                                               "beta1"),
    ("RAdam", dict(betas=(0.9, 1.0)), "beta2"), ("Adamax", dict(eps=-1.0), "eps"),
    ("Adadelta", dict(rho=1.5), "rho"), ("ASGD", dict(lambd=float("nan")), "lambd"),
    ("ASGD", dict(lambd=-1.0), "lambd"),
    ("NAdam", dict(decoupled_weight_decay="yes"), "decoupled_weight_decay"),
])
def test_bad_options_raise_naming_them(fl, name, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        getattr(fl, name)([np.ones(2)], **kwargs)


def test_asgd_step_size_overflow_is_a_clean_error(fl):
    """alpha so negative that (1 + lambd*lr*t)**alpha is 0: eta = lr/0 raises before the
    next step writes (torch raises ZeroDivisionError from the same Python expression)."""
    p = [np.ones(3)]
    opt = fl.ASGD(p, lr=0.5, lambd=1.0, alpha=-2000.0)
    with pytest.raises(ValueError, match="step size"):
        opt.step([np.ones(3)])
    np.testing.assert_array_equal(p[0], 1.0)
    assert opt.step_count == 0


def test_bad_option_written_later_leaves_everything_untouched(fl):
    p = [np.ones(4)]
    opt = fl.Rprop(p)
    opt.step([np.ones(4)])
    sd = opt.state_dict()
    opt.param_groups[0]["etas"] = (2.0, 3.0)
    with pytest.raises(ValueError, match="etas"):
        opt.step([np.ones(4)])
    np.testing.assert_array_equal(p[0], 1.0 - 0.01)
    for k, a in sd["state"][0].items():
        np.testing.assert_array_equal(opt.state_dict()["state"][0][k], a)


# ---- the torch front ends --------------------------------------------------------------------

@pytest.mark.torch
@pytest.mark.parametrize("name", NEW)
def test_torch_front_end_state_layout_is_torchs(name):
    torch = pytest.importorskip("torch")
    import fastlr.torch.optim as fo
    states = []
    for cls in (getattr(torch.optim, name), getattr(fo, name)):
        torch.manual_seed(0)
        w = torch.nn.Parameter(torch.randn(3, 2))
        opt = cls([w])
        for _ in range(2):
            w.grad = torch.ones_like(w)
            opt.step()
        states.append(opt.state_dict())
    ts, fs = states
    assert ts["param_groups"][0].keys() == fs["param_groups"][0].keys()
    assert list(ts["state"][0]) == list(fs["state"][0])
    for key, val in ts["state"][0].items():
        mine = fs["state"][0][key]
        assert mine.dtype == val.dtype and mine.shape == val.shape, key
        np.testing.assert_allclose(mine.numpy(), val.numpy(), rtol=1e-5, atol=1e-7)


# ---- the single-array kernels ----------------------------------------------------------------

def test_kernel_functions_equal_the_optimizers_bit_for_bit(fl, dtype):
    params, grads = data(dtype, 12, seed=36, shapes=[(37,)])
    kw = dict(weight_decay=0.1, maximize=True)
    for name, call, opt_kw in [
        ("NAdam", None, dict(lr=0.01, weight_decay=0.1, maximize=True)),
        ("RAdam", "radam", dict(lr=0.01, betas=(0.8, 0.9), **kw)),
        ("Adamax", "adamax", dict(lr=0.01, **kw)),
        ("Adadelta", "adadelta", dict(lr=1.0, **kw)),
        ("Rprop", "rprop", dict(lr=0.01, maximize=True)),
    ]:
        expected, _ = run(fl, name, opt_kw, params, grads)
        p = params[0].copy()
        s0, s1 = np.zeros_like(p), (np.full_like(p, 0.01) if name == "Rprop"
                                    else np.zeros_like(p))
        mu_product = 1.0
        for k, (g,) in enumerate(grads, 1):
            if name == "NAdam":
                mu_product = fl.kernels.nadam(p, g, s0, s1, step=k, lr=0.01, weight_decay=0.1,
                                              maximize=True, mu_product=mu_product)
            elif name == "Rprop":
                fl.kernels.rprop(p, g, s0, s1, maximize=True)
            elif name == "Adadelta":
                fl.kernels.adadelta(p, g, s0, s1, **{k_: v_ for k_, v_ in opt_kw.items()})
            else:
                b = opt_kw.get("betas", (0.9, 0.999))
                getattr(fl.kernels, call)(p, g, s0, s1, step=k, lr=0.01, beta1=b[0],
                                          beta2=b[1], **kw)
        assert bits_differ([p], expected) == 0, name


def test_asgd_kernel_and_adadelta_first_step_by_hand(fl, dtype):
    p = np.array([1.0, -2.0], dtype)
    g = np.array([0.5, 4.0], dtype)
    ax = np.zeros(2, dtype)
    fl.kernels.asgd(p, g, ax, lr=0.1, lambd=0.5, weight_decay=0.0)
    # p = p*(1 - 0.5*0.1) - 0.1*g = [0.95 - 0.05, -1.9 - 0.4]; mu = 1: ax = p
    np.testing.assert_allclose(p, [0.9, -2.3], rtol=1e-6)
    np.testing.assert_array_equal(ax, p)
    fl.kernels.asgd(p, g, ax, lr=0.0, mu=0.5, lambd=0.0)
    np.testing.assert_allclose(ax, [0.9, -2.3], rtol=1e-6)     # ax + (p - ax)*0.5, ax == p
    p = np.array([1.0, 1.0], dtype)
    s, a = np.zeros(2, dtype), np.zeros(2, dtype)
    fl.kernels.adadelta(p, g, s, a, lr=1.0, rho=0.9, eps=1e-6)
    # s = 0.1 g^2; delta = sqrt(1e-6)/sqrt(0.1 g^2 + 1e-6) * g
    delta = np.sqrt(1e-6) / np.sqrt(0.1 * g.astype(np.float64) ** 2 + 1e-6) * g
    np.testing.assert_allclose(p, 1.0 - delta, rtol=1e-5)
    np.testing.assert_allclose(a, 0.1 * delta ** 2, rtol=1e-5)


def test_rprop_kernel_validates_before_writing(fl):
    p, g, prev, size = np.ones(3), np.ones(3), np.ones(3), np.full(3, 0.1)
    for kwargs, match in [(dict(etas=(0.5, 0.9)), "etas"), (dict(etas=3), "etas"),
                          (dict(step_sizes=(1.0, 0.5)), "step_sizes")]:
        with pytest.raises((TypeError, ValueError), match=match):
            fl.kernels.rprop(p, g, prev, size, **kwargs)
    np.testing.assert_array_equal(p, 1.0)
    np.testing.assert_array_equal(size, 0.1)
