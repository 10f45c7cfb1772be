"""fastlr.torch.LRScheduler: torch parity, exact resume, momentum, warnings, a real model.

Every test runs with warnings turned into errors (the module's ``filterwarnings``), so a
step-order or deprecation warning from torch or from us fails it.
"""
import io
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch)")
import fastlr.torch as ft  # noqa: E402
from torch.optim import lr_scheduler as L  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("error")]

# -- helpers --------------------------------------------------------------------------------------


def make_opt(kind="sgd", lrs=(0.1,), **kw):
    """An optimizer over tiny params, one group per entry of ``lrs``."""
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs]
    if kind == "sgd":
        return torch.optim.SGD(groups, momentum=0.9, **kw)
    if kind == "adam":
        return torch.optim.Adam(groups, **kw)
    return torch.optim.AdamW(groups, **kw)


def momentum_of(group):
    return group["betas"][0] if "betas" in group else group["momentum"]


def run(opt, sched, n):
    """lrs and momenta of group 0 used by the updates t = 0..n-1 (canonical loop)."""
    lrs, ms = [], []
    for _ in range(n):
        g = opt.param_groups[0]
        lrs.append(float(g["lr"]))
        ms.append(float(momentum_of(g)))
        opt.step()
        sched.step()
    return np.array(lrs), np.array(ms)


def assert_close(a, b, peak):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * peak)


# -- parity with torch's own schedulers -----------------------------------------------------------

TORCH_PAIRS = {
    # name: (torch factory, fastlr factory, steps, base lr)
    "cosine": (lambda o: L.CosineAnnealingLR(o, T_max=100, eta_min=0.001),
               lambda fl: fl.Cosine(0.1, 100, 0.001), 101, 0.1),
    "step": (lambda o: L.StepLR(o, step_size=7, gamma=0.5),
             lambda fl: fl.Step(0.1, 7, 0.5), 60, 0.1),
    "multistep": (lambda o: L.MultiStepLR(o, milestones=[10, 25, 40], gamma=0.3),
                  lambda fl: fl.MultiStep(0.1, [10, 25, 40], 0.3), 60, 0.1),
    "exponential": (lambda o: L.ExponentialLR(o, gamma=0.97),
                    lambda fl: fl.Exponential(0.1, 0.97), 200, 0.1),
    "linear": (lambda o: L.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=20),
               lambda fl: fl.Linear(0.025, 0.1, 20), 40, 0.1),
    "polynomial": (lambda o: L.PolynomialLR(o, total_iters=50, power=2.0),
                   lambda fl: fl.Polynomial(0.1, 50, power=2.0), 70, 0.1),
    "restarts": (lambda o: L.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2, eta_min=0.001),
                 lambda fl: fl.CosineRestarts(0.1, 10, 2, 0.001), 150, 0.1),
    "sequential": (lambda o: L.SequentialLR(o, [L.LinearLR(o, 0.1, 1.0, total_iters=10),
                                                L.CosineAnnealingLR(o, T_max=50)],
                                            milestones=[10]),
                   lambda fl: fl.Sequence([fl.Linear(0.01, 0.1, 10), fl.Cosine(0.1, 50)], [10]),
                   61, 0.1),
}


@pytest.mark.parametrize("name", list(TORCH_PAIRS))
def test_same_lrs_as_torch(fl, name):
    make_torch, make_fl, n, lr = TORCH_PAIRS[name]
    o1 = make_opt(lrs=(lr,))
    expected, _ = run(o1, make_torch(o1), n)
    o2 = make_opt(lrs=(lr,))
    got, _ = run(o2, ft.LRScheduler(o2, make_fl(fl)), n)
    assert_close(got, expected, lr)


def test_cosine_holds_past_t_max_where_torch_climbs_back(fl):
    o1, o2 = make_opt(), make_opt()
    t_lrs, _ = run(o1, L.CosineAnnealingLR(o1, T_max=20, eta_min=0.001), 41)
    f_lrs, _ = run(o2, ft.LRScheduler(o2, fl.Cosine(0.1, 20, 0.001)), 41)
    assert_close(f_lrs[:21], t_lrs[:21], 0.1)
    assert (f_lrs[20:] == 0.001).all()
    assert t_lrs[40] == pytest.approx(0.1)  # torch's periodic cosine is back at the top


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("anneal,three_phase", [("cos", False), ("linear", False),
                                                ("cos", True), ("linear", True)])
def test_onecycle_lr_and_momentum_as_torch(fl, kind, anneal, three_phase):
    n = 100
    o1 = make_opt(kind)
    t_lrs, t_ms = run(o1, L.OneCycleLR(o1, max_lr=0.1, total_steps=n, pct_start=0.3,
                                       anneal_strategy=anneal, three_phase=three_phase,
                                       base_momentum=0.85, max_momentum=0.95), n - 1)
    oc = fl.OneCycle(0.1, n, 0.3, anneal, three_phase=three_phase)
    o2 = make_opt(kind)
    f_lrs, f_ms = run(o2, ft.LRScheduler(o2, oc, momentum=oc.momentum(0.85, 0.95)), n - 1)
    assert_close(f_lrs, t_lrs, 0.1)
    assert_close(f_ms, t_ms, 0.95)
    if kind == "adam":
        assert o2.param_groups[0]["betas"][1] == 0.999


@pytest.mark.parametrize("mode,gamma", [("triangular", 1.0), ("triangular2", 1.0),
                                        ("exp_range", 0.99)])
