"""fastlr.torch.optim: torch.optim.Optimizer front ends over the compiled fastlr optimizers.

Against the numpy classes (bit for bit), torch.optim's for-loop path (float rounding),
torch.optim checkpoints (both ways), torch's machinery (LR schedulers, hooks, closures,
GradScaler, torch.compile, DDP, FSDP2) and the documented errors.
"""
import copy
import inspect
import io
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch)")

import fastlr  # noqa: E402
import fastlr.torch as flt  # noqa: E402
import fastlr.torch.optim as fo  # noqa: E402
from test_optim_cases import (CONFIG_IDS, CONFIGS, RTOL, TORCH_NAMES, assert_close,  # noqa: E402
                              bits_differ, data)

pytestmark = pytest.mark.torch

NAMES = fo.__all__
TORCH_CONFIGS = [(n, kw) for n, kw in CONFIGS if n in TORCH_NAMES]
TORCH_IDS = [i for i, (n, _) in zip(CONFIG_IDS, CONFIGS) if n in TORCH_NAMES]
STEPS = 100


def tensors(params):
    return [torch.from_numpy(p.copy()).requires_grad_() for p in params]


def set_grads(ts, g):
    for t, gi in zip(ts, g):
        t.grad = None if gi is None else torch.from_numpy(gi.copy())


def torch_run(opt_cls, kwargs, params, grads, **extra):
    """Params (numpy) after one step per entry of ``grads``, and the optimizer."""
    ts = tensors(params)
    opt = opt_cls(ts, **kwargs, **extra)
    for g in grads:
        set_grads(ts, g)
        opt.step()
    return [t.detach().numpy() for t in ts], opt


def numpy_run(name, kwargs, params, grads):
    ps = [p.copy() for p in params]
    opt = getattr(fastlr, name)(ps, **kwargs)
    for g in grads:
        assert opt.step(g) is True
    return ps, opt


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


# ---- the updates: the numpy classes bit for bit, torch.optim to float rounding -----------

@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=CONFIG_IDS)
def test_equals_numpy_class_bit_for_bit(name, kwargs, dtype):
    params, grads = data(dtype, STEPS, seed=11)
    expected, nopt = numpy_run(name, kwargs, params, grads)
    ours, topt = torch_run(getattr(fo, name), kwargs, params, grads)
    assert bits_differ(ours, expected) == 0
    # every state buffer too, under torch.optim's names
    for i, buffers in enumerate(nopt.state_dict()["state"]):
        for key, buf in buffers.items():
            got = topt.state[topt.param_groups[0]["params"][i]][key]
            np.testing.assert_array_equal(bits(got.numpy()), bits(buf))
    assert not np.allclose(ours[-1], params[-1])      # the run really moved the params


@pytest.mark.parametrize("name,kwargs", TORCH_CONFIGS, ids=TORCH_IDS)
def test_matches_torch_for_loop(name, kwargs, dtype):
    params, grads = data(dtype, STEPS, seed=12)
    ours, opt = torch_run(getattr(fo, name), kwargs, params, grads)
    theirs, topt = torch_run(getattr(torch.optim, name), kwargs, params, grads, foreach=False)
    assert_close(ours, theirs, RTOL[dtype])
    # the same state layout: keys, shapes, dtypes, and step as a 0-dim float32 tensor
    for p, q in zip(opt.param_groups[0]["params"], topt.param_groups[0]["params"]):
        a, b = opt.state[p], topt.state[q]
        assert sorted(a) == sorted(b)
        for key in b:
            assert a[key].shape == b[key].shape and a[key].dtype == b[key].dtype, key
            if key == "step":
                assert a[key].item() == b[key].item() == STEPS
            else:
                assert_close([a[key].numpy()], [b[key].numpy()], RTOL[dtype] * 10)
    ours_groups, their_groups = (o.state_dict()["param_groups"] for o in (opt, topt))
    assert [dict(g, foreach=False) for g in ours_groups] == their_groups   # same keys


@settings(max_examples=25, deadline=None)
@given(config=st.sampled_from(CONFIGS),
       sizes=st.lists(st.integers(0, 3000), min_size=1, max_size=5),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**31))
def test_equals_numpy_class_any_sizes(config, sizes, dtype, seed):
    name, kwargs = config
    params, grads = data(dtype, 6, seed=seed, shapes=[(n,) for n in sizes])
    expected, _ = numpy_run(name, kwargs, params, grads)
    ours, _ = torch_run(getattr(fo, name), kwargs, params, grads)
    assert bits_differ(ours, expected) == 0


@settings(max_examples=20, deadline=None)
@given(config=st.sampled_from(TORCH_CONFIGS), dtype=st.sampled_from([np.float32, np.float64]),
       missing=st.lists(st.lists(st.booleans(), min_size=4, max_size=4), min_size=8,
                        max_size=8),
       seed=st.integers(0, 2**31))
