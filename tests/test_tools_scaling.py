"""scale_lr and adam_warmup_steps against the published rules."""
import math

import pytest


def test_linear_rule_goyal(fl):
    # Goyal et al.: 0.1 at batch 256 -> 0.1 * 8192/256 = 3.2 at 8k
    assert fl.scale_lr(0.1, 8192) == pytest.approx(3.2, rel=1e-15)
    assert fl.scale_lr(0.1, 8192, rule="linear") == pytest.approx(3.2, rel=1e-15)
    assert fl.scale_lr(3e-4, 32, base_batch_size=128) == pytest.approx(7.5e-5, rel=1e-15)


def test_sqrt_rule(fl):
    # k = 1024/256 = 4 -> sqrt 2
    assert fl.scale_lr(1e-3, 1024, rule="sqrt") == pytest.approx(2e-3, rel=1e-15)
    # k = 64/256 = 1/4 -> factor 1/2
    assert fl.scale_lr(1e-3, 64, rule="sqrt") == pytest.approx(5e-4, rel=1e-15)


def test_same_batch_keeps_the_lr(fl):
    assert fl.scale_lr(0.25, 256) == 0.25
    assert fl.scale_lr(0.25, 100, base_batch_size=100, rule="sqrt") == 0.25
    assert isinstance(fl.scale_lr(1, 512), float)


def test_zero_lr_allowed(fl):
    assert fl.scale_lr(0.0, 512) == 0.0


@pytest.mark.parametrize("kwargs, exc, name", [
    ({"base_lr": -0.1, "batch_size": 256}, ValueError, "base_lr"),
    ({"base_lr": math.nan, "batch_size": 256}, ValueError, "base_lr"),
    ({"base_lr": "0.1", "batch_size": 256}, TypeError, "base_lr"),
    ({"base_lr": 0.1, "batch_size": 0}, ValueError, "batch_size"),
    ({"base_lr": 0.1, "batch_size": None}, TypeError, "batch_size"),
    ({"base_lr": 0.1, "batch_size": 64, "base_batch_size": -1}, ValueError, "base_batch_size"),
    ({"base_lr": 0.1, "batch_size": 64, "rule": "log"}, ValueError, "rule"),
    ({"base_lr": 0.1, "batch_size": 64, "rule": None}, TypeError, "rule"),
])
def test_scale_lr_validation(fl, kwargs, exc, name):
    with pytest.raises(exc, match=name):
        fl.scale_lr(**kwargs)


def test_adam_warmup_ma_yarats(fl):
    # 2 / (1 - beta2)
    assert fl.adam_warmup_steps(0.999) == 2000
    assert fl.adam_warmup_steps(0.99) == 200
    assert fl.adam_warmup_steps(0.98) == 100
    assert fl.adam_warmup_steps(0.0) == 2
    assert fl.adam_warmup_steps() == 2000
    assert isinstance(fl.adam_warmup_steps(0.999), int)


@pytest.mark.parametrize("beta2, exc", [(1.0, ValueError), (-0.1, ValueError),
                                        (1.5, ValueError), ("0.9", TypeError)])
def test_adam_warmup_validation(fl, beta2, exc):
    with pytest.raises(exc, match="beta2"):
        fl.adam_warmup_steps(beta2)


def test_docstrings_cite_the_papers(fl):
    doc = fl.scale_lr.__doc__
    for cite in ("Goyal", "1706.02677", "Krizhevsky", "Hoffer", "Malladi", "warmup"):
        assert cite in doc
    assert "Ma & Yarats" in fl.adam_warmup_steps.__doc__


def test_huge_arguments_are_named(fl):
    # an int of over 4300 digits cannot be repr'd: shown by its digit count
    with pytest.raises(ValueError, match=r"batch_size must be finite, got <an int with 5001 "
                                         r"digits> \(int\)"):
        fl.scale_lr(0.1, 10**5000)
    with pytest.raises(ValueError, match="beta2 must be finite"):
        fl.adam_warmup_steps(10**5000)
    with pytest.raises(TypeError, match=r"rule must be a str, one of .*, got <an int with"):
        fl.scale_lr(0.1, 512, rule=10**5000)