def test_cyclic_lr_and_momentum_as_torch(fl, mode, gamma):
    o1 = make_opt(lrs=(0.01,))
    t_lrs, t_ms = run(o1, L.CyclicLR(o1, 0.01, 0.1, step_size_up=5, step_size_down=3,
                                     mode=mode, gamma=gamma, base_momentum=0.8,
                                     max_momentum=0.9), 60)
    cyc = fl.Cyclic(0.01, 0.1, 5, 3, mode, gamma)
    o2 = make_opt(lrs=(0.01,))
    f_lrs, f_ms = run(o2, ft.LRScheduler(o2, cyc, momentum=cyc.momentum(0.8, 0.9)), 60)
    assert_close(f_lrs, t_lrs, 0.1)
    assert_close(f_ms, t_ms, 0.9)


def test_per_group_lrs_as_torch(fl):
    lrs = (0.1, 0.01, 0.003)
    o1 = make_opt(lrs=lrs)
    torch_sched = L.CosineAnnealingLR(o1, T_max=50)
    o2 = make_opt(lrs=lrs)  # one schedule per group
    per_group = ft.LRScheduler(o2, [fl.Cosine(lr, 50) for lr in lrs])
    o3 = make_opt(lrs=lrs)  # one schedule, scaled per group
    for group, lr in zip(o3.param_groups, lrs):
        group["lr_scale"] = lr / 0.1
    scaled = ft.LRScheduler(o3, fl.Cosine(0.1, 50))
    for _ in range(51):
        expected = [g["lr"] for g in o1.param_groups]
        for o in (o2, o3):
            assert_close([g["lr"] for g in o.param_groups], expected, 0.1)
        assert per_group.get_last_lr() == [g["lr"] for g in o2.param_groups]
        for o, s in ((o1, torch_sched), (o2, per_group), (o3, scaled)):
            o.step()
            s.step()


# -- exact resume ---------------------------------------------------------------------------------

def _resume_cases(fl):
    return {
        "warmup_cosine": (fl.warmup_cosine(0.1, 10, 60), None),
        "warmup_exp_step": (fl.Warmup(fl.Step(0.1, 7, 0.5), 5, start_lr=1e-4,
                                      mode="exponential"), None),
        "sequence": (fl.Sequence([fl.Linear(0.01, 0.1, 10), fl.Cosine(0.1, 30),
                                  fl.Constant(0.002)], [10, 40]), None),
        "per_group": ([fl.warmup_linear(0.1, 5, 50), fl.Sequence(
            [fl.Constant(0.05), fl.Exponential(0.05, 0.9)], [13])], None),
        "onecycle_momentum": (fl.OneCycle(0.1, 60), fl.OneCycle(0.1, 60).momentum()),
        "lambda": (fl.Warmup(fl.Lambda(lambda t: 0.1 / (1 + t)), 4), None),
    }


def _trace(opt, sched, n, model=None):
    out = []
    for _ in range(n):
        out.append(([g["lr"] for g in opt.param_groups],
                    [momentum_of(g) for g in opt.param_groups],
                    list(sched.get_last_lr()), sched.last_epoch))
        opt.step()
        sched.step()
    return out


def _fresh(kind, schedule, momentum):
    opt = make_opt(kind, lrs=(0.1, 0.05))
    opt.param_groups[1]["lr_scale"] = 0.3
    return opt, ft.LRScheduler(opt, schedule, momentum=momentum)


@pytest.mark.parametrize("optimizer_first", [True, False], ids=["opt-first", "sched-first"])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("case", ["warmup_cosine", "warmup_exp_step", "sequence", "per_group",
                                  "onecycle_momentum", "lambda"])
def test_resume_is_exact(fl, case, kind, optimizer_first):
    schedule, momentum = _resume_cases(fl)[case]
    n = 23  # inside the warmups / before some boundaries / after others
    opt, sched = _fresh(kind, schedule, momentum)
    uninterrupted = _trace(opt, sched, 2 * n)

    opt, sched = _fresh(kind, schedule, momentum)
    first = _trace(opt, sched, n)
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)  # plain data: the safe loader takes it

    opt, sched = _fresh(kind, schedule, momentum)  # a fresh process would do the same
    if optimizer_first:
        opt.load_state_dict(ckpt["opt"])
        sched.load_state_dict(ckpt["sched"])
    else:
        sched.load_state_dict(ckpt["sched"])
        opt.load_state_dict(ckpt["opt"])
    assert sched.last_epoch == n
    second = _trace(opt, sched, n)
    assert first + second == uninterrupted  # exact, bit for bit


def test_load_state_dict_alone_restores_the_lr(fl):
    """No replay and no ``last_epoch=`` constructor argument: loading is enough."""
    s = fl.warmup_cosine(0.1, 100, 10_000_000)
    opt = make_opt()
    sched = ft.LRScheduler(opt, s)
    state = dict(sched.state_dict(), last_epoch=7_000_000)
    sched.load_state_dict(state)
    assert opt.param_groups[0]["lr"] == s(7_000_000) == sched.get_last_lr()[0]
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == s(7_000_001)


def test_state_dict_contents(fl):
    opt = make_opt()
    sched = ft.LRScheduler(opt, fl.Cosine(0.1, 10), momentum=fl.Constant(0.9))
    for _ in range(3):
        opt.step()
        sched.step()
    state = sched.state_dict()
    assert state["last_epoch"] == 3
    assert state["schedule"] == fl.Cosine(0.1, 10).to_config()
    assert state["momentum"] == {"class": "Constant", "lr": 0.9}
    assert fl.from_config(state["schedule"]) == fl.Cosine(0.1, 10)
    lam = ft.LRScheduler(make_opt(), [fl.Lambda(lambda t: 0.1)])
    assert lam.state_dict()["schedule"] == [None]  # no config; resume still works