def test_missing_grads_match_torch_any_pattern(config, dtype, missing, seed):
    """Any pattern of params without a gradient: torch's per-param state and counters."""
    name, kwargs = config
    params, grads = data(dtype, 8, seed=seed)
    grads = [[None if m else g for g, m in zip(step, ms)] for step, ms in zip(grads, missing)]
    ours, opt = torch_run(getattr(fo, name), kwargs, params, grads)
    theirs, topt = torch_run(getattr(torch.optim, name), kwargs, params, grads,
                             foreach=False)
    assert_close(ours, theirs, RTOL[dtype])
    for p, q in zip(opt.param_groups[0]["params"], topt.param_groups[0]["params"]):
        assert sorted(opt.state[p]) == sorted(topt.state[q])


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_same_signature_as_torch(name):
    ours, theirs = inspect.signature(getattr(fo, name)), inspect.signature(
        getattr(torch.optim, name))
    assert [(p.name, p.default, p.kind) for p in ours.parameters.values()] == \
        [(p.name, p.default, p.kind) for p in theirs.parameters.values()]


@pytest.mark.parametrize("name", ["Lion", "ScheduleFreeSGD", "ScheduleFreeAdamW"])
def test_same_signature_as_fastlr(name):
    ours, theirs = inspect.signature(getattr(fo, name)), inspect.signature(
        getattr(fastlr, name))
    assert ours == theirs


def test_mixed_dtypes_and_2d_and_empty_params():
    rng = np.random.default_rng(0)
    params = [rng.standard_normal((6, 5)).astype(np.float32), rng.standard_normal(7),
              np.zeros(0, np.float32), rng.standard_normal(3).astype(np.float32)]
    grads = [[rng.standard_normal(p.shape).astype(p.dtype) for p in params]
             for _ in range(20)]
    expected, _ = numpy_run("AdamW", dict(lr=0.01, amsgrad=True), params, grads)
    ours, opt = torch_run(fo.AdamW, dict(lr=0.01, amsgrad=True), params, grads)
    assert bits_differ(ours, expected) == 0
    assert opt.state[opt.param_groups[0]["params"][1]]["exp_avg"].dtype == torch.float64


def test_channels_last_params_update_like_contiguous():
    torch.manual_seed(0)
    w = torch.randn(4, 3, 5, 5)
    grads = [torch.randn(4, 3, 5, 5) for _ in range(10)]
    a = torch.nn.Parameter(w.clone())
    b = torch.nn.Parameter(w.clone().to(memory_format=torch.channels_last))
    assert not b.is_contiguous()
    oa, ob = fo.AdamW([a], lr=0.01), fo.AdamW([b], lr=0.01)
    for g in grads:
        a.grad = g.clone()
        b.grad = g.clone().to(memory_format=torch.channels_last)
        oa.step()
        ob.step()
    assert b.stride() == w.to(memory_format=torch.channels_last).stride()
    assert torch.equal(a, b)
    assert ob.state[b]["exp_avg"].stride() == b.stride()
    assert torch.equal(oa.state[a]["exp_avg_sq"], ob.state[b]["exp_avg_sq"])
    # a gradient in another layout than its param is read correctly (through a copy)
    a.grad = grads[0].clone()
    b.grad = grads[0].clone()            # contiguous grad for a channels_last param
    oa.step()
    ob.step()
    assert torch.equal(a, b)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_grads_needing_a_copy_or_detach_are_read_right():
    """A non-contiguous gradient of a contiguous param, and one that requires grad
    (``backward(create_graph=True)``), give torch.optim's update."""
    runs = []
    for cls in (fo.SGD, torch.optim.SGD):
        torch.manual_seed(0)
        a, b = torch.nn.Parameter(torch.randn(4, 5)), torch.nn.Parameter(torch.randn(6))
        opt = cls([a, b], lr=0.1, momentum=0.9)
        for k in range(3):
            opt.zero_grad()
            a.grad = torch.randn(5, 4).t()               # strides (1, 4): not contiguous
            (b ** 3).sum().backward(create_graph=True)   # b.grad requires grad
            assert not a.grad.is_contiguous() and b.grad.requires_grad
            opt.step()
        runs.append([a.detach().clone(), b.detach().clone()])
    for x, y in zip(*runs):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-6)


# ---- in place, no copy --------------------------------------------------------------------

def test_updates_in_place_and_state_is_live_memory():
    p = torch.nn.Parameter(torch.randn(1000))
    alias = p.detach()                            # shares p's memory
    ptr = p.data_ptr()
    opt = fo.Adam([p], lr=0.1)
    p.grad = torch.ones(1000)
    before = alias.clone()
    version = p._version
    opt.step()
    assert p.data_ptr() == ptr and not torch.equal(alias, before)
    assert torch.equal(alias, p.detach())
    assert p._version > version                  # autograd sees the in-place update
    exp_avg = opt.state[p]["exp_avg"]
    state_ptr = exp_avg.data_ptr()
    kept = exp_avg.clone()
    opt.step()
    assert opt.state[p]["exp_avg"] is exp_avg and exp_avg.data_ptr() == state_ptr
    assert not torch.equal(exp_avg, kept)        # the same tensor, updated by the C call
    assert opt.state[p]["step"].item() == 2


def test_param_memory_replaced_is_followed():
    """``p.data = ...`` between steps: the optimizer updates the new memory."""
    params, grads = data(np.float32, 6, seed=13)
    expected, _ = numpy_run("AdamW", {}, params, grads)
    ts = tensors(params)
    opt = fo.AdamW(ts)
    for k, g in enumerate(grads):
        if k == 3:
            for t in ts:
                t.data = t.data.clone()
        set_grads(ts, g)
        opt.step()
    assert bits_differ([t.detach().numpy() for t in ts], expected) == 0


