"""Schedules from text: the SPEC argument of the ``fastlr`` command line.

Two forms are accepted:

- JSON, the :meth:`Schedule.to_config` form:
  ``{"class": "Cosine", "lr": 0.1, "total_steps": 1000}``;
- a compact call, as you would write it in Python:
  ``warmup_cosine(peak_lr=3e-4, warmup_steps=500, total_steps=10000)`` or
  ``Warmup(Cosine(0.1, 1000), warmup_steps=100)``.

The compact form is parsed with :func:`ast.parse` and never evaluated: only calls of
schedule classes and the ``warmup_*`` helpers are allowed, with arguments that are
literals (numbers, strings, ``True``/``False``/``None``, lists and tuples of them) or
such calls. Names, attributes, operators, ``*args``/``**kwargs``, a keyword given twice
and everything else are rejected with a ``ValueError`` saying what was found where.

A SPEC is untrusted text, so its size is bounded before anything is built: at most
``MAX_LENGTH`` characters, ``MAX_DEPTH`` levels of nested calls, lists and JSON
objects/arrays, and integer literals of at most ``MAX_INT_DIGITS`` digits (larger
ones exceed every float, and an int of over 4300 digits, easily written in hex, cannot
even be shown in an error message). A JSON object may not repeat a key.
"""
from __future__ import annotations

import ast
import inspect
import json
import re

from ._text import clip, int_digits

__all__ = ["parse_spec", "spec_names", "SpecError", "MAX_LENGTH", "MAX_DEPTH", "MAX_INT_DIGITS"]

#: longer specs are refused before parsing (deeply nested input can exhaust the parser)
MAX_LENGTH = 10_000
#: the deepest nesting of calls, lists and JSON objects/arrays (real specs use < 10)
MAX_DEPTH = 32
#: integer literals may have at most this many digits: 10**309 exceeds every float
MAX_INT_DIGITS = 309

_HELPERS = ("warmup_cosine", "warmup_linear")
# Lambda wraps a Python callable, which text cannot express safely
_EXCLUDED = ("Lambda",)


class SpecError(ValueError):
    """The text is not a valid SPEC (as opposed to a schedule rejecting an argument)."""


def _backend(backend):
    if backend is None:
        import fastlr
        return fastlr
    return backend


def spec_names(backend=None):
    """The function names a compact SPEC may call."""
    from ..reference import SCHEDULES
    b = _backend(backend)
    return tuple(n for n in SCHEDULES if n not in _EXCLUDED and hasattr(b, n)) + _HELPERS


def parse_spec(text, backend=None):
    """Build the schedule that ``text`` describes (JSON or a compact call).

    Args:
      text: the SPEC (see the module docstring).
      backend: the namespace whose classes are built, :mod:`fastlr` (default) or
        :mod:`fastlr.reference`.

    Returns:
      A schedule of ``backend``.

    Raises:
      SpecError: (a ``ValueError``) when ``text`` is not a valid SPEC, with a one-line
        reason: bad syntax, a name that is not a schedule, a repeated keyword or JSON
        key, a literal or nesting over the bounds above.
      TypeError, ValueError: from the schedule's own argument checks, which name the
        parameter and the value.
    """
    if not isinstance(text, str):
        raise TypeError(f"SPEC must be a str, got {clip(repr(text))} ({type(text).__name__})")
    b = _backend(backend)
    text = text.strip()
    if not text:
        raise SpecError("SPEC is empty; give JSON or a call such as "
                         "'Cosine(lr=0.1, total_steps=1000)'")
    if len(text) > MAX_LENGTH:
        raise SpecError(f"SPEC is too long ({len(text)} characters, at most {MAX_LENGTH})")
    if text.startswith("{"):
        return _from_json(text, b)
    return _from_call(text, b)


def _too_deep():
    return SpecError(f"SPEC is nested too deeply (at most {MAX_DEPTH} levels of calls, "
                     "lists and JSON objects)")


def _json_int(digits):
    n = len(digits.lstrip("-"))
    if n > MAX_INT_DIGITS:
        raise SpecError(f"SPEC has an integer of {n} digits; at most {MAX_INT_DIGITS} "
                        "are allowed (larger ones exceed every float)")
    return int(digits)