def test_loading_another_schedule_warns_and_resumes_at_t(fl):
    opt = make_opt()
    saved = ft.LRScheduler(opt, fl.Cosine(0.1, 100))
    for _ in range(10):
        opt.step()
        saved.step()
    other = ft.LRScheduler(make_opt(), fl.Cosine(0.1, 200))
    with pytest.warns(UserWarning, match="differs"):
        other.load_state_dict(saved.state_dict())
    assert other.last_epoch == 10
    assert other.get_last_lr() == [fl.Cosine(0.1, 200)(10)]


def test_resume_from_a_torch_scheduler_checkpoint(fl):
    """Switching from torch's CosineAnnealingLR to fastlr at a checkpoint continues the curve."""
    o1 = make_opt()
    torch_sched = L.CosineAnnealingLR(o1, T_max=100)
    for _ in range(40):
        o1.step()
        torch_sched.step()
    o2 = make_opt()
    ours = ft.LRScheduler(o2, fl.Cosine(0.1, 100))
    ours.load_state_dict(torch_sched.state_dict())
    assert ours.last_epoch == 40
    assert_close([o2.param_groups[0]["lr"]], [o1.param_groups[0]["lr"]], 0.1)


def test_numpy_steps_become_plain_numbers(fl):
    sched = ft.LRScheduler(make_opt(), fl.Cosine(0.1, 100))
    sched.step(epoch=np.int64(7))
    assert type(sched.last_epoch) is int and sched.get_last_lr() == [fl.Cosine(0.1, 100)(7)]
    sched.load_state_dict(dict(sched.state_dict(), last_epoch=np.int32(9)))
    assert type(sched.state_dict()["last_epoch"]) is int
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=True)["last_epoch"] == 9


def test_state_dict_compiled_and_reference_are_interchangeable():
    import fastlr
    import fastlr.reference as ref
    a = ft.LRScheduler(make_opt(), fastlr.warmup_cosine(0.1, 5, 50))
    for _ in range(9):
        a.step()
    b = ft.LRScheduler(make_opt(), ref.warmup_cosine(0.1, 5, 50))
    b.load_state_dict(a.state_dict())  # same configs: no warning
    assert b.last_epoch == 9
    assert b.get_last_lr()[0] == pytest.approx(a.get_last_lr()[0], rel=1e-12)


# -- torch API behaviour --------------------------------------------------------------------------

def test_is_a_torch_lr_scheduler(fl):
    opt = make_opt()
    sched = ft.LRScheduler(opt, fl.Constant(0.1))
    assert isinstance(sched, L.LRScheduler)
    assert sched.optimizer is opt and sched.last_epoch == 0
    assert sched.base_lrs == [0.1] and opt.param_groups[0]["initial_lr"] == 0.1


def test_get_last_lr_and_get_lr(fl):
    s = fl.Cosine(0.2, 10)
    opt = make_opt(lrs=(0.2, 0.2))
    opt.param_groups[1]["lr_scale"] = 0.5
    sched = ft.LRScheduler(opt, s)
    for t in range(12):
        expected = [s(t), s(t) * 0.5]
        assert sched.last_epoch == t
        assert sched.get_last_lr() == expected == [g["lr"] for g in opt.param_groups]
        assert sched.get_lr() == expected  # closed form at last_epoch; no warning
        opt.step()
        sched.step()
    held = sched.get_last_lr()
    sched.step()
    assert held == [s(11), s(11) * 0.5]  # earlier results are not mutated


def test_step_with_an_explicit_step_seeks(fl):
    s = fl.Step(0.1, 5)
    opt = make_opt()
    sched = ft.LRScheduler(opt, s)
    sched.step(epoch=12)
    sched.step(epoch=12)  # idempotent (torch's chainable form decays again)
    assert sched.last_epoch == 12 and opt.param_groups[0]["lr"] == s(12)
    sched.step()
    assert sched.last_epoch == 13
    with pytest.raises(ValueError, match="step must be"):
        sched.step(epoch=-1)
    with pytest.raises(TypeError, match="epoch must be"):
        sched.step(epoch="3")
    with pytest.raises(TypeError, match="step must be"):
        sched.step("3")  # checked before torch's deprecation warning
    assert sched.last_epoch == 13


