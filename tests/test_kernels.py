"""The single-array kernels (fastlr.kernels and fastlr.reference.kernels), SIMD levels and
thread counts. Expected values are derived by hand from the update formulas."""
import inspect

import numpy as np
import pytest

import fastlr
import fastlr.reference as ref
from fastlr import _optim
from test_optim_cases import CONFIGS, bits_differ, data, run

KERNELS = ref.kernels.__all__


@pytest.mark.parametrize("name", KERNELS)
def test_same_signatures_and_docs(name):
    a, b = getattr(fastlr.kernels, name), getattr(ref.kernels, name)
    assert a is not b
    assert inspect.signature(a) == inspect.signature(b)
    assert a.__doc__ == b.__doc__ and a.__doc__


def test_optimizers_exported_on_both_backends():
    for name in ref.optim.OPTIMIZERS + ("set_num_threads", "get_num_threads", "kernels"):
        assert name in fastlr.__all__ and name in ref.__all__
    assert fastlr.kernels.__name__ == "fastlr.kernels"
    assert ref.kernels.__name__ == "fastlr.reference.kernels"


def test_sgd_by_hand(fl, dtype):
    p = np.array([1.0, -2.0, 0.5], dtype)
    g = np.array([0.5, 1.0, -4.0], dtype)
    buf = np.zeros(3, dtype)
    fl.kernels.sgd(p, g, buf, lr=0.1, momentum=0.9, weight_decay=0.5, first_step=True)
    # g' = g + 0.5 p = [1, 0, -3.75]; buf = g'; p = p - 0.1 g'
    np.testing.assert_allclose(buf, [1.0, 0.0, -3.75], rtol=1e-7)
    np.testing.assert_allclose(p, [0.9, -2.0, 0.875], rtol=1e-7)
    fl.kernels.sgd(p, g, buf, lr=0.1, momentum=0.9, dampening=0.5, maximize=True)
    # g' = -g = [-0.5, -1, 4]; buf = 0.9 buf + 0.5 g' = [0.65, -0.5, -1.375]
    np.testing.assert_allclose(buf, [0.65, -0.5, -1.375], rtol=1e-6)
    np.testing.assert_allclose(p, [0.835, -1.95, 1.0125], rtol=1e-6)