def test_param_memory_replaced_by_unsupported_raises_at_step():
    p = torch.nn.Parameter(torch.randn(4, 6))
    opt = fo.SGD([p], momentum=0.9)
    p.grad = torch.ones(4, 6)
    opt.step()
    for data_, exc, match in [(torch.randn(4, 12)[:, ::2], ValueError, "contiguous"),
                              (torch.randn(4, 6).half(), TypeError, "float16")]:
        p.data = data_
        p.grad = torch.ones_like(p)
        before = p.detach().clone()
        with pytest.raises(exc, match=match):
            opt.step()
        assert torch.equal(p, before)


# ---- param groups, schedulers, params without gradients -----------------------------------

def test_lr_written_by_torch_scheduler_takes_effect():
    params, grads = data(np.float64, 30, seed=14)
    runs = []
    for cls in (fo.SGD, torch.optim.SGD):
        ts = tensors(params)
        opt = cls([{"params": ts[:2]}, {"params": ts[2:], "lr": 0.05}], lr=0.1, momentum=0.9)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[0.1, 0.05], total_steps=30)
        for g in grads:
            set_grads(ts, g)
            opt.step()
            sched.step()
        runs.append([t.detach().numpy() for t in ts])
    assert_close(runs[0], runs[1], 1e-12)
    # OneCycle also drives momentum through the group: it changed and was used
    assert opt.param_groups[0]["momentum"] != 0.9


def test_fastlr_lr_scheduler_drives_it():
    params, grads = data(np.float64, 20, seed=15)
    schedule = fastlr.warmup_cosine(0.01, 5, 20)
    expected, _ = numpy_run("AdamW", dict(lr=schedule), params, grads)
    ts = tensors(params)
    opt = fo.AdamW(ts, lr=0.01)
    sched = flt.LRScheduler(opt, schedule)
    for g in grads:
        set_grads(ts, g)
        opt.step()
        sched.step()
    assert bits_differ([t.detach().numpy() for t in ts], expected) == 0


NEW_CASES = [("NAdam", dict(lr=0.01, weight_decay=0.1)),
             ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
             ("RAdam", dict(lr=0.01, betas=(0.8, 0.9))), ("Adamax", dict(lr=0.01)),
             ("Adadelta", dict(lr=1.0, weight_decay=0.01)),
             ("ASGD", dict(lr=0.01, lambd=1e-2, t0=3.0)),
             ("Rprop", dict(lr=0.01, maximize=True))]


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)), ("SGD", dict(lr=0.05)),
    ("Adam", dict(lr=0.01, amsgrad=True)), ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1))] + NEW_CASES,
    ids=lambda x: x if isinstance(x, str) else None)
def test_params_without_grads_are_skipped_like_torch(name, kwargs, dtype):
    """Some params miss some steps: torch's per-param counters and lazy state."""
    params, grads = data(dtype, 30, seed=16)
    for k, g in enumerate(grads):
        if k % 3 == 1:
            g[0] = None
        if k < 5 or k % 7 == 0:
            g[2] = None
    ours, opt = torch_run(getattr(fo, name), kwargs, params, grads)
    theirs, topt = torch_run(getattr(torch.optim, name), kwargs, params, grads,
                             foreach=False)
    assert_close(ours, theirs, RTOL[dtype])
    for p, q in zip(opt.param_groups[0]["params"], topt.param_groups[0]["params"]):
        assert sorted(opt.state[p]) == sorted(topt.state[q])
        if "step" in topt.state[q]:
            assert opt.state[p]["step"].item() == topt.state[q]["step"].item()


def test_param_never_given_a_grad_has_no_state():
    a, b = torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(3))
    b0 = b.detach().clone()
    opt = fo.AdamW([a, b])
    a.grad = torch.ones(3)
    opt.step()
    assert b not in opt.state and torch.equal(b, b0)
    assert fo.Adagrad([a, b]).state[b]["sum"].shape == (3,)   # Adagrad: eager, as torch


def test_no_grads_at_all_is_a_no_op():
    p = torch.nn.Parameter(torch.randn(3))
    before = p.detach().clone()
    opt = fo.Adam([p])
    assert opt.step() is None
    assert torch.equal(p, before) and len(opt.state) == 0


def test_add_param_group_and_group_options_like_torch(dtype):
    params, grads = data(dtype, 20, seed=17)
    runs = []
    for cls in (fo.Adam, torch.optim.Adam):
        ts = tensors(params)
        opt = cls(ts[:2], lr=0.01, **({} if cls is fo.Adam else dict(foreach=False)))
        for k, g in enumerate(grads):
            if k == 5:
                opt.add_param_group({"params": ts[2:], "lr": 0.02, "weight_decay": 0.1,
                                     "amsgrad": True})
            if k == 10:
                opt.param_groups[0]["betas"] = (0.8, 0.99)
                # a tensor lr works too (float64: torch computes with the tensor's dtype)
                opt.param_groups[1]["lr"] = torch.tensor(0.005, dtype=torch.float64)
            set_grads(ts, g if k >= 5 else g[:2] + [None, None])
            opt.step()
        runs.append([t.detach().numpy() for t in ts])
    assert_close(runs[0], runs[1], RTOL[dtype])