def test_no_step_order_warnings(fl):
    """torch warns when scheduler.step() comes first (also falsely: AMP skipped steps,
    wrapped optimizer.step); fastlr counts scheduler steps and never warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = make_opt()
        sched = ft.LRScheduler(opt, fl.warmup_cosine(0.1, 3, 20))
        sched.step()  # e.g. the first update was skipped by a GradScaler
        sched.step()
        opt.step = lambda *a, **k: None  # e.g. a wrapper replaced optimizer.step
        sched.step()
        sched.get_lr()
        sched.get_last_lr()
        sched.load_state_dict(sched.state_dict())
    assert sched.last_epoch == 3


def test_momentum_writes_momentum_or_beta1(fl):
    m = fl.Linear(0.95, 0.85, 10)
    for kind, key in (("sgd", "momentum"), ("adam", "betas"), ("adamw", "betas")):
        opt = make_opt(kind, betas=(0.9, 0.98)) if kind != "sgd" else make_opt(kind)
        sched = ft.LRScheduler(opt, fl.Constant(0.1), momentum=m)
        for t in range(12):
            g = opt.param_groups[0]
            assert momentum_of(g) == m(t)
            if key == "betas":
                assert g["betas"][1] == 0.98
            opt.step()
            sched.step()
    per = ft.LRScheduler(make_opt(lrs=(0.1, 0.1)), fl.Constant(0.1),
                         momentum=[fl.Constant(0.5), fl.Constant(0.7)])
    assert [g["momentum"] for g in per.optimizer.param_groups] == [0.5, 0.7]
    assert per.momentum_schedules == [fl.Constant(0.5), fl.Constant(0.7)]


def test_momentum_needs_momentum_or_betas(fl):
    opt = torch.optim.Adagrad([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    with pytest.raises(ValueError, match="neither 'momentum' nor 'betas'"):
        ft.LRScheduler(opt, fl.Constant(0.1), momentum=fl.Constant(0.9))


def test_tensor_lr_and_betas_are_filled_in_place(fl):
    p = [torch.nn.Parameter(torch.zeros(2))]
    opt = torch.optim.Adam(p, lr=torch.tensor(0.01), betas=(torch.tensor(0.9), torch.tensor(0.99)))
    lr_t, b1 = opt.param_groups[0]["lr"], opt.param_groups[0]["betas"][0]
    s, m = fl.Cosine(0.01, 10), fl.Linear(0.9, 0.8, 10)
    sched = ft.LRScheduler(opt, s, momentum=m)
    for t in range(5):
        opt.step()
        sched.step()
    g = opt.param_groups[0]
    assert g["lr"] is lr_t and g["betas"][0] is b1  # same tensors, new values
    assert float(lr_t) == pytest.approx(s(5), rel=1e-6) and float(b1) == pytest.approx(m(5))
    last = sched.get_last_lr()[0]
    assert isinstance(last, torch.Tensor) and last is not lr_t  # a copy, as torch's


def test_bad_arguments(fl):
    opt = make_opt(lrs=(0.1, 0.1))
    with pytest.raises(ValueError, match="one per param group"):
        ft.LRScheduler(opt, [fl.Constant(0.1)])
    with pytest.raises(ValueError, match="one per param group"):
        ft.LRScheduler(opt, fl.Constant(0.1), momentum=[fl.Constant(0.9)] * 3)
    with pytest.raises(TypeError, match="schedule must be a fastlr schedule"):
        ft.LRScheduler(opt, 0.1)
    with pytest.raises(TypeError, match="schedule must be a fastlr schedule"):
        ft.LRScheduler(opt, lambda t: 0.1)
    with pytest.raises(TypeError, match=r"schedule\[1\] must be a fastlr schedule"):
        ft.LRScheduler(opt, [fl.Constant(0.1), 0.1])
    with pytest.raises(TypeError, match="momentum must be"):
        ft.LRScheduler(opt, fl.Constant(0.1), momentum=0.9)
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        ft.LRScheduler([torch.zeros(2)], fl.Constant(0.1))


def test_a_new_group_with_an_lr_scale_keeps_it(fl):
    opt = make_opt()
    sched = ft.LRScheduler(opt, fl.Step(0.1, 2))
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr_scale": 0.1})
    sched.step()
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == [0.1 * 0.1, 0.1 * 0.1 * 0.1]


def test_works_inside_torch_chained_scheduler(fl):
    opt = make_opt()
    ours = ft.LRScheduler(opt, fl.Cosine(0.1, 10))
    chained = L.ChainedScheduler([ours])
    for _ in range(4):
        opt.step()
        chained.step()
    assert opt.param_groups[0]["lr"] == fl.Cosine(0.1, 10)(4)


# -- a real model ---------------------------------------------------------------------------------

@pytest.fixture
def one_thread():
    """Small matrices gain nothing from threads, and on a busy CI box intra-op threads that
    spin-wait make a few hundred steps take seconds instead of a fraction of one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _train(make_sched, kind, steps=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 16, generator=g)
    y = torch.sin(x[:, :1] * 2) + 0.1 * x[:, 1:2] ** 2
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.Tanh(),
                                torch.nn.Linear(64, 64), torch.nn.Tanh(),
                                torch.nn.Linear(64, 1))
    if kind == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    sched = make_sched(opt)
    lrs, losses = [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        lrs.append(opt.param_groups[0]["lr"])
        losses.append(loss.item())
        opt.step()
        sched.step()
    return np.array(lrs), np.array(losses)


def test_mlp_training_matches_torch_sequential_warmup_cosine(fl, one_thread):
    n = 300
    t_lrs, t_loss = _train(lambda o: L.SequentialLR(
        o, [L.LinearLR(o, 0.01, 1.0, total_iters=30), L.CosineAnnealingLR(o, T_max=n - 30)],
        milestones=[30]), "sgd", n)
    sched = fl.Sequence([fl.Linear(0.05 * 0.01, 0.05, 30), fl.Cosine(0.05, n - 30)], [30])
    f_lrs, f_loss = _train(lambda o: ft.LRScheduler(o, sched), "sgd", n)
    assert_close(f_lrs, t_lrs, 0.05)
    assert f_loss[-1] < 0.5 * f_loss[0]  # it trained
    np.testing.assert_allclose(f_loss, t_loss, rtol=1e-5, atol=1e-7)


def test_mlp_training_matches_torch_onecycle_adamw(fl, one_thread):
    n = 300
    t_lrs, t_loss = _train(lambda o: L.OneCycleLR(o, max_lr=1e-2, total_steps=n), "adamw", n)
    oc = fl.OneCycle(1e-2, n)
    f_lrs, f_loss = _train(lambda o: ft.LRScheduler(o, oc, momentum=oc.momentum()), "adamw", n)
    assert_close(f_lrs[:n - 1], t_lrs[:n - 1], 1e-2)
    assert f_loss[-1] < 0.5 * f_loss[0]
    np.testing.assert_allclose(f_loss, t_loss, rtol=1e-5, atol=1e-7)


# -- check everything, then write -----------------------------------------------------------------

def _snapshot(opt, sched):
    return ([dict((k, v) for k, v in g.items() if k != "params") for g in opt.param_groups],
            sched.last_epoch, sched._step_count, list(sched.get_last_lr()))


BAD_VALUES = {"inf": math.inf, "nan": math.nan, "huge_int": 10**400, "neg_inf": -math.inf}


@pytest.mark.parametrize("bad", list(BAD_VALUES))
def test_a_bad_later_group_schedule_writes_nothing(fl, bad):
    value = BAD_VALUES[bad]
    opt = make_opt("adam", lrs=(0.1, 0.1, 0.1))
    lrs = [fl.Cosine(0.1, 10), fl.Constant(0.05),
           fl.Lambda(lambda t: 0.01 if t < 3 else value)]
    sched = ft.LRScheduler(opt, lrs, momentum=fl.Linear(0.9, 0.8, 10))
    for _ in range(2):
        sched.step()
    before = _snapshot(opt, sched)
    with pytest.raises(ValueError, match="param group 2.*nothing was written"):
        sched.step()
    assert _snapshot(opt, sched) == before
    with pytest.raises(ValueError, match="param group 2"):
        sched.step(epoch=5)  # a seek is checked the same way
    assert _snapshot(opt, sched) == before


def test_a_bad_momentum_value_writes_no_lr(fl):
    opt = make_opt("sgd", lrs=(0.1, 0.1))
    sched = ft.LRScheduler(opt, fl.Cosine(0.1, 10),
                           momentum=[fl.Constant(0.9), fl.Lambda(lambda t: 0.9 if t < 2 else
                                                                 math.nan)])
    sched.step()
    before = _snapshot(opt, sched)
    with pytest.raises(ValueError, match="momentum schedule of param group 1"):
        sched.step()
    assert _snapshot(opt, sched) == before


@pytest.mark.parametrize("scale,exc", [("2", TypeError), (math.inf, ValueError),
                                       (1e308, ValueError), (None, TypeError)])
def test_a_bad_lr_scale_writes_nothing(fl, scale, exc):
    opt = make_opt(lrs=(0.1, 0.1, 0.1))
    sched = ft.LRScheduler(opt, fl.Constant(10.0))
    sched.step()
    opt.param_groups[2]["lr_scale"] = scale
    before = _snapshot(opt, sched)
    with pytest.raises(exc, match="param group 2"):
        sched.step()
    assert _snapshot(opt, sched) == before
    with pytest.raises(exc, match="param group 2"):  # the per-group path checks the same
        ft.LRScheduler(opt, [fl.Constant(10.0)] * 3)


def test_a_tensor_lr_group_is_not_filled_when_a_later_group_fails(fl):
    p = [torch.nn.Parameter(torch.zeros(2)) for _ in range(2)]
    opt = torch.optim.Adam([{"params": [p[0]], "lr": torch.tensor(0.01)},
                            {"params": [p[1]], "lr": 0.01}])
    sched = ft.LRScheduler(opt, [fl.Cosine(0.01, 10), fl.Lambda(lambda t: 0.01 if t < 1
                                                               else math.inf)])
    lr_t = opt.param_groups[0]["lr"]
    value = float(lr_t)
    with pytest.raises(ValueError, match="param group 1"):
        sched.step()
    assert float(lr_t) == value and sched.last_epoch == 0


def test_base_lrs_do_not_alias_tensor_lrs():
    p = [torch.nn.Parameter(torch.zeros(2))]
    opt = torch.optim.Adam(p, lr=torch.tensor(0.01))
    sched = ft.LRScheduler(opt, fastlr_cosine())
    group = opt.param_groups[0]
    assert sched.base_lrs[0] is not group["initial_lr"]
    assert sched.base_lrs[0] is not group["lr"]
    assert float(sched.base_lrs[0]) == float(group["initial_lr"]) == pytest.approx(0.01)
    torch_sched = L.StepLR(torch.optim.Adam(p, lr=torch.tensor(0.01)), 3)  # torch does the same
    assert torch_sched.base_lrs[0] is not torch_sched.optimizer.param_groups[0]["initial_lr"]


def fastlr_cosine():
    import fastlr
    return fastlr.Cosine(0.01, 10)


# -- no silent seek -------------------------------------------------------------------------------

def test_a_positional_step_warns_as_torch_and_seeks(fl):
    s = fl.Cosine(0.1, 1000)
    opt = make_opt()
    sched = ft.LRScheduler(opt, s)
    for _ in range(500):
        sched.step()
    with pytest.warns(UserWarning) as record:
        sched.step(0.93)
    assert len(record) == 1
    assert str(record[0].message) == L.EPOCH_DEPRECATION_WARNING  # torch's own text
    assert sched.last_epoch == 0.93 and opt.param_groups[0]["lr"] == s(0.93)
    with pytest.warns(UserWarning, match="The epoch parameter"):  # torch warns the same
        o = make_opt()
        torch_sched = L.StepLR(o, 3)
        o.step()
        torch_sched.step(4)
    sched.step(epoch=7)  # the keyword seeks without a warning (filterwarnings = error)
    assert sched.last_epoch == 7 and opt.param_groups[0]["lr"] == s(7)
    with pytest.raises(TypeError, match="no schedule is a ReduceOnPlateau"):
        sched.step(0.5, epoch=3)
    assert sched.last_epoch == 7


# -- plateau --------------------------------------------------------------------------------------

PLATEAU_METRICS = [1.0, 0.9, 0.91, 0.92, 0.93, 0.8, 0.8, 0.81, 0.85, 0.79, 0.9, 0.95, 0.99,
                   1.2, 0.7, 0.7, 0.71, 0.72, 0.73, 0.74, 0.75, 0.76, 0.77, 0.78, math.nan,
                   0.6, 0.61, 0.62, 0.63]

PLATEAU_KWARGS = {
    "default": {},
    "patience0_cooldown": dict(patience=0, cooldown=2, factor=0.5),
    "max_abs": dict(mode="max", threshold_mode="abs", threshold=0.01, patience=1),
    "min_lr": dict(patience=1, factor=0.3, min_lr=0.004),
}


def _as(kind, x):
    if kind == "float":
        return x
    if kind == "tensor":
        return torch.tensor(x, dtype=torch.float32)
    return np.float32(x)


@pytest.mark.parametrize("metric_kind", ["float", "tensor", "numpy"])
@pytest.mark.parametrize("case", list(PLATEAU_KWARGS))
def test_plateau_same_lrs_as_torch_reduce_lr_on_plateau(fl, case, metric_kind):
    kw = dict(PLATEAU_KWARGS[case])
    if case != "default":
        kw.setdefault("patience", 2)
    metrics = PLATEAU_METRICS if kw.get("mode") != "max" else [-m for m in PLATEAU_METRICS]
    o1 = make_opt(lrs=(0.1,))
    theirs = L.ReduceLROnPlateau(o1, **kw)
    o2 = make_opt(lrs=(0.1,))
    ours = ft.LRScheduler(o2, fl.ReduceOnPlateau(0.1, **kw))
    for m in metrics:
        theirs.step(_as(metric_kind, m))
        ours.step(_as(metric_kind, m))
        np.testing.assert_allclose(o2.param_groups[0]["lr"], o1.param_groups[0]["lr"],
                                   rtol=1e-12)
        assert ours.get_last_lr() == [o2.param_groups[0]["lr"]]
    assert ours.last_epoch == 0  # metrics do not move the update clock
    if case != "default":
        assert o1.param_groups[0]["lr"] < 0.1  # the sequence did cut the lr


def test_plateau_over_warmup_in_a_plain_loop_and_exact_resume(fl):
    def make():
        opt = make_opt("adam", lrs=(1e-3, 1e-3))
        opt.param_groups[1]["lr_scale"] = 0.5
        plateau = fl.ReduceOnPlateau(fl.Warmup(fl.Cosine(1e-3, 200), 20), patience=1,
                                     factor=0.5)
        return opt, ft.LRScheduler(opt, plateau), plateau

    def run_epochs(opt, sched, epochs, first=0):
        out = []
        for e in range(first, first + epochs):
            for _ in range(7):
                out.append([g["lr"] for g in opt.param_groups])
                opt.step()
                sched.step()
            sched.step(torch.tensor(PLATEAU_METRICS[e], dtype=torch.float32))
            out.append([g["lr"] for g in opt.param_groups])
        return out

    opt, sched, plateau = make()
    full = run_epochs(opt, sched, 12)
    # lr = base(t) * scale, with the update clock = step() calls
    assert sched.last_epoch == 84
    base = fl.Warmup(fl.Cosine(1e-3, 200), 20)
    assert opt.param_groups[0]["lr"] == base(84) * plateau.scale
    assert plateau.scale < 1.0 and full[3][0] == base(3)  # warmup ran, then a cut

    opt, sched, plateau = make()
    first = run_epochs(opt, sched, 5)
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    assert ckpt["sched"]["plateau"] == plateau.state_dict()
    opt, sched, plateau = make()  # a fresh process: a new plateau object
    opt.load_state_dict(ckpt["opt"])
    sched.load_state_dict(ckpt["sched"])
    second = run_epochs(opt, sched, 7, first=5)
    assert first + second == full  # bit for bit


def test_plateau_mixed_with_plain_group_schedules(fl):
    opt = make_opt(lrs=(0.1, 0.1))
    cos = fl.Cosine(0.05, 100)
    plateau = fl.ReduceOnPlateau(fl.Constant(0.1), patience=0)
    sched = ft.LRScheduler(opt, [plateau, cos])
    sched.step()
    sched.step(1.0)
    sched.step(2.0)  # worse: cut
    assert [g["lr"] for g in opt.param_groups] == [0.1 * plateau.scale, cos(1)]
    assert plateau.scale == pytest.approx(0.1)
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == [0.1 * plateau.scale, cos(2)]
    state = sched.state_dict()
    assert state["plateau"][1] is None and state["plateau"][0] == plateau.state_dict()


def test_a_shared_plateau_is_updated_once_per_metric(fl):
    plateau = fl.ReduceOnPlateau(0.1, patience=0)
    opt = make_opt(lrs=(0.1, 0.1))
    sched = ft.LRScheduler(opt, [plateau, plateau])
    sched.step(1.0)
    sched.step(2.0)
    assert plateau.num_updates == 2 and plateau.scale == pytest.approx(0.1)


@pytest.mark.parametrize("bad", [True, "0.5", torch.tensor([0.1, 0.2]), None, [0.5],
                                 torch.tensor(True), np.array(["a"])])
def test_bad_metrics_write_nothing(fl, bad):
    plateau = fl.ReduceOnPlateau(0.1, patience=0)
    opt = make_opt()
    sched = ft.LRScheduler(opt, [plateau])
    sched.step(1.0)
    state = plateau.state_dict()
    before = _snapshot(opt, sched)
    if bad is None:
        sched.step(None)  # no metric: a plain update step
        assert sched.last_epoch == 1
        return
    with pytest.raises(TypeError, match="metrics must be"):
        sched.step(bad)
    assert _snapshot(opt, sched) == before and plateau.state_dict() == state


def test_a_failed_metric_step_restores_the_plateau(fl):
    plateau = fl.ReduceOnPlateau(1.0, patience=0)
    opt = make_opt(lrs=(0.1, 0.1))
    sched = ft.LRScheduler(opt, [plateau, fl.Lambda(lambda t: 0.1 if t < 1 else math.nan)])
    sched.step(1.0)
    state = plateau.state_dict()
    before = _snapshot(opt, sched)
    with pytest.raises(ValueError, match="param group 1"):
        sched.step(epoch=1)
    with pytest.raises(ValueError, match="param group 1"):
        sched.step(2.0, epoch=1)
    assert plateau.state_dict() == state and _snapshot(opt, sched) == before


def test_plateau_state_dict_mismatch_is_refused(fl):
    plateau = ft.LRScheduler(make_opt(), fl.ReduceOnPlateau(0.1))
    plain = ft.LRScheduler(make_opt(), fl.Constant(0.1))
    with pytest.raises(ValueError, match="plateau"):
        plain.load_state_dict(plateau.state_dict())
    with pytest.raises(ValueError, match="plateau"):  # checked before the config warning
        plateau.load_state_dict(dict(plain.state_dict(), plateau={"scale": 1.0}))
    # a torch (or format 1) state has no plateau entry: the plateau keeps its state
    plateau.load_state_dict({"last_epoch": 0})


# -- groups added later and outside writes --------------------------------------------------------

CHAINABLE = {
    # name: (torch chainable factory, fastlr schedule factory)
    "step": (lambda o: L.StepLR(o, step_size=4, gamma=0.5), lambda fl: fl.Step(0.1, 4, 0.5)),
    "exponential": (lambda o: L.ExponentialLR(o, gamma=0.9),
                    lambda fl: fl.Exponential(0.1, 0.9)),
    "linear": (lambda o: L.LinearLR(o, start_factor=0.2, end_factor=1.0, total_iters=15),
               lambda fl: fl.Linear(0.02, 0.1, 15)),
    "multistep": (lambda o: L.MultiStepLR(o, [3, 9, 14], gamma=0.3),
                  lambda fl: fl.MultiStep(0.1, [3, 9, 14], 0.3)),
    "cosine": (lambda o: L.CosineAnnealingLR(o, T_max=30), lambda fl: fl.Cosine(0.1, 30)),
}


def _with_writes(opt, sched, n=24):
    """Step ``n`` times, with an outside write to group 0 at 5 and 17, a group added at 8
    (lr 1e-3) and an outside write to it at 12; the lrs of every group at every step."""
    out = []
    for t in range(n):
        if t == 5:
            opt.param_groups[0]["lr"] = 0.03
        if t == 8:
            opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 1e-3})
        if t == 12:
            opt.param_groups[-1]["lr"] = 2e-3
        if t == 17:
            opt.param_groups[0]["lr"] *= 2.0
        opt.step()
        sched.step()
        out.append([float(g["lr"]) for g in opt.param_groups])
    return out


