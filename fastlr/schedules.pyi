"""Stub for :mod:`fastlr.schedules`: the compiled schedule classes.

At run time the classes are made by a loop (one per name in ``SCHEDULES``), which type
checkers cannot see; this complete stub spells them out with typed constructors. Each
is ``CompiledSchedule`` in front of the same-named reference class, as at run time.
Kept in step with the runtime by ``python -m mypy.stubtest`` (tests/test_typing.py).
"""
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, SupportsFloat

from .reference import algebra as _ra
from .reference import compose as _rc
from .reference import schedules as _rs
from ._schedule import CompiledSchedule as CompiledSchedule
from .reference import SCHEDULES as SCHEDULES
from .reference._base import Schedule

__all__ = [
    "Constant", "Linear", "Step", "MultiStep", "Exponential", "Polynomial", "Cosine",
    "CosineRestarts", "InverseSqrt", "InverseTime", "Cyclic", "OneCycle",
    "OneCycleMomentum", "WarmupStableDecay", "PiecewiseConstant", "PiecewiseLinear",
    "Warmup", "Sequence", "Scaled", "Lambda", "Product", "SWA", "Noise", "Tanh",
    "warmup_cosine", "warmup_linear", "from_config",
]

class Constant(CompiledSchedule, _rs.Constant):
    lr: float
    def __init__(self, lr: float) -> None: ...

class Linear(CompiledSchedule, _rs.Linear):
    start_lr: float
    end_lr: float
    steps: float
    def __init__(self, start_lr: float, end_lr: float, steps: float) -> None: ...

class Step(CompiledSchedule, _rs.Step):
    lr: float
    step_size: float
    gamma: float
    def __init__(self, lr: float, step_size: float, gamma: float = 0.1) -> None: ...

class MultiStep(CompiledSchedule, _rs.MultiStep):
    lr: float
    milestones: tuple[float, ...]
    gamma: float
    def __init__(self, lr: float, milestones: Iterable[float], gamma: float = 0.1) -> None: ...

class Exponential(CompiledSchedule, _rs.Exponential):
    lr: float
    gamma: float
    decay_steps: float
    staircase: bool
    final_lr: float | None
    def __init__(self, lr: float, gamma: float, decay_steps: float = 1,
                 staircase: bool = False, final_lr: float | None = None) -> None: ...

class Polynomial(CompiledSchedule, _rs.Polynomial):
    lr: float
    total_steps: float
    final_lr: float
    power: float
    cycle: bool
    k_decay: float
    def __init__(self, lr: float, total_steps: float, final_lr: float = 0.0,
                 power: float = 1.0, cycle: bool = False, k_decay: float = 1.0) -> None: ...

class Cosine(CompiledSchedule, _rs.Cosine):
    lr: float
    total_steps: float
    final_lr: float
    exponent: float
    num_cycles: float
    k_decay: float
    def __init__(self, lr: float, total_steps: float, final_lr: float = 0.0,
                 exponent: float = 1.0, num_cycles: float = 0.5,
                 k_decay: float = 1.0) -> None: ...

class CosineRestarts(CompiledSchedule, _rs.CosineRestarts):
    lr: float
    cycle_steps: float
    cycle_mult: float
    final_lr: float
    cycle_decay: float
    cycle_decay_mode: Literal["peak", "amplitude"]
    cycle_limit: float | None
    k_decay: float
    def __init__(self, lr: float, cycle_steps: float, cycle_mult: float = 1.0,
                 final_lr: float = 0.0, cycle_decay: float = 1.0,
                 cycle_decay_mode: Literal["peak", "amplitude"] = "peak",
                 cycle_limit: float | None = None, k_decay: float = 1.0) -> None: ...

class InverseSqrt(CompiledSchedule, _rs.InverseSqrt):
    lr: float
    warmup_steps: float
    timescale: float | None
    def __init__(self, lr: float, warmup_steps: float,
                 timescale: float | None = None) -> None: ...

class InverseTime(CompiledSchedule, _rs.InverseTime):
    lr: float
    decay_rate: float
    decay_steps: float
    staircase: bool
    def __init__(self, lr: float, decay_rate: float, decay_steps: float = 1,
                 staircase: bool = False) -> None: ...

class Cyclic(CompiledSchedule, _rs.Cyclic):
    base_lr: float
    max_lr: float
    step_size_up: float
    step_size_down: float | None
    mode: Literal["triangular", "triangular2", "exp_range"]
    gamma: float
    def __init__(self, base_lr: float, max_lr: float, step_size_up: float,
                 step_size_down: float | None = None,
                 mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
                 gamma: float = 1.0) -> None: ...
    def momentum(self, base_momentum: float = 0.8, max_momentum: float = 0.9) -> Cyclic: ...

class OneCycle(CompiledSchedule, _rs.OneCycle):
    max_lr: float
    total_steps: float
    pct_start: float
    anneal: Literal["cos", "linear"]
    div_factor: float
    final_div_factor: float
    three_phase: bool
    def __init__(self, max_lr: float, total_steps: float, pct_start: float = 0.3,
                 anneal: Literal["cos", "linear"] = "cos", div_factor: float = 25.0,
                 final_div_factor: float = 10000.0, three_phase: bool = False) -> None: ...
    def momentum(self, base_momentum: float = 0.85,
                 max_momentum: float = 0.95) -> OneCycleMomentum: ...