def test_option_enabling_a_buffer_later():
    """momentum switched on after some steps: SGD makes its buffer then, as torch does."""
    params, grads = data(np.float64, 12, seed=18)
    runs = []
    for cls in (fo.SGD, torch.optim.SGD):
        ts = tensors(params)
        opt = cls(ts, lr=0.05)
        for k, g in enumerate(grads):
            if k == 4:
                opt.param_groups[0]["momentum"] = 0.9
            if k == 8:
                opt.param_groups[0]["momentum"] = 0.0
            if k == 10:
                opt.param_groups[0]["momentum"] = 0.5
            set_grads(ts, g)
            opt.step()
        runs.append([t.detach().numpy() for t in ts])
    assert_close(runs[0], runs[1], 1e-12)


def test_add_param_group_checks_before_adding():
    p = torch.nn.Parameter(torch.randn(3))
    opt = fo.AdamW([p])
    with pytest.raises(ValueError, match="lr"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.randn(2))], "lr": -1.0})
    with pytest.raises(TypeError, match="float16"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.randn(2).half())]})
    assert len(opt.param_groups) == 1
    with pytest.raises(ValueError, match="more than one"):   # torch's own check
        opt.add_param_group({"params": [p]})
    assert len(opt.param_groups) == 1


def test_bad_option_written_later_leaves_everything_untouched():
    params, grads = data(np.float32, 3, seed=19)
    ts = tensors(params)
    opt = fo.Adam([{"params": ts[:2]}, {"params": ts[2:]}], lr=0.01)
    set_grads(ts, grads[0])
    opt.step()
    set_grads(ts, grads[1][:1] + [None] + grads[1][2:])   # two buckets (step counts differ)
    opt.step()
    before = [t.detach().clone() for t in ts]
    state = copy.deepcopy(opt.state_dict()["state"])
    opt.param_groups[1]["lr"] = -1.0
    set_grads(ts, grads[2])
    with pytest.raises(ValueError, match="lr"):
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(ts, before))
    for k, now in opt.state_dict()["state"].items():
        assert all(torch.equal(now[key], state[k][key]) for key in now)


# ---- torch's Optimizer machinery ----------------------------------------------------------

def test_closure_hooks_zero_grad():
    model = torch.nn.Linear(3, 1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    opt = fo.SGD(model.parameters(), lr=0.1)
    calls = []
    opt.register_step_pre_hook(lambda o, args, kwargs: calls.append(("pre", o)))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", o)))
    opt.register_state_dict_post_hook(lambda o, sd: calls.append(("sd", o)))

    def closure():
        opt.zero_grad()
        assert torch.is_grad_enabled()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    with torch.no_grad():                      # the closure still runs with grad
        first = opt.step(closure)
    second = opt.step(closure)
    assert second < first
    assert calls == [("pre", opt), ("post", opt)] * 2
    opt.state_dict()
    assert calls[-1] == ("sd", opt)
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model(x).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())


def test_grad_zeroed_in_place_is_reread():
    """zero_grad(set_to_none=False): the same grad tensors, new values each step."""
    params, grads = data(np.float32, 8, seed=20)
    expected, _ = numpy_run("AdamW", {}, params, grads)
    ts = tensors(params)
    for t in ts:
        t.grad = torch.zeros_like(t)
    opt = fo.AdamW(ts)
    for g in grads:
        opt.zero_grad(set_to_none=False)
        for t, gi in zip(ts, g):
            t.grad.add_(torch.from_numpy(gi))
        opt.step()
    assert bits_differ([t.detach().numpy() for t in ts], expected) == 0


def test_pickle_and_deepcopy_resume():
    params, grads = data(np.float64, 6, seed=21)
    expected, _ = numpy_run("RMSprop", dict(momentum=0.5), params, grads)
    ts = tensors(params)
    opt = fo.RMSprop(ts, momentum=0.5)
    for g in grads[:3]:
        set_grads(ts, g)
        opt.step()
    ts2, opt2 = pickle.loads(pickle.dumps((ts, opt)))
    ts3, opt3 = copy.deepcopy((ts, opt))
    for t_, o_ in ((ts, opt), (ts2, opt2), (ts3, opt3)):
        for g in grads[3:]:
            set_grads(t_, g)
            o_.step()
        assert bits_differ([t.detach().numpy() for t in t_], expected) == 0


# ---- checkpoints: torch.optim's layout, both ways -------------------------------------------

def _roundtrip(sd):
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    return torch.load(buf)                      # weights_only=True: plain tensors and floats


@pytest.mark.parametrize("name,kwargs", [
    ("AdamW", dict(lr=0.01, weight_decay=0.1)), ("AdamW", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True)), ("SGD", dict(lr=0.05, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.1))] + NEW_CASES,
    ids=lambda x: x if isinstance(x, str) else None)