@pytest.mark.parametrize("name", list(CHAINABLE))
def test_outside_writes_and_new_groups_as_torch_chainable(fl, name):
    make_torch, make_fl = CHAINABLE[name]
    o1 = make_opt(lrs=(0.1,))
    expected = _with_writes(o1, make_torch(o1))
    o2 = make_opt(lrs=(0.1,))
    got = _with_writes(o2, ft.LRScheduler(o2, make_fl(fl)))
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-12)
    assert o2.param_groups[1]["lr_scale"] == pytest.approx(2e-3 / make_fl(fl)(12))


def test_a_new_group_keeps_its_own_lr(fl):
    s = fl.Cosine(0.1, 1000)
    opt = make_opt()
    sched = ft.LRScheduler(opt, s)
    for _ in range(10):
        sched.step()
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.001})
    sched.step()
    new = opt.param_groups[1]
    assert new["lr_scale"] == 0.001 / s(10)
    assert new["lr"] == s(11) * (0.001 / s(10))
    assert new["lr"] == pytest.approx(0.001, rel=1e-4)  # not 0.09998
    assert sched.get_last_lr()[1] == new["lr"]


def test_per_group_schedules_with_an_added_group_follow_group_0(fl):
    a, b = fl.Step(0.1, 3), fl.Constant(0.01)
    opt = make_opt(lrs=(0.1, 0.01))
    sched = ft.LRScheduler(opt, [a, b])
    sched.step()
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.05})
    for _ in range(3):
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == [a(4), b(4), a(4) * (0.05 / a(1))]
    assert sched.schedules == [a, b, a]


