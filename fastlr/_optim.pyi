"""Type stub for the compiled optimizer kernels (src_c/_optim.pyx)."""
from collections.abc import Sequence
from typing import Any, final

import numpy as np
import numpy.typing as npt

OPENMP: bool
SIMD_LEVELS: tuple[str, str, str]

_Spec = tuple[int, int, Sequence[float]]
_Array = npt.NDArray[np.floating[Any]]

def _set_threads(n: int) -> None: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def simd_level() -> str: ...
def simd_supported() -> str: ...
def set_simd_level(name: str) -> str: ...

@final
class Runner:
    params: tuple[_Array, ...]
    shapes: tuple[tuple[int, ...], ...]
    slots: tuple[tuple[_Array | None, ...], ...]
    group_of: tuple[int, ...]
    bounds: Any
    completed: int
    torn: bool
    def __init__(self, params: Sequence[_Array], slots: Sequence[Sequence[_Array | None]],
                 group_of: Sequence[int],
                 names: Sequence[Sequence[str | None]] | None = None) -> None: ...
    def step(self, grads: Sequence[_Array], specs: Sequence[_Spec],
             skip_nonfinite: bool) -> bool: ...
    def lerp(self, weights: Sequence[float]) -> None: ...

def _run_one(spec: _Spec, param: _Array, grad: _Array | None,
             states: Sequence[_Array | None]) -> None: ...