@pytest.mark.parametrize("direction", ["torch-to-fastlr", "fastlr-to-torch"])
def test_checkpoint_moves_between_torch_and_fastlr(name, kwargs, direction, dtype):
    n = 10
    params, grads = data(dtype, 2 * n, seed=22)
    first_cls, second_cls = getattr(torch.optim, name), getattr(fo, name)
    if direction == "fastlr-to-torch":
        first_cls, second_cls = second_cls, first_cls

    def make(cls, ts):
        extra = dict(foreach=False) if cls.__module__.startswith("torch") else {}
        return cls(ts, **kwargs, **extra)

    whole, _ = torch_run(first_cls, kwargs, params, grads,
                         **({"foreach": False} if direction == "torch-to-fastlr" else {}))
    ts = tensors(params)
    first = make(first_cls, ts)
    for g in grads[:n]:
        set_grads(ts, g)
        first.step()
    saved = _roundtrip(first.state_dict())
    resumed = [t.detach().clone().requires_grad_() for t in ts]
    second = make(second_cls, resumed)
    second.load_state_dict(saved)
    for g in grads[n:]:
        set_grads(resumed, g)
        second.step()
    assert_close([t.detach().numpy() for t in resumed], whole, RTOL[dtype])
    st = second.state[resumed[0]]
    if "step" in st:
        assert st["step"].item() == 2 * n and st["step"].dtype == torch.float32


@pytest.mark.parametrize("name", NAMES)
def test_resume_is_bit_exact(name, dtype):
    """2N steps == N steps + torch.save/torch.load of state_dict + fresh optimizer + N."""
    n = 7
    kwargs = dict(CONFIGS[[c[0] for c in CONFIGS].index(name)][1])
    params, grads = data(dtype, 2 * n, seed=23)
    whole, wopt = torch_run(getattr(fo, name), kwargs, params, grads)
    half, first = torch_run(getattr(fo, name), kwargs, params, grads[:n])
    saved = _roundtrip(first.state_dict())
    ts = tensors(half)
    second = getattr(fo, name)(ts, **kwargs)
    second.load_state_dict(saved)
    for g in grads[n:]:
        set_grads(ts, g)
        second.step()
    assert bits_differ([t.detach().numpy() for t in ts], whole) == 0
    a, b = second.state_dict(), wopt.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for k in b["state"]:
        for key, val in b["state"][k].items():
            np.testing.assert_array_equal(bits(a["state"][k][key].numpy()), bits(val.numpy()))


# ---- schedule-free: train/eval, schedulefree's group keys -------------------------------------

@pytest.mark.parametrize("name", ["ScheduleFreeSGD", "ScheduleFreeAdamW"])
def test_schedule_free_train_eval_like_numpy(name, dtype):
    kwargs = dict(lr=0.01, warmup_steps=3, weight_decay=0.01)
    params, grads = data(dtype, 10, seed=24)
    expected, nopt = numpy_run(name, kwargs, params, grads)
    ts = tensors(params)
    opt = getattr(fo, name)(ts, **kwargs)
    opt.train()                                      # a no-op in train mode
    for g in grads:
        set_grads(ts, g)
        opt.step()
    assert bits_differ([t.detach().numpy() for t in ts], expected) == 0
    group = opt.param_groups[0]
    assert group["k"] == 10 and group["train_mode"] is True
    assert group["scheduled_lr"] == nopt.last_lr
    assert group["lr_max"] == nopt.state_dict()["groups"][0]["lr_max"]
    nopt.eval_params()
    opt.eval()
    assert not opt.train_mode and bits_differ([t.detach().numpy() for t in ts], expected) == 0
    with pytest.raises(RuntimeError, match=r"optimizer.train\(\)"):
        opt.step()
    # a checkpoint taken in eval mode resumes in eval mode
    saved = _roundtrip(opt.state_dict())
    ts2 = [t.detach().clone().requires_grad_() for t in ts]
    opt2 = getattr(fo, name)(ts2, **kwargs)
    opt2.load_state_dict(saved)
    assert not opt2.train_mode
    nopt.train_params()
    for o_, t_ in ((opt, ts), (opt2, ts2)):
        o_.train()
        assert o_.train_mode
        assert bits_differ([t.detach().numpy() for t in t_], expected) == 0


def test_schedule_free_group_without_grads_still_advances():
    a, b = torch.nn.Parameter(torch.randn(4)), torch.nn.Parameter(torch.randn(4))
    opt = fo.ScheduleFreeAdamW([{"params": [a]}, {"params": [b]}])
    for k in range(3):
        a.grad = torch.randn(4)
        b.grad = torch.randn(4) if k == 0 else None
        opt.step()
    assert [g["k"] for g in opt.param_groups] == [3, 3]    # as schedulefree


# ---- the schedulefree package itself ----------------------------------------------------------

def _schedulefree():
    try:
        import schedulefree
    except ImportError:
        pytest.skip("schedulefree is not installed (pip install schedulefree): the "
                    "comparison with it cannot run")
    return schedulefree


SF_PEERS = [  # (fastlr class, its kwargs, schedulefree class name, its kwargs)
    ("ScheduleFreeSGD", {}, "SGDScheduleFree", {}),
    ("ScheduleFreeAdamW", {}, "AdamWScheduleFree", {}),
    ("ScheduleFreeAdamW", {"formulation": "current"}, "AdamWScheduleFree", {}),
    ("ScheduleFreeAdamW", {"formulation": "paper"}, "AdamWScheduleFreePaper", {}),
]
SF_OPTS = [dict(lr=0.01), dict(lr=0.02, weight_decay=0.05, warmup_steps=7, r=0.5,
                                  weight_lr_power=1.5)]


