"""Type stub for the compiled optimizers (made by a loop at run time in __init__.py)."""
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, SupportsFloat

import numpy as np
import numpy.typing as npt

from .. import kernels as kernels

_Array = npt.NDArray[np.floating[Any]]
# a float, or a schedule: any callable of the step (fastlr schedules, ReduceOnPlateau)
_Value = float | Callable[[int], SupportsFloat]
_Params = _Array | Sequence[_Array] | Sequence[Mapping[str, Any]]
_Grads = _Array | Sequence[_Array]

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Lion", "ScheduleFreeSGD",
           "ScheduleFreeAdamW", "set_num_threads", "get_num_threads", "kernels",
           "NAdam", "RAdam", "Adamax", "Adadelta", "ASGD", "Rprop"]

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...

class Optimizer:
    defaults: dict[str, Any]
    param_groups: list[dict[str, Any]]
    step_count: int
    skipped_steps: int
    def __init__(self, params: _Params, defaults: dict[str, Any]) -> None: ...
    def step(self, grads: _Grads, skip_nonfinite: bool = False) -> bool: ...
    def add_param_group(self, param_group: Mapping[str, Any]) -> None: ...
    @property
    def last_lr(self) -> float | None: ...
    @property
    def last_lrs(self) -> list[float] | None: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...

class SGD(Optimizer):
    def __init__(self, params: _Params, lr: _Value = 1e-3, momentum: _Value = 0.0,
                 dampening: _Value = 0.0, weight_decay: _Value = 0.0, nesterov: bool = False,
                 *, maximize: bool = False) -> None: ...

class Adam(Optimizer):
    def __init__(self, params: _Params, lr: _Value = 1e-3,
                 betas: tuple[_Value, _Value] = (0.9, 0.999), eps: _Value = 1e-8,
                 weight_decay: _Value = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False) -> None: ...

class AdamW(Adam):
    def __init__(self, params: _Params, lr: _Value = 1e-3,
                 betas: tuple[_Value, _Value] = (0.9, 0.999), eps: _Value = 1e-8,
                 weight_decay: _Value = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None: ...

class RMSprop(Optimizer):
    def __init__(self, params: _Params, lr: _Value = 1e-2, alpha: _Value = 0.99,
                 eps: _Value = 1e-8, weight_decay: _Value = 0.0, momentum: _Value = 0.0,
                 centered: bool = False, *, maximize: bool = False) -> None: ...

class Adagrad(Optimizer):
    def __init__(self, params: _Params, lr: _Value = 1e-2, lr_decay: _Value = 0.0,
                 weight_decay: _Value = 0.0, initial_accumulator_value: float = 0.0,
                 eps: _Value = 1e-10, *, maximize: bool = False) -> None: ...

class Lion(Optimizer):
    def __init__(self, params: _Params, lr: _Value = 1e-4,
                 betas: tuple[_Value, _Value] = (0.9, 0.99),
                 weight_decay: _Value = 0.0) -> None: ...

class _ScheduleFree(Optimizer):
    @property
    def train_mode(self) -> bool: ...
    def eval_params(self) -> None: ...
    def train_params(self) -> None: ...

class ScheduleFreeSGD(_ScheduleFree):
    def __init__(self, params: _Params, lr: _Value = 1.0, momentum: _Value = 0.9,
                 weight_decay: _Value = 0.0, warmup_steps: int = 0, r: _Value = 0.0,
                 weight_lr_power: _Value = 2.0) -> None: ...

class ScheduleFreeAdamW(_ScheduleFree):
    def __init__(self, params: _Params, lr: _Value = 0.0025,
                 betas: tuple[_Value, _Value] = (0.9, 0.999), eps: _Value = 1e-8,
                 weight_decay: _Value = 0.0, warmup_steps: int = 0, r: _Value = 0.0,
                 weight_lr_power: _Value = 2.0, *,
                 formulation: Literal["current", "paper"] = "current") -> None: ...

class NAdam(Optimizer):
    def __init__(self, params: _Params, lr: _Value = 2e-3,
                 betas: tuple[_Value, _Value] = (0.9, 0.999), eps: _Value = 1e-8,
                 weight_decay: _Value = 0.0, momentum_decay: _Value = 4e-3,
                 decoupled_weight_decay: bool = False, *,
                 maximize: bool = False) -> None: ...

class RAdam(Optimizer):
    def __init__(self, params: _Params, lr: _Value = 1e-3,
                 betas: tuple[_Value, _Value] = (0.9, 0.999), eps: _Value = 1e-8,
                 weight_decay: _Value = 0.0, decoupled_weight_decay: bool = False, *,
                 maximize: bool = False) -> None: ...

class Adamax(Optimizer):
    def __init__(self, params: _Params, lr: _Value = 2e-3,
                 betas: tuple[_Value, _Value] = (0.9, 0.999), eps: _Value = 1e-8,
                 weight_decay: _Value = 0.0, *, maximize: bool = False) -> None: ...

class Adadelta(Optimizer):
    def __init__(self, params: _Params, lr: _Value = 1.0, rho: _Value = 0.9,
                 eps: _Value = 1e-6, weight_decay: _Value = 0.0, *,
                 maximize: bool = False) -> None: ...

class ASGD(Optimizer):
    def __init__(self, params: _Params, lr: _Value = 1e-2, lambd: _Value = 1e-4,
                 alpha: _Value = 0.75, t0: float = 1e6, weight_decay: _Value = 0.0, *,
                 maximize: bool = False) -> None: ...

class Rprop(Optimizer):
    def __init__(self, params: _Params, lr: float = 1e-2,
                 etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50.0), *,
                 maximize: bool = False) -> None: ...