def test_adam_first_step_is_a_sign_step(fl, dtype):
    """At step 1, m/bc1 = g and sqrt(v/bc2) = |g|: p -= lr * g / (|g| + eps)."""
    g = np.array([3.0, -0.25, 1e-3, 0.0], dtype)
    p = np.ones(4, dtype)
    m, v, vmax = (np.zeros(4, dtype) for _ in range(3))
    fl.kernels.adam(p, g, m, v, vmax, step=1, lr=0.01, eps=1e-8)
    expected = 1.0 - 0.01 * g.astype(np.float64) / (np.abs(g.astype(np.float64)) + 1e-8)
    np.testing.assert_allclose(p, expected, rtol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(vmax, v)
    p2 = np.ones(4, dtype)
    fl.kernels.adamw(p2, g, np.zeros(4, dtype), np.zeros(4, dtype), step=1, lr=0.01,
                     weight_decay=0.5)
    np.testing.assert_allclose(p2, expected - 0.005, rtol=1e-6)   # p*(1 - 0.01*0.5) first


def test_rmsprop_adagrad_by_hand(fl):
    p, g = np.ones(2), np.array([2.0, -1.0])
    sq = np.zeros(2)
    fl.kernels.rmsprop(p, g, sq, lr=0.1, alpha=0.75, eps=0.0)
    # sq = 0.25 g^2; p -= 0.1 g / (0.5 |g|) = 0.2 sign(g)
    np.testing.assert_allclose(sq, [1.0, 0.25])
    np.testing.assert_allclose(p, [0.8, 1.2])
    p, s = np.ones(2), np.full(2, 5.0)
    fl.kernels.adagrad(p, np.array([2.0, 0.0]), s, step=3, lr=0.3, lr_decay=0.5, eps=0.0)
    # clr = 0.3 / (1 + 2*0.5) = 0.15; sum = [9, 5]; p -= 0.15 * 2/3
    np.testing.assert_allclose(s, [9.0, 5.0])
    np.testing.assert_allclose(p, [0.9, 1.0])


def test_lion_by_hand(fl):
    p = np.array([1.0, 1.0, 1.0])
    m = np.array([1.0, -1.0, 0.0])
    g = np.array([-1.0, 0.5, 0.0])
    fl.kernels.lion(p, g, m, lr=0.1, beta1=0.5, beta2=0.75, weight_decay=1.0)
    # p *= 0.9; c = 0.5 m + 0.5 g = [0, -0.25, 0]; sign = [0, -1, 0]; m = 0.75 m + 0.25 g
    np.testing.assert_allclose(p, [0.9, 1.0, 0.9])
    np.testing.assert_allclose(m, [0.5, -0.625, 0.0])


def test_schedule_free_first_step_is_plain_sgd(fl):
    """c_1 = 1: y = lerp(y, z=y, 1) = y, then y - lr g; z = y - lr g."""
    y, z = np.array([1.0, 2.0]), np.zeros(2)
    fl.kernels.schedule_free_sgd(y, np.array([1.0, -1.0]), z, lr=0.5, momentum=0.9, ckp1=1.0,
                                 first_step=True)
    np.testing.assert_allclose(y, [0.5, 2.5])
    np.testing.assert_allclose(z, [0.5, 2.5])


def test_lerp_uses_torch_formula(fl):
    a, b = np.array([0.0, 1.0], np.float32), np.array([1.0, 3.0], np.float32)
    fl.kernels.lerp(a, b, weight=0.25)
    np.testing.assert_array_equal(a, [0.25, 1.5])
    fl.kernels.lerp(a, b, weight=1.0)          # the w >= 0.5 branch lands exactly on b
    np.testing.assert_array_equal(a, b)


def test_kernel_argument_errors(fl):
    p, g = np.ones(3), np.ones(3)
    with pytest.raises(ValueError, match="momentum_buffer is required"):
        fl.kernels.sgd(p, g, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="exp_avg has shape"):
        fl.kernels.adam(p, g, np.zeros(4), np.zeros(3), step=1, lr=0.1)
    with pytest.raises(ValueError, match="step must be >= 1"):
        fl.kernels.adam(p, g, np.zeros(3), np.zeros(3), step=0, lr=0.1)
    with pytest.raises(ValueError, match="grad overlaps the memory of param"):
        fl.kernels.sgd(p, p, lr=0.1)
    with pytest.raises(ValueError, match="exp_avg overlaps the memory of grad"):
        fl.kernels.lion(p, g, g, lr=0.1)
    ro = np.ones(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="param is read-only"):
        fl.kernels.sgd(ro, g, lr=0.1)
    with pytest.raises(TypeError, match="grad has dtype float32 but param has dtype float64"):
        fl.kernels.sgd(p, g.astype(np.float32), lr=0.1)
    with pytest.raises(ValueError, match="lr must be finite"):
        fl.kernels.sgd(p, g, lr=float("inf"))
    np.testing.assert_array_equal(p, 1.0)      # nothing ran


@pytest.mark.parametrize("name,kwargs", [c for c in CONFIGS if c[0] in
                                         ("Adam", "RMSprop", "SGD", "ScheduleFreeAdamW")][::3])
def test_simd_levels_and_thread_counts_give_identical_bits(name, kwargs):
    params, grads = data(np.float32, 5, seed=30,
                         shapes=[((1 << 16) + 3,), ((1 << 17) + 5,), (1000,), (7,)])
    best, threads = _optim.simd_level(), fastlr.get_num_threads()
    try:
        results = []
        for level in ("baseline", "avx2", "avx512"):
            _optim.set_simd_level(level)
            for n in (1, 2, 3):
                fastlr.set_num_threads(n)
                results.append(run(fastlr, name, kwargs, params, grads)[0])
    finally:
        _optim.set_simd_level(best)
        fastlr.set_num_threads(threads)
    assert all(bits_differ(r, results[0]) == 0 for r in results[1:])


def test_num_threads_api(fl):
    before = fl.get_num_threads()
    try:
        fl.set_num_threads(1)
        assert fl.get_num_threads() == 1
        with pytest.raises(ValueError, match=r"n must be in \[1, 1024\], got 0"):
            fl.set_num_threads(0)
        with pytest.raises(TypeError, match="n must be an int"):
            fl.set_num_threads(2.0)
    finally:
        fl.set_num_threads(before)
    assert before >= 1


def test_simd_level_names():
    assert _optim.simd_supported() in _optim.SIMD_LEVELS
    with pytest.raises(ValueError, match="name must be one of"):
        _optim.set_simd_level("sse9")
