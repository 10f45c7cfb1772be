"""fastlr: learning-rate schedules, optimizers and tools with a compiled core.

``import fastlr`` gives the compiled backend; :mod:`fastlr.reference` is the
pure-Python backend with the same API, the executable specification.
"""
from ._version import __version__

try:
    from . import _schedule
except ImportError as exc:  # pragma: no cover - exercised by hand on broken installs
    raise ImportError(
        "fastlr's compiled modules are missing or broken "
        f"({exc}). Build them with `pip install -e .` from a source checkout "
        "(needs a C compiler), or install a wheel.") from exc

from .reference import ReduceOnPlateau, Schedule
from .schedules import (Constant, Cosine, CosineRestarts, Cyclic, Exponential, InverseSqrt,
                        InverseTime, Lambda, Linear, MultiStep, OneCycle, OneCycleMomentum,
                        PiecewiseConstant, PiecewiseLinear, Polynomial, Scaled, Sequence, Step,
                        Warmup, WarmupStableDecay, from_config, warmup_cosine, warmup_linear)
from .schedules import SWA, Noise, Product, Tanh

from . import optim as _optim_api  # not "_optim": that is the compiled module
from . import tools as _tools_api
from .optim import *  # noqa: E402,F401,F403  (optimizers over the compiled kernels)
from .tools import *  # noqa: E402,F401,F403  (backend-agnostic tools)

BACKEND = "compiled"

__all__ = [
    "__version__", "BACKEND", "Schedule", "ReduceOnPlateau", "from_config",
    "warmup_cosine", "warmup_linear",
    "Constant", "Linear", "Step", "MultiStep", "Exponential", "Polynomial", "Cosine",
    "CosineRestarts", "InverseSqrt", "InverseTime", "Cyclic", "OneCycle", "OneCycleMomentum",
    "WarmupStableDecay", "PiecewiseConstant", "PiecewiseLinear", "Warmup", "Sequence",
    "Scaled", "Lambda", "Product", "SWA", "Noise", "Tanh",
]
# written as += of the subpackages' __all__, a form type checkers read as re-exports
__all__ += _optim_api.__all__
__all__ += _tools_api.__all__