class OneCycleMomentum(CompiledSchedule, _rs.OneCycleMomentum):
    total_steps: float
    pct_start: float
    anneal: Literal["cos", "linear"]
    three_phase: bool
    base_momentum: float
    max_momentum: float
    def __init__(self, total_steps: float, pct_start: float = 0.3,
                 anneal: Literal["cos", "linear"] = "cos", three_phase: bool = False,
                 base_momentum: float = 0.85, max_momentum: float = 0.95) -> None: ...

class WarmupStableDecay(CompiledSchedule, _rs.WarmupStableDecay):
    lr: float
    warmup_steps: float
    stable_steps: float
    decay_steps: float
    final_lr: float
    decay: Literal["linear", "cosine", "1-sqrt", "power", "exp"]
    stable: Literal["constant", "rsqrt", "power"]
    stable_timescale: float | None
    stable_power: float
    decay_power: float
    decay_ratio: float
    def __init__(self, lr: float, warmup_steps: float, stable_steps: float,
                 decay_steps: float, final_lr: float = 0.0,
                 decay: Literal["linear", "cosine", "1-sqrt", "power", "exp"] = "linear",
                 stable: Literal["constant", "rsqrt", "power"] = "constant",
                 stable_timescale: float | None = None, stable_power: float = 0.5,
                 decay_power: float = 0.5, decay_ratio: float = 0.1) -> None: ...

class PiecewiseConstant(CompiledSchedule, _rs.PiecewiseConstant):
    boundaries: tuple[float, ...]
    piece_values: tuple[float, ...]
    def __init__(self, boundaries: Iterable[float], values: Iterable[float]) -> None: ...

class PiecewiseLinear(CompiledSchedule, _rs.PiecewiseLinear):
    steps: tuple[float, ...]
    lrs: tuple[float, ...]
    def __init__(self, steps: Iterable[float], lrs: Iterable[float]) -> None: ...

class Warmup(CompiledSchedule, _rc.Warmup):
    schedule: Schedule
    warmup_steps: float
    start_lr: float
    mode: Literal["linear", "exponential", "cosine", "1-sqrt"]
    clock: Literal["local", "global"]
    target: Literal["start", "end"]
    def __init__(self, schedule: Schedule, warmup_steps: float, start_lr: float = 0.0,
                 mode: Literal["linear", "exponential", "cosine", "1-sqrt"] = "linear",
                 clock: Literal["local", "global"] = "local",
                 target: Literal["start", "end"] = "start") -> None: ...

class Sequence(CompiledSchedule, _rc.Sequence):
    schedules: tuple[Schedule, ...]
    boundaries: tuple[float, ...]
    def __init__(self, schedules: Iterable[Schedule], boundaries: Iterable[float]) -> None: ...

class Scaled(CompiledSchedule, _rc.Scaled):
    schedule: Schedule
    factor: float
    def __init__(self, schedule: Schedule, factor: float) -> None: ...

class Lambda(CompiledSchedule, _rc.Lambda):
    fn: Callable[[float], SupportsFloat]
    def __init__(self, fn: Callable[[float], SupportsFloat]) -> None: ...

class Product(CompiledSchedule, _ra.Product):
    schedules: tuple[Schedule, ...]
    def __init__(self, schedules: Iterable[Schedule]) -> None: ...

class SWA(CompiledSchedule, _ra.SWA):
    schedule: Schedule
    swa_lr: float
    start: float
    anneal_steps: float
    anneal: Literal["cos", "linear"]
    def __init__(self, schedule: Schedule, swa_lr: float, start: float,
                 anneal_steps: float = 10,
                 anneal: Literal["cos", "linear"] = "cos") -> None: ...

class Noise(CompiledSchedule, _ra.Noise):
    schedule: Schedule
    start: float
    end: float | None
    pct: float
    std: float
    kind: Literal["normal", "uniform"]
    seed: int
    def __init__(self, schedule: Schedule, start: float = 0, end: float | None = None,
                 pct: float = 0.67, std: float = 1.0,
                 kind: Literal["normal", "uniform"] = "normal", seed: int = 42) -> None: ...

class Tanh(CompiledSchedule, _rs.Tanh):
    lr: float
    total_steps: float
    final_lr: float
    lb: float
    ub: float
    def __init__(self, lr: float, total_steps: float, final_lr: float = 0.0,
                 lb: float = -7.0, ub: float = 3.0) -> None: ...

def warmup_cosine(peak_lr: float, warmup_steps: float, total_steps: float,
                  final_lr: float = 0.0) -> Warmup: ...
def warmup_linear(peak_lr: float, warmup_steps: float, total_steps: float,
                  final_lr: float = 0.0) -> Warmup: ...
def from_config(config: Mapping[str, Any]) -> Schedule: ...