def test_a_rescale_where_the_schedule_is_zero_is_refused(fl):
    s = fl.warmup_cosine(0.1, 10, 100)  # 0 at t = 0
    opt = make_opt()
    sched = ft.LRScheduler(opt, s)
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.001})
    before = _snapshot(opt, sched)
    with pytest.raises(ValueError, match="param group 1 was added.*lr_scale"):
        sched.step()
    assert _snapshot(opt, sched) == before
    opt.param_groups[1]["lr_scale"] = 0.01  # the remedy the message names
    sched.step()
    assert opt.param_groups[1]["lr"] == s(1) * 0.01


def test_tensor_lr_written_in_place_from_outside_is_rescaled(fl):
    s = fl.Exponential(0.01, 0.9)
    p = [torch.nn.Parameter(torch.zeros(2))]
    opt = torch.optim.Adam(p, lr=torch.tensor(0.01, dtype=torch.float64))
    sched = ft.LRScheduler(opt, s)
    for _ in range(3):
        sched.step()
    assert "lr_scale" not in opt.param_groups[0]  # no write seen, no rescale
    opt.param_groups[0]["lr"].fill_(0.5)
    sched.step()
    assert float(opt.param_groups[0]["lr"]) == pytest.approx(0.5 * 0.9, rel=1e-12)
    f32 = torch.optim.Adam(p, lr=torch.tensor(0.01))
    sched = ft.LRScheduler(f32, s)
    for _ in range(3):
        sched.step()
    assert "lr_scale" not in f32.param_groups[0]  # float32 rounding is not a write


