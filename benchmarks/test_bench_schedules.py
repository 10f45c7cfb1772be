"""Schedule evaluation: compiled vs the reference vs numpy vs plain Python.

Groups are workloads; the contender is a parameter, so pytest-benchmark's table prints
each contender's time relative to the fastest in the group. ``benchmarks/ratios.py``
turns a ``--benchmark-json`` file into the compiled-vs-others ratios of the README.

    python -m pytest benchmarks/test_bench_schedules.py --benchmark-only \
        --benchmark-columns=min,median,rounds --benchmark-json=bench.json
    python benchmarks/ratios.py bench.json

Under ``--benchmark-disable`` (the CI smoke run) every contender runs once on a small
size and the numpy and plain-Python twins are checked against fastlr.
"""
import math

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")

import fastlr
import fastlr.reference as ref
from fastlr import _schedule

PEAK, WARMUP, TOTAL, FINAL = 3e-4, 10_000, 1_000_000, 3e-6


def warmup_cosine(mod):
    return mod.warmup_cosine(PEAK, WARMUP, TOTAL, FINAL)


def np_warmup_cosine(n):
    t = np.arange(n, dtype=np.float64)
    x = np.minimum(np.maximum(t - WARMUP, 0.0), TOTAL - WARMUP) / (TOTAL - WARMUP)
    decay = FINAL + (PEAK - FINAL) * (0.5 * (1.0 + np.cos(np.pi * x)))
    return np.where(t < WARMUP, PEAK * (t / WARMUP), decay)


def three_stage(mod):
    # linear warmup, a flat stretch, cosine decay: a Sequence of three schedules
    return mod.Sequence([mod.Linear(0.0, PEAK, WARMUP), mod.Constant(PEAK),
                         mod.Cosine(PEAK, 600_000, FINAL)], [WARMUP, 400_000])


def np_three_stage(n):
    t = np.arange(n, dtype=np.float64)
    warm = PEAK * (t / WARMUP)
    x = np.minimum(np.maximum(t - 400_000, 0.0), 600_000) / 600_000
    decay = FINAL + (PEAK - FINAL) * (0.5 * (1.0 + np.cos(np.pi * x)))
    return np.where(t < WARMUP, warm, np.where(t < 400_000, PEAK, decay))


@pytest.fixture
def n(request):
    return 2_000 if request.config.getoption("benchmark_disable") else 1_000_000


def run(benchmark, contender, fn, arg, *, slow=False):
    benchmark.extra_info.update(contender=contender, simd=_schedule.simd_level(),
                                openmp=_schedule.OPENMP)
    if slow:  # the pure-Python reference: seconds per call, a few rounds suffice
        return benchmark.pedantic(fn, args=(arg,), rounds=3, iterations=1, warmup_rounds=0)
    return benchmark(fn, arg)


# workload -> (the schedule, built from a backend module; its numpy twin)
WORKLOADS = {
    "warmup_cosine": (warmup_cosine, np_warmup_cosine),
    "3-stage Sequence": (three_stage, np_three_stage),
}


@pytest.mark.parametrize("workload", list(WORKLOADS))
@pytest.mark.parametrize("contender", ["compiled", "numpy", "reference"])
def test_values(benchmark, workload, contender, n):
    build, numpy_twin = WORKLOADS[workload]
    benchmark.group = f"values: {workload}, 1e6 steps"
    if contender == "compiled":
        out = run(benchmark, contender, build(fastlr).values, n)
    elif contender == "numpy":
        out = run(benchmark, contender, numpy_twin, n)
    else:
        out = run(benchmark, contender, build(ref).values, n, slow=True)
    np.testing.assert_allclose(out, build(fastlr).values(n), rtol=0, atol=1e-12 * PEAK)


def plain_cosine(t, lr=PEAK, T=TOTAL, final=FINAL):
    """The formula a user would write by hand: the scalar-call baseline."""
    return final + (lr - final) * (1 + math.cos(math.pi * min(t, T) / T)) / 2


STEPS = list(range(0, TOTAL, TOTAL // 1000))  # 1000 Python ints


def call_each(s):
    """1000 scalar calls in one round: the harness's own per-round cost, which would
    swamp a 100 ns call, is spread over them, and both contenders share the loop."""
    for t in STEPS:
        s(t)


@pytest.mark.benchmark(group="scalar call s(t), 1000 calls")
@pytest.mark.parametrize("contender", ["compiled", "plain-python", "reference"])
def test_scalar_call(benchmark, contender):
    s = {"compiled": fastlr.Cosine(PEAK, TOTAL, FINAL), "reference": ref.Cosine(PEAK, TOTAL, FINAL),
         "plain-python": plain_cosine}[contender]
    benchmark.extra_info.update(contender=contender)
    benchmark(call_each, s)
    assert s(123_456) == pytest.approx(plain_cosine(123_456), rel=1e-12)


# -- the algebra of issue 11: a product and a global-clock warmup vs the plain warmup-cosine
# (the target: each within 2x of warmup_cosine's time, read from this group's table)

def product(mod):
    # warmup-cosine times a linear factor: what the Product node itself costs (a factor
    # built on pow, Step or Exponential, costs its own pow per step on top)
    return warmup_cosine(mod) * mod.Linear(1.0, 0.1, TOTAL)


def np_product(n):
    return np_warmup_cosine(n) * (1.0 - 0.9 * (np.arange(n, dtype=np.float64) / TOTAL))


def global_warmup(mod):
    # timm's warmup_prefix=False: the cosine runs on the global clock under the warmup
    return mod.Warmup(mod.Cosine(PEAK, TOTAL, FINAL), WARMUP, clock="global")


def np_global_warmup(n):
    t = np.arange(n, dtype=np.float64)
    x = np.minimum(t, TOTAL) / TOTAL
    decay = FINAL + (PEAK - FINAL) * (0.5 * (1.0 + np.cos(np.pi * x)))
    return np.where(t < WARMUP, PEAK * (t / WARMUP), decay)


ALGEBRA = {
    "warmup_cosine": (warmup_cosine, np_warmup_cosine),
    "Product": (product, np_product),
    "global-clock Warmup": (global_warmup, np_global_warmup),
}


@pytest.mark.benchmark(group="values: algebra vs warmup_cosine, 1e6 steps, compiled")
@pytest.mark.parametrize("contender", list(ALGEBRA))
def test_values_algebra(benchmark, contender, n):
    build, numpy_twin = ALGEBRA[contender]
    s = build(fastlr)
    out = run(benchmark, contender, s.values, n)
    np.testing.assert_allclose(out, numpy_twin(n), rtol=0, atol=1e-12 * PEAK)
