"""fastlr's pure-Python backend: the executable specification.

Same public names, signatures, methods and errors as :mod:`fastlr`; every value is
computed step by step in plain Python (numpy for the optimizer kernels). The compiled
backend is tested against it.
"""
from __future__ import annotations

import sys as _sys

from .. import _config
from ._base import Schedule
from .algebra import SWA, Noise, Product
from .compose import Lambda, Scaled, Sequence, Warmup
from .compose import warmup_cosine as _warmup_cosine
from .compose import warmup_linear as _warmup_linear
from .plateau import ReduceOnPlateau
from .schedules import (Constant, Cosine, CosineRestarts, Cyclic, Exponential, InverseSqrt,
                        InverseTime, Linear, MultiStep, OneCycle, OneCycleMomentum,
                        PiecewiseConstant, PiecewiseLinear, Polynomial, Step, Tanh,
                        WarmupStableDecay)

from .. import tools as _tools_api
from . import optim as _optim_api
from ..tools import *  # noqa: E402,F401,F403  (the same tools on both backends)
from .optim import *  # noqa: E402,F401,F403  (optimizers over the numpy kernels)

BACKEND = "reference"

SCHEDULES = (
    "Constant", "Linear", "Step", "MultiStep", "Exponential", "Polynomial", "Cosine",
    "CosineRestarts", "InverseSqrt", "InverseTime", "Cyclic", "OneCycle", "OneCycleMomentum",
    "WarmupStableDecay", "PiecewiseConstant", "PiecewiseLinear", "Warmup", "Sequence",
    "Scaled", "Lambda", "Product", "SWA", "Noise", "Tanh",
)

_self = _sys.modules[__name__]
Schedule._backend = _self
warmup_cosine = _config.bind_helper(_warmup_cosine, _self)
warmup_linear = _config.bind_helper(_warmup_linear, _self)


def from_config(config):
    """Rebuild a schedule from :meth:`Schedule.to_config` output."""
    return _config.from_config(config, _self, SCHEDULES)


__all__ = list(SCHEDULES) + ["Schedule", "ReduceOnPlateau", "warmup_cosine", "warmup_linear",
                             "from_config", "BACKEND"]
__all__ += _optim_api.__all__
__all__ += _tools_api.__all__