@pytest.mark.parametrize("ours,ours_kw,peer,peer_kw", SF_PEERS,
                         ids=[f"{p}-{kw.get('formulation', 'default')}"
                              for _, kw, p, _ in SF_PEERS])
@pytest.mark.parametrize("opts", SF_OPTS, ids=["defaults", "all-options"])
def test_schedule_free_matches_the_schedulefree_package(ours, ours_kw, peer, peer_kw, opts,
                                                        dtype):
    """y during training, x after eval(), and the rate of each step, against the
    installed schedulefree (for-loop path), for the numpy classes and the torch front
    ends."""
    sf = _schedulefree()
    if ours == "ScheduleFreeSGD":
        opts = dict(opts, momentum=0.8)
    steps = 100
    params, grads = data(dtype, steps, seed=31, shapes=[(7,), (5, 3)])
    theirs_t = [torch.from_numpy(p.copy()) for p in params]
    theirs = getattr(sf, peer)(theirs_t, foreach=False, **opts, **peer_kw)
    theirs.train()
    np_params = [p.copy() for p in params]
    np_opt = getattr(fastlr, ours)(np_params, **opts, **ours_kw)
    ts = tensors(params)
    opt = getattr(fo, ours)(ts, **opts, **ours_kw)
    for g in grads:
        for t, gi in zip(theirs_t, g):
            t.grad = torch.from_numpy(gi.copy())
        theirs.step()
        np_opt.step(g)
        set_grads(ts, g)
        opt.step()
        assert np_opt.last_lr == pytest.approx(theirs.param_groups[0]["scheduled_lr"],
                                               rel=1e-15)
    rtol = RTOL[dtype] * 10       # torch fuses a few multiply-adds: float rounding
    y = [t.numpy().copy() for t in theirs_t]
    assert_close(np_params, y, rtol)
    assert bits_differ([t.detach().numpy() for t in ts], np_params) == 0
    assert opt.param_groups[0]["scheduled_lr"] == np_opt.last_lr
    assert opt.param_groups[0]["lr_max"] == pytest.approx(theirs.param_groups[0]["lr_max"],
                                                          rel=1e-15)
    theirs.eval()
    np_opt.eval_params()
    opt.eval()
    assert_close(np_params, [t.numpy() for t in theirs_t], rtol)
    assert bits_differ([t.detach().numpy() for t in ts], np_params) == 0


@pytest.mark.parametrize("form,peer", [("current", "AdamWScheduleFree"),
                                       ("paper", "AdamWScheduleFreePaper")])
def test_schedule_free_adamw_checkpoints_move_to_and_from_schedulefree(form, peer):
    sf = _schedulefree()
    params, grads = data(np.float64, 6, seed=34, shapes=[(4,), (2, 3)])
    theirs_t = [torch.from_numpy(p.copy()) for p in params]
    theirs = getattr(sf, peer)(theirs_t, lr=0.01, warmup_steps=2, foreach=False)
    theirs.train()
    for g in grads[:3]:
        for t, gi in zip(theirs_t, g):
            t.grad = torch.from_numpy(gi.copy())
        theirs.step()
    ts = [torch.nn.Parameter(t.detach().clone()) for t in theirs_t]
    opt = fo.ScheduleFreeAdamW(ts, lr=0.01, warmup_steps=2, formulation=form)
    opt.load_state_dict(copy.deepcopy(theirs.state_dict()))
    assert opt.param_groups[0]["formulation"] == form
    back_t = [t.detach().clone() for t in theirs_t]
    back = getattr(sf, peer)(back_t, lr=0.01, warmup_steps=2, foreach=False)
    for g in grads[3:]:
        for t, gi in zip(theirs_t, g):
            t.grad = torch.from_numpy(gi.copy())
        theirs.step()
        set_grads(ts, g)
        opt.step()
    assert_close([t.detach().numpy() for t in ts], [t.numpy() for t in theirs_t], 1e-12)
    back.load_state_dict(copy.deepcopy(opt.state_dict()))       # and back
    assert back.param_groups[0]["k"] == 6


def test_schedule_free_adamw_formulations_differ_as_schedulefree_says():
    """The default and the paper form really are different methods (so the test above
    can tell which one we run): after 100 steps at the defaults they are ~1e-2 apart."""
    params, grads = data(np.float64, 100, seed=32, shapes=[(50,)])
    out = {}
    for form in ("current", "paper"):
        ps, _ = numpy_run("ScheduleFreeAdamW", dict(formulation=form), params, grads)
        out[form] = ps[0]
    assert np.max(np.abs(out["current"] - out["paper"])) > 1e-3


def test_schedule_free_adamw_torch_formulation_is_checked():
    with pytest.raises(ValueError, match="formulation must be one of 'current', 'paper'"):
        fo.ScheduleFreeAdamW([torch.nn.Parameter(torch.zeros(2))], formulation="v1.2")


# ---- schedules for any float hyperparameter pass through to the numpy classes ----------------

def _wobble(base):
    return lambda t: base * (1.0 - 0.02 * (1.0 + np.sin(t)))