def test_rescaled_groups_resume_exactly_also_with_a_pending_write(fl):
    s = fl.warmup_cosine(0.1, 5, 60)

    def make():
        opt = make_opt("adam", lrs=(0.1,))
        return opt, ft.LRScheduler(opt, s)

    def run(opt, sched, t0, t1):
        out = []
        for t in range(t0, t1):
            out.append([g["lr"] for g in opt.param_groups])
            opt.step()
            sched.step()
            # after the scheduler's step: seen by the next one (a checkpoint in between
            # holds a write that no step has seen yet)
            if t == 7:
                opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))],
                                     "lr": 1e-3})
            if t in (11, 19):
                opt.param_groups[0]["lr"] = 0.07
        return out

    opt, sched = make()
    full = run(opt, sched, 0, 40)
    for cut in (16, 20):  # 20: saved after the write at the end of step 19
        opt, sched = make()
        first = run(opt, sched, 0, cut)
        buf = io.BytesIO()
        torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
        buf.seek(0)
        ckpt = torch.load(buf, weights_only=True)
        opt, sched = make()
        opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 1e-3})
        sched.load_state_dict(ckpt["sched"])
        opt.load_state_dict(ckpt["opt"])
        second = run(opt, sched, cut, 40)
        assert first + second == full, cut
        assert sched.state_dict()["lr_scales"][1] == 1e-3 / s(8)


