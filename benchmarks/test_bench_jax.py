"""fastlr.jax.schedule (closed form) vs a table of values (fastlr 0.1's approach) vs optax.

Two workloads, warmup + cosine to 10**6 steps (10**3 under --benchmark-disable):

- ``jax lr sum``: a jitted ``fori_loop`` that adds the lr of 10**5 counts: the cost of
  evaluating the schedule inside compiled code (what an optax update pays per step).
- ``jax build + first call``: from the fastlr schedule to the first value out of a
  jitted function: the closed form traces a few operations, the table first computes
  ``s.values(total)`` and embeds it (4 bytes per step) in the compiled program.

    python -m pytest benchmarks/test_bench_jax.py --benchmark-only \
        --benchmark-columns=min,median,rounds --benchmark-json=bench-jax.json
    python benchmarks/ratios.py bench-jax.json --baseline closed-form

Skipped without jax; the optax contender is skipped without optax.
"""
import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")
jax = pytest.importorskip("jax", reason="jax is not installed (pip install jax)")

import jax.numpy as jnp  # noqa: E402

import fastlr  # noqa: E402
import fastlr.jax  # noqa: E402

PEAK, WARMUP, FINAL = 3e-4, 10_000, 0.0


@pytest.fixture
def total(request):
    return 1_000 if request.config.getoption("benchmark_disable") else 1_000_000


def table_schedule(s, total):
    """fastlr 0.1's fastlr.jax.schedule: a float32 table, clipped index (held after)."""
    table = jnp.asarray(s.values(total), dtype=jnp.float32)

    def f(count):
        return table[jnp.clip(jnp.asarray(count), 0, total - 1).astype(jnp.int32)]
    return f


def contender_fn(contender, total):
    s = fastlr.warmup_cosine(PEAK, WARMUP if total > WARMUP else total // 10, total, FINAL)
    if contender == "closed-form":
        return fastlr.jax.schedule(s), s
    if contender == "table":
        return table_schedule(s, total), s
    optax = pytest.importorskip("optax", reason="optax is not installed (pip install optax)")
    w = WARMUP if total > WARMUP else total // 10
    return optax.warmup_cosine_decay_schedule(0.0, PEAK, w, total, end_value=FINAL), s


CONTENDERS = ["closed-form", "table", "optax"]


@pytest.mark.parametrize("contender", CONTENDERS)
def test_lr_sum_in_a_jitted_loop(benchmark, contender, total):
    f, s = contender_fn(contender, total)
    n = min(total, 100_000)
    benchmark.group = "jax lr sum: fori_loop over 1e5 counts, warmup+cosine"
    benchmark.extra_info.update(contender=contender)

    @jax.jit
    def lr_sum(n):
        return jax.lax.fori_loop(0, n, lambda i, acc: acc + f(i), jnp.float32(0.0))

    lr_sum(n).block_until_ready()            # compile outside the timing
    out = benchmark(lambda: lr_sum(n).block_until_ready())
    assert float(out) == pytest.approx(float(s.values(n).sum()), rel=1e-4)


@pytest.mark.parametrize("contender", ["closed-form", "table"])
def test_build_and_first_call(benchmark, contender, total):
    benchmark.group = "jax build + first call: warmup+cosine over 1e6 steps"
    benchmark.extra_info.update(contender=contender)

    def build_and_call():
        f, _ = contender_fn(contender, total)
        return jax.jit(f)(jnp.int32(total // 2)).block_until_ready()

    out = benchmark.pedantic(build_and_call, rounds=3, iterations=1, warmup_rounds=0)
    s = contender_fn("closed-form", total)[1]
    assert float(out) == pytest.approx(s(total // 2), rel=1e-5)
    assert np.isfinite(float(out))