TORCH_SCHEDULED = [
    ("SGD", dict(lr=0.05), dict(dampening=_wobble(0.1), momentum=_wobble(0.9))),
    ("Adam", dict(lr=0.01), dict(betas=(_wobble(0.9), _wobble(0.999)), eps=_wobble(1e-3))),
    ("AdamW", dict(lr=0.01, amsgrad=True), dict(betas=(0.9, _wobble(0.999)))),
    ("RMSprop", dict(lr=0.01, centered=True),
     dict(alpha=_wobble(0.99), eps=_wobble(1e-3), momentum=_wobble(0.5))),
    ("Adagrad", dict(lr=0.1), dict(lr_decay=_wobble(0.01), eps=_wobble(1e-3))),
    ("Lion", dict(lr=1e-3), dict(betas=(0.9, _wobble(0.99)))),
    ("ScheduleFreeSGD", dict(lr=0.1), dict(r=_wobble(0.5), weight_lr_power=_wobble(2.0))),
    ("ScheduleFreeAdamW", dict(lr=0.01, formulation="paper"),
     dict(betas=(_wobble(0.9), _wobble(0.999)), eps=_wobble(1e-3), r=_wobble(0.5))),
]


@pytest.mark.parametrize("name,kwargs,scheduled", TORCH_SCHEDULED,
                         ids=[n for n, _, _ in TORCH_SCHEDULED])
def test_scheduled_hyperparameters_pass_through(name, kwargs, scheduled):
    params, grads = data(np.float64, 12, seed=33)
    expected, nopt = numpy_run(name, {**kwargs, **scheduled}, params, grads)
    plain, _ = numpy_run(name, kwargs, params, grads)
    assert bits_differ(expected, plain) > 0            # the schedules did something
    ts = tensors(params)
    opt = getattr(fo, name)(ts, **kwargs, **scheduled)
    for g in grads:
        set_grads(ts, g)
        opt.step()
    assert bits_differ([t.detach().numpy() for t in ts], expected) == 0


# ---- errors: what the C kernels cannot take -------------------------------------------------

@pytest.mark.parametrize("make,exc,match", [
    (lambda: torch.randn(3, dtype=torch.float16), TypeError, "torch.optim"),
    (lambda: torch.randn(3, dtype=torch.bfloat16), TypeError, "torch.optim"),
    (lambda: torch.randn(3, dtype=torch.complex64), TypeError, "torch.optim"),
    (lambda: torch.randn(3, device="meta"), ValueError, "CPU.*torch.optim"),
    (lambda: torch.randn(3, 3).to_sparse(), ValueError, "dense.*torch.optim"),
    (lambda: torch.randn(4, 6)[:, ::2], ValueError, "contiguous"),
], ids=["float16", "bfloat16", "complex", "device", "sparse", "strided"])
@pytest.mark.parametrize("name", NAMES)
def test_unsupported_params_raise_clearly(name, make, exc, match):
    with pytest.raises(exc, match=match):
        getattr(fo, name)([make()])


def test_unsupported_grads_raise_before_writing():
    p = torch.nn.Parameter(torch.randn(3, 3))
    before = p.detach().clone()
    opt = fo.Adam([p])
    p.grad_dtype = None                  # torch itself refuses a float64 grad otherwise
    for grad, exc, match in [(torch.randn(3, 3).to_sparse(), ValueError, "dense"),
                             (torch.randn(3, 3, dtype=torch.float64), TypeError, "dtype")]:
        p.grad = grad
        with pytest.raises(exc, match=match):
            opt.step()
    assert torch.equal(p, before) and len(opt.state) == 0


def test_differentiable_and_bad_options_raise():
    p = torch.nn.Parameter(torch.randn(3))
    with pytest.raises(ValueError, match="differentiable"):
        fo.Adam([p], differentiable=True)
    with pytest.raises(ValueError, match="betas|beta"):
        fo.AdamW([p], betas=(1.5, 0.9))
    with pytest.raises(ValueError, match="nesterov"):
        fo.SGD([p], nesterov=True)
    with pytest.raises(TypeError):                     # torch's own check of params
        fo.SGD(p)


# ---- GradScaler, torch.compile --------------------------------------------------------------

def _mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))


