"""``fastlr.torch.LRScheduler.step()`` vs torch's own schedulers' ``step()``.

One group per workload; the contender (``compiled``: fastlr, ``reference``: fastlr's
pure-Python schedules behind the same scheduler, ``torch``: the equivalent torch
scheduler) is a parameter, so the table prints each one's time relative to the fastest.

    python -m pytest benchmarks/test_bench_torch_scheduler.py --benchmark-only \
        --benchmark-columns=min,median,rounds --benchmark-json=bench_torch.json
    python benchmarks/ratios.py bench_torch.json

Under ``--benchmark-disable`` (the CI smoke run) each contender steps once and the lr it
wrote is checked.
"""
import math

import pytest

pytest.importorskip("pytest_benchmark")
torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch)")

import fastlr  # noqa: E402
import fastlr.reference as ref  # noqa: E402
import fastlr.torch as ft  # noqa: E402
from torch.optim import lr_scheduler as L  # noqa: E402

LR, WARMUP, TOTAL = 0.1, 1_000, 10**9  # a long horizon: benchmarks step millions of times
CONTENDERS = ["compiled", "reference", "torch"]


def make_opt(kind="sgd", groups=1):
    params = [{"params": [torch.nn.Parameter(torch.zeros(4))], "lr": LR * 0.5**i}
              for i in range(groups)]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=LR, momentum=0.9)
    return torch.optim.AdamW(params, lr=LR)


def _scaled(opt):
    for group in opt.param_groups:  # fastlr's per-group scale = torch's per-group base lr
        group["lr_scale"] = group["lr"] / LR
    return opt


WORKLOADS = {
    # group: (optimizer kind, groups, fastlr factory (mod -> (lr, momentum)), torch factory)
    "cosine": ("sgd", 1, lambda mod: (mod.Cosine(LR, TOTAL), None),
               lambda o: L.CosineAnnealingLR(o, T_max=TOTAL)),
    "cosine_8_groups": ("sgd", 8, lambda mod: (mod.Cosine(LR, TOTAL), None),
                        lambda o: L.CosineAnnealingLR(o, T_max=TOTAL)),
    "onecycle_momentum": ("sgd", 1, lambda mod: (mod.OneCycle(LR, TOTAL),
                                                 mod.OneCycle(LR, TOTAL).momentum()),
                          lambda o: L.OneCycleLR(o, max_lr=LR, total_steps=TOTAL)),
    "onecycle_adamw_beta1": ("adamw", 1, lambda mod: (mod.OneCycle(LR, TOTAL),
                                                      mod.OneCycle(LR, TOTAL).momentum()),
                             lambda o: L.OneCycleLR(o, max_lr=LR, total_steps=TOTAL)),
    # one schedule per group: the general (checked, then written) path of step()
    "cosine_4_schedules": ("sgd", 4, lambda mod: ([mod.Cosine(LR, TOTAL)] * 4, None),
                           lambda o: L.CosineAnnealingLR(o, T_max=TOTAL)),
    # step() of ReduceOnPlateau(warmup + cosine) between metrics; torch cannot put a
    # warmup under its plateau, so its nearest per-update cost is the SequentialLR below
    "plateau_warmup_cosine": (
        "sgd", 1,
        lambda mod: (mod.ReduceOnPlateau(mod.warmup_cosine(LR, WARMUP, TOTAL)), None),
        lambda o: L.SequentialLR(o, [L.LinearLR(o, 1e-3, 1.0, total_iters=WARMUP),
                                     L.CosineAnnealingLR(o, T_max=TOTAL - WARMUP)],
                                 milestones=[WARMUP])),
    "warmup_cosine_sequential": (
        "sgd", 1,
        lambda mod: (mod.Sequence([mod.Linear(LR * 1e-3, LR, WARMUP),
                                   mod.Cosine(LR, TOTAL - WARMUP)], [WARMUP]), None),
        lambda o: L.SequentialLR(o, [L.LinearLR(o, 1e-3, 1.0, total_iters=WARMUP),
                                     L.CosineAnnealingLR(o, T_max=TOTAL - WARMUP)],
                                 milestones=[WARMUP])),
}


@pytest.mark.parametrize("contender", CONTENDERS)
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_scheduler_step(benchmark, workload, contender):
    kind, groups, make_fl, make_torch = WORKLOADS[workload]
    benchmark.group = f"torch_scheduler_step[{workload}]"
    benchmark.extra_info.update(contender=contender, groups=groups, torch=torch.__version__)
    opt = make_opt(kind, groups)
    if contender == "torch":
        sched = make_torch(opt)
    else:
        lr, momentum = make_fl(fastlr if contender == "compiled" else ref)
        sched = ft.LRScheduler(_scaled(opt), lr, momentum=momentum)
    opt.step()  # the canonical order (torch warns on a scheduler step before any update)
    benchmark(sched.step)
    t = sched.last_epoch
    assert t >= 1
    got = opt.param_groups[-1]["lr"]
    assert math.isfinite(got) and got > 0
    if contender != "torch":
        assert got == sched.schedules[-1](t) * opt.param_groups[-1]["lr_scale"]
