"""The compiled single-array optimizer updates (same names and signatures as
:mod:`fastlr.reference.kernels`).

Each public function here is its reference twin with the array work swapped for the
C kernels of :mod:`fastlr._optim`: the argument checks, the host-side scalars and the
docstrings are the reference's own code, so errors and coefficients are identical by
construction and the updates agree bit for bit.
"""
from __future__ import annotations

import types as _types

from . import _optim
from .reference import kernels as _ref

__all__ = list(_ref.__all__)

#: the whole-step runner (internal: optimizers build it; it validates its table itself)
_Runner = _optim.Runner
# one thread count for every backend and module (fastlr/_threads.py): the reference's
# functions already set and read it, and the compiled module registered its setter

# the reference module's namespace with the compiled array work swapped in
_namespace = dict(vars(_ref))
_namespace.update(_run_one=_optim._run_one, _Runner=_Runner, __name__=__name__)


def _compiled(fn):
    new = _types.FunctionType(fn.__code__, _namespace, fn.__name__, fn.__defaults__,
                              fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__doc__ = fn.__doc__
    new.__qualname__ = fn.__qualname__
    new.__module__ = __name__
    new.__annotations__ = dict(fn.__annotations__)
    return new


sgd = _compiled(_ref.sgd)
adam = _compiled(_ref.adam)
adamw = _compiled(_ref.adamw)
rmsprop = _compiled(_ref.rmsprop)
adagrad = _compiled(_ref.adagrad)
lion = _compiled(_ref.lion)
schedule_free_sgd = _compiled(_ref.schedule_free_sgd)
schedule_free_adamw = _compiled(_ref.schedule_free_adamw)
lerp = _compiled(_ref.lerp)
nadam = _compiled(_ref.nadam)
radam = _compiled(_ref.radam)
adamax = _compiled(_ref.adamax)
adadelta = _compiled(_ref.adadelta)
asgd = _compiled(_ref.asgd)
rprop = _compiled(_ref.rprop)
set_num_threads = _compiled(_ref.set_num_threads)
get_num_threads = _compiled(_ref.get_num_threads)
# adamw calls adam through the namespace: make that the compiled one too
_namespace["adam"] = adam
