"""Stub for the compiled schedule engine ``fastlr._schedule`` (src_c/_schedule.pyx).

Cython writes no stubs; this one is checked against the built module by
``python -m mypy.stubtest fastlr._schedule`` (see tests/test_typing.py).
"""
from typing import Any, Final, Literal, overload

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

_SimdLevel = Literal["baseline", "avx2", "avx512"]

#: kind names of the ``_spec()`` tuples, in the order of the C enum ``fl_kind``
KINDS: Final[tuple[str, ...]]
#: the SIMD code paths, slowest first
SIMD_LEVELS: Final[tuple[_SimdLevel, ...]]
#: whether the module was built with OpenMP
OPENMP: Final[bool]

def simd_level() -> _SimdLevel: ...
def simd_supported() -> _SimdLevel: ...
def set_simd_level(name: str) -> _SimdLevel: ...
def _set_threads(n: int) -> None: ...
def _get_threads() -> int: ...
def _serial_backoff() -> int: ...

class _NotCompilable(Exception): ...

def _flatten(
    schedule: Any,
) -> tuple[list[list[Any]], int, int, int]: ...
def _checked(s: float) -> float: ...

@disjoint_base  # a cdef class with C fields: cannot be combined with another such base
class CompiledSchedule:
    """Evaluation in C for the schedule classes of :mod:`fastlr`."""

    @overload
    def __call__(self, t: float | np.integer[Any] | np.floating[Any]) -> float: ...
    @overload
    def __call__(self, t: npt.ArrayLike) -> npt.NDArray[np.float64]: ...
    def values(self, n: int | np.integer[Any]) -> npt.NDArray[np.float64]: ...
    def _eval_array(self, steps: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