def test_grad_scaler_cpu_amp_loop_with_skipped_steps():
    """bf16 autocast forward, float32 params, GradScaler unscaling and skipping inf steps."""
    x, y = torch.randn(32, 6, generator=torch.Generator().manual_seed(1)), torch.randn(32, 2)
    runs = []
    for cls, extra in ((fo.AdamW, {}), (torch.optim.AdamW, dict(foreach=False))):
        model = _mlp()
        opt = cls(model.parameters(), lr=1e-2, **extra)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
        scales = []
        for k in range(12):
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = torch.nn.functional.mse_loss(model(x), y)
            scaler.scale(loss).backward()
            if k in (3, 7):
                next(model.parameters()).grad[0, 0] = float("inf")
            scaler.step(opt)
            scaler.update()
            scales.append(scaler.get_scale())
        runs.append(([p.detach().clone() for p in model.parameters()], scales,
                     opt.state[next(model.parameters())]["step"].item()))
    (ours, s1, n1), (theirs, s2, n2) = runs
    assert s1 == s2 and s1[3] == s1[2] / 2 and n1 == n2 == 10     # two steps skipped
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_compiled_training_step_does_not_recompile():
    import torch._dynamo as dynamo
    from torch._dynamo.utils import counters
    model = _mlp()
    opt = fo.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 / (1 + t))
    x, y = torch.randn(16, 6), torch.randn(16, 2)

    def train_step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    # the "eager" backend: dynamo's tracing and guards (what recompiles) without the time
    # inductor takes to generate code on a shared CPU
    compiled = torch.compile(train_step, backend="eager")
    reference = _mlp()
    ref_opt = fo.AdamW(reference.parameters(), lr=1e-2)
    ref_sched = torch.optim.lr_scheduler.LambdaLR(ref_opt, lambda t: 1.0 / (1 + t))
    dynamo.reset()
    counters.clear()
    losses = []
    with dynamo.config.patch(error_on_recompile=True):
        for _ in range(6):
            losses.append(compiled().item())
            sched.step()                           # a new lr at every step
    for _ in range(6):
        ref_opt.zero_grad()
        torch.nn.functional.mse_loss(reference(x), y).backward()
        ref_opt.step()
        ref_sched.step()
    assert losses[-1] < losses[0]
    assert counters["stats"]["unique_graphs"] >= 1
    for a, b in zip(model.parameters(), reference.parameters()):
        assert torch.equal(a, b)


# ---- a fresh interpreter; DDP and FSDP2 in two processes ------------------------------------

def _run(code, timeout):
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_imports_on_its_own():
    out = _run("""
        import sys, fastlr.torch.optim as fo
        assert "torch" in sys.modules and issubclass(fo.AdamW, __import__("torch").optim.Optimizer)
        print("ok")
    """, 120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


DISTRIBUTED = """
    import os, sys, socket
    import torch, torch.distributed as dist, torch.multiprocessing as mp

    def worker(rank, world, port):
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world)
        torch.set_num_threads(1)
        import fastlr.torch.optim as fo
        from torch.nn.parallel import DistributedDataParallel as DDP
        from torch.distributed.fsdp import fully_shard

        def mlp():
            torch.manual_seed(0)
            return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(),
                                       torch.nn.Linear(7, 3))

        def batch(k):
            g = torch.Generator().manual_seed(100 * k + rank)   # each rank its own data
            return torch.randn(4, 5, generator=g)

        # DDP (also with gradient_as_bucket_view: grads are views into the buckets)
        for bucket_view in (False, True):
            ours = DDP(mlp(), gradient_as_bucket_view=bucket_view)
            theirs = DDP(mlp(), gradient_as_bucket_view=bucket_view)
            o = fo.AdamW(ours.parameters(), lr=1e-2)
            t = torch.optim.AdamW(theirs.parameters(), lr=1e-2, foreach=False)
            for k in range(4):
                for m, opt in ((ours, o), (theirs, t)):
                    opt.zero_grad()
                    m(batch(k)).square().mean().backward()
                    opt.step()
            for a, b in zip(ours.parameters(), theirs.parameters()):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
            flat = torch.cat([p.detach().flatten() for p in ours.parameters()])
            gathered = [torch.empty_like(flat) for _ in range(world)]
            dist.all_gather(gathered, flat)
            assert torch.equal(gathered[0], gathered[1]), "DDP ranks diverged"

        # FSDP2: params are DTensors whose local shards the kernels update in place
        ours, theirs = mlp(), mlp()
        for m in (ours, theirs):
            fully_shard(m[0])
            fully_shard(m[2])
            fully_shard(m)
        o = fo.AdamW(ours.parameters(), lr=1e-2)
        t = torch.optim.AdamW(theirs.parameters(), lr=1e-2, foreach=False)
        for k in range(4):
            for m, opt in ((ours, o), (theirs, t)):
                m(batch(k)).square().mean().backward()
                opt.step()
                opt.zero_grad()
        for a, b in zip(ours.parameters(), theirs.parameters()):
            torch.testing.assert_close(a.to_local(), b.to_local(), rtol=1e-5, atol=1e-6)
        from torch.distributed.tensor import DTensor
        sd = o.state_dict()
        assert isinstance(sd["state"][0]["exp_avg"], DTensor)   # as torch's zeros_like(p)
        ref = t.state_dict()
        for k in ref["state"]:
            torch.testing.assert_close(sd["state"][k]["exp_avg"].to_local(),
                                       ref["state"][k]["exp_avg"].to_local())
        dist.barrier()
        dist.destroy_process_group()
        if rank == 0:
            print("ok")

    if __name__ == "__main__":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        import fastlr.torch.optim  # noqa: F401  (imported once; the workers fork from here)
        # fork, not spawn: the workers start without importing torch again (seconds each
        # on a busy machine); the parent has run no torch op, so no thread pool is forked
        mp.start_processes(worker, args=(2, port), nprocs=2, start_method="fork")
"""


def test_ddp_and_fsdp2_on_cpu_gloo(tmp_path):
    import torch.distributed as dist
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available in this torch build")
    script = tmp_path / "dist_check.py"
    script.write_text(textwrap.dedent(DISTRIBUTED))
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                         text=True, timeout=90)
    assert out.returncode == 0 and "ok" in out.stdout, out.stdout + out.stderr[-3000:]