def _json_object(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise SpecError(f"SPEC repeats the key {clip(repr(key))} in a JSON object; "
                            "give each key once")
        out[key] = value
    return out


def _json_depth(config):
    """Check the nesting depth of parsed JSON without recursion."""
    stack = [(config, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise _too_deep()
            items = value.values() if isinstance(value, dict) else value
            stack.extend((x, depth + 1) for x in items)


def _from_json(text, backend):
    try:
        config = json.loads(text, parse_int=_json_int, object_pairs_hook=_json_object)
    except json.JSONDecodeError as exc:
        raise SpecError(f"SPEC is not valid JSON: {exc}") from None
    except RecursionError:
        raise _too_deep() from None
    _json_depth(config)
    return backend.from_config(config)


def _from_call(text, backend):
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        digits = re.search(r"value has (\d+) digits", str(exc.msg))
        if digits:  # Python's own refusal of a decimal literal over 4300 digits
            raise SpecError(f"SPEC has an integer literal of {digits.group(1)} digits; at "
                            f"most {MAX_INT_DIGITS} are allowed (larger ones exceed every "
                            "float)") from None
        raise SpecError(f"SPEC is not valid: {clip(exc.msg)}{where} of {clip(repr(text))}; "
                        "give JSON or a call such as 'Cosine(lr=0.1, total_steps=1000)'"
                        ) from None
    except (RecursionError, MemoryError):  # the parser's own nesting limits
        raise _too_deep() from None
    except ValueError as exc:  # lone surrogates, null bytes (by Python version)
        raise SpecError(f"SPEC is not valid: {clip(exc)}") from None
    node = tree.body
    if not isinstance(node, ast.Call):
        raise SpecError(f"SPEC must be a schedule call such as 'Cosine(lr=0.1, "
                         f"total_steps=1000)' or JSON, got {clip(repr(_src(text, node)))}")
    _check_tree(node, text)
    try:
        return _call(node, text, backend, spec_names(backend))
    except RecursionError:  # not reached within MAX_DEPTH; kept as a last guard
        raise _too_deep() from None


def _check_tree(root, text):
    """Bound the depth of calls and lists and the size of int literals, without
    recursion, before anything is built."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (ast.Call, ast.List, ast.Tuple)):
            if depth > MAX_DEPTH:
                raise _too_deep()
            depth += 1
        elif (isinstance(node, ast.Constant) and isinstance(node.value, int)
              and not isinstance(node.value, bool)
              and abs(node.value) >= 10 ** MAX_INT_DIGITS):
            raise SpecError(
                f"SPEC has an integer literal of {int_digits(node.value)} digits at column "
                f"{node.col_offset + 1}; at most {MAX_INT_DIGITS} are allowed (larger "
                "ones exceed every float)")
        stack.extend((child, depth) for child in ast.iter_child_nodes(node))


def _src(text, node):
    return ast.get_source_segment(text, node) or type(node).__name__


def _bad(text, node):
    """A node's source text for a message: quoted, on one line, short."""
    return clip(repr(_src(text, node)))


def _call(node, text, backend, names):
    func = node.func
    if not isinstance(func, ast.Name) or func.id not in names:
        got = clip(repr(func.id)) if isinstance(func, ast.Name) else _bad(text, func)
        raise SpecError(f"SPEC calls {got}, which is not a fastlr schedule; it may call "
                        f"{', '.join(names)}")
    args = []
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise SpecError(f"SPEC may not use *args, got {_bad(text, arg)}")
        args.append(_value(arg, text, backend, names))
    kwargs = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise SpecError(f"SPEC may not use **kwargs, got {_bad(text, kw)}")
        if kw.arg in kwargs:
            raise SpecError(f"SPEC repeats the keyword {kw.arg!r} in {func.id}(); give "
                            "each argument once")
        kwargs[kw.arg] = _value(kw.value, text, backend, names)
    fn = getattr(backend, func.id)
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as exc:
        raise SpecError(f"SPEC has bad arguments for {func.id}(): {clip(exc)}") from None
    return fn(*args, **kwargs)


_LITERALS = (int, float, str, bool, type(None))


def _value(node, text, backend, names):
    if isinstance(node, ast.Constant) and isinstance(node.value, _LITERALS):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, (int, float))
            and not isinstance(node.operand.value, bool)):
        x = node.operand.value
        return -x if isinstance(node.op, ast.USub) else x
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_value(e, text, backend, names) for e in node.elts]
    if isinstance(node, ast.Call):
        return _call(node, text, backend, names)
    raise SpecError("SPEC arguments must be numbers, strings, True/False/None, lists or "
                     f"schedule calls, got {_bad(text, node)}")