def test_sequential_lr_of_fastlr_children_restarts_at_milestones(fl):
    opt = make_opt()
    a, b = fl.Linear(0.01, 0.1, 5), fl.Cosine(0.1, 20)
    seq = L.SequentialLR(opt, [ft.LRScheduler(opt, a), ft.LRScheduler(opt, b)], [5])
    lrs = []
    for _ in range(15):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        seq.step()
    assert lrs == [a(t) for t in range(5)] + [b(t) for t in range(10)]


def test_load_state_dict_restores_the_saved_lr_scales(fl):
    s = fl.Cosine(0.1, 100)
    a = ft.LRScheduler(make_opt(lrs=(0.1, 0.1)), s)
    a.optimizer.param_groups[1]["lr_scale"] = 0.25
    a.step()
    b_opt = make_opt(lrs=(0.1, 0.1))
    b_opt.param_groups[0]["lr_scale"] = 3.0  # not in the saved state: dropped
    b = ft.LRScheduler(b_opt, s)
    b.load_state_dict(a.state_dict())
    assert "lr_scale" not in b_opt.param_groups[0]
    assert [g["lr"] for g in b_opt.param_groups] == [s(1), s(1) * 0.25]
    assert b.get_last_lr() == a.get_last_lr()
    with pytest.raises(ValueError, match=r"lr_scales'\]\[1\]"):
        b.load_state_dict(dict(a.state_dict(), lr_scales=[None, math.inf]))
    assert [g["lr"] for g in b_opt.param_groups] == [s(1), s(1) * 0.25]


def test_metrics_alone_under_a_moving_base_warn_once(fl):
    opt = make_opt()
    sched = ft.LRScheduler(opt, fl.ReduceOnPlateau(fl.Warmup(fl.Constant(0.1), 10),
                                                   patience=0))
    sched.step(1.0)
    with pytest.warns(UserWarning, match="no step\\(\\) between them"):
        sched.step(0.9)
    sched.step(0.8)  # once only (filterwarnings = error)
    assert opt.param_groups[0]["lr"] == 0.0  # the warmup's first value, as warned
    flat = ft.LRScheduler(make_opt(), fl.ReduceOnPlateau(0.1, patience=0))
    for m in (1.0, 2.0, 3.0):  # a constant base has no clock: metrics alone are fine
        flat.step(m)
    assert flat.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
