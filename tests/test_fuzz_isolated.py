"""Crash-isolating fuzzing (issue 10): every public entry point, in a child process.

Hypothesis drives every public constructor, call, kernel and step (schedules and their
composites, calls with odd steps, ``values(n)``, every optimizer with odd params, grads,
hyperparameters and hostile state dicts, ``fastlr.kernels``, ``ReduceOnPlateau``,
``find_lr``, ``from_config``, the SPEC parser). Each case runs on BOTH backends in a
fork of one persistent worker (tests/fuzz_worker.py), so a segfault or a hang fails the
test with the input, the signal and the C-level traceback, instead of killing pytest.

The worker runs the cases in its own process (fast); after a crash it is restarted to run
each case in a fork of itself (see ``Worker``); ``FASTLR_FUZZ_FORK=1`` does so from the
start.

The contract checked for every case:
- no crash, no hang (a case may take ``FASTLR_FUZZ_TIMEOUT`` seconds, default 10);
- bad input raises ValueError or TypeError only (never KeyError, IndexError,
  OverflowError, ZeroDivisionError, RecursionError, MemoryError, ...), and the message
  builds (no "Exceeds the limit (4300 digits) for integer string conversion");
- both backends agree: the same exception type with the same message, or values within
  DESIGN.md's tolerances (schedules 1e-12 of the peak; optimizers float64 1e-12 and
  float32 1e-5 relative), the same repr;
- a failing step, kernel call or ``load_state_dict`` writes nothing, and a schedule call
  never writes its input.

Examples per test: ``FASTLR_FUZZ_EXAMPLES`` (default 100), 1000 with
``FASTLR_HYPOTHESIS=thorough``; under CI (``CI=true``) the examples are derandomized,
so a CI run is reproducible.
"""
import inspect
import math
import numbers
import os
import pickle
import select
import struct
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastlr.reference as ref
from fuzz_worker import Alias, Arr, Deep, DeepConfig, Fn, Huge, Sched
from strategies import schedules as valid_schedules
from test_fuzz import CHOICES, huge_ints, numpy_scalars, special_floats, weird

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# ---- settings -------------------------------------------------------------------------

_THOROUGH = os.environ.get("FASTLR_HYPOTHESIS") == "thorough"
EXAMPLES = 1000 if _THOROUGH else int(os.environ.get("FASTLR_FUZZ_EXAMPLES", "100"))
_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_ci_only = {"derandomize": True, "database": None} if _CI else {}
fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                report_multiple_bugs=False, **_ci_only)

# ---- the worker -----------------------------------------------------------------------

FRAME = struct.Struct("<Q")
TIMEOUT = object()   # _recv's answer when the worker did not reply in time


class Worker:
    """The persistent child process (tests/fuzz_worker.py), restarted after a crash.

    Cases run in the worker's own process (fast) until one crashes or hangs; from then
    on the new worker runs each case in a fork (``FASTLR_FUZZ_FORK=1``), so that
    hypothesis's shrinking, which replays the crash many times, costs a fork per replay
    rather than a new interpreter, and no case after a crash can inherit its damage.
    """

    def __init__(self):
        self.proc = None
        self.fork = os.environ.get("FASTLR_FUZZ_FORK") == "1"
        fd, self.err_path = tempfile.mkstemp(prefix="fastlr-fuzz-", suffix=".stderr")
        os.close(fd)

    def start(self):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [ROOT, HERE] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                            if p]), MPLBACKEND="Agg", FASTLR_PROGRESS="0",
            FASTLR_FUZZ_STDERR=self.err_path, FASTLR_FUZZ_FORK="1" if self.fork else "0")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import fuzz_worker; fuzz_worker.main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, cwd=ROOT)
        hello = self._recv(120.0)
        assert isinstance(hello, dict) and "ready" in hello, \
            f"the fuzz worker did not start:\n{self._stderr()}"

    def stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def _stderr(self, limit=4000):
        try:
            with open(self.err_path, errors="replace") as f:
                return f.read()[-limit:]
        except OSError:
            return ""

    def _recv(self, timeout):
        fd = self.proc.stdout.fileno()
        data, need = b"", FRAME.size
        header = True
        while len(data) < need:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                return TIMEOUT
            chunk = os.read(fd, need - len(data))
            if not chunk:
                return None    # the worker died
            data += chunk
            if header and len(data) == FRAME.size:
                (n,) = FRAME.unpack(data)
                data, need, header = b"", n, False
        return pickle.loads(data)

    def run(self, case):
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        payload = pickle.dumps(case, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.proc.stdin.write(FRAME.pack(len(payload)) + payload)
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        # the worker's watchdog times a case out; this limit is for a stuck worker
        timeout = case.get("timeout", float(os.environ.get("FASTLR_FUZZ_TIMEOUT", "10")))
        reply = self._recv(timeout + 30.0)
        if reply is not None and reply is not TIMEOUT:
            return reply
        stuck = reply is TIMEOUT
        self.fork = True
        if stuck:
            self.proc.kill()
        try:
            code = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        stderr = self._stderr()
        hung = stuck or "Timeout (" in stderr
        return {"status": "hung" if hung else "crashed", "results": {},
                "signal": -code if code is not None and code < 0 else None,
                "exitcode": code if code is not None and code >= 0 else None,
                "stderr": stderr}


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.stop()
    os.unlink(w.err_path)


# ---- checking a reply -----------------------------------------------------------------

def _fmt(case):
    text = repr(case)
    return text if len(text) < 3000 else text[:3000] + "..."


def check(case, reply, tol="schedule"):
    """Assert the contract (module docstring) on the worker's reply to ``case``."""
    results = reply["results"]
    if reply["status"] != "ok":
        # the worker writes "fuzz: <name> backend: <label>" before every call
        last = [x for x in reply["stderr"].splitlines() if x.startswith("fuzz: ")]
        who = ("in the " + last[-1][len("fuzz: "):].replace(": ", " at ", 1)) if last else \
            "before any call"
        raise AssertionError(
            f"{reply['status'].upper()} {who} (signal {reply['signal']}, exit code "
            f"{reply['exitcode']}) on case\n  {_fmt(case)}\nstderr of the fork:\n"
            f"{reply['stderr']}")
    r, c = results["reference"], results["compiled"]
    for name, entries in (("reference", r), ("compiled", c)):
        for label, out in entries:
            if out[0] == "bad":
                raise AssertionError(
                    f"{name} backend raised {out[1]} (only ValueError/TypeError are "
                    f"allowed) at {label!r}: {out[2]}\ncase: {_fmt(case)}\n{out[3]}")
            if out[0] == "raised" and "integer string conversion" in out[2]:
                raise AssertionError(
                    f"{name} backend at {label!r}: the error message itself failed (it "
                    f"tried to show an int of over 4300 digits): {out[1]}: {out[2]}\n"
                    f"case: {_fmt(case)}")
            if out[0] == "ok" and _is_invariant(label) and out[1] is not True:
                raise AssertionError(f"{name} backend: {label!r} does not hold\n"
                                     f"case: {_fmt(case)}")
    labels_r, labels_c = [x[0] for x in r], [x[0] for x in c]
    for (label, a), (_, b) in zip(r, c):
        if a[0] == "raised" or b[0] == "raised":
            assert a[0] == b[0] == "raised", (
                f"at {label!r}: reference {_short(a)}, compiled {_short(b)}\n"
                f"case: {_fmt(case)}")
            assert a[1] == b[1], (f"at {label!r}: reference raised {a[1]}, compiled {b[1]}"
                                  f": {a[2]!r} / {b[2]!r}\ncase: {_fmt(case)}")
            assert a[2] == b[2], (f"at {label!r}: messages differ\n  reference: {a[2]}\n"
                                  f"  compiled:  {b[2]}\ncase: {_fmt(case)}")
        else:
            try:
                same(a[1], b[1], tol)
            except AssertionError as exc:
                raise AssertionError(f"at {label!r}: values differ: {exc}\n"
                                     f"  reference: {_clip(a[1])}\n  compiled:  {_clip(b[1])}"
                                     f"\ncase: {_fmt(case)}") from None
    assert labels_r == labels_c, (f"the backends took different paths:\n  reference: "
                                  f"{labels_r}\n  compiled:  {labels_c}\ncase: {_fmt(case)}")


def _is_invariant(label):
    return label.endswith(("wrote nothing", "changed nothing", "input unchanged")) or \
        label.endswith("== s")


def _short(out):
    return f"raised {out[1]}: {out[2]}" if out[0] == "raised" else f"returned {_clip(out[1])}"


def _clip(x):
    text = repr(x)
    return text if len(text) < 500 else text[:500] + "..."


TOLERANCES = {
    # DESIGN.md: schedules within 1e-12 of the peak (the largest value compared stands in
    # for the peak); optimizer updates within float rounding
    "schedule": {"f8": (1e-12, 1e-12), "f4": (1e-12, 1e-12)},
    "optimizer": {"f8": (1e-12, 1e-12), "f4": (1e-5, 1e-6)},
}


def same(a, b, tol):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), "array vs not"
        assert a.shape == b.shape, f"shapes {a.shape} vs {b.shape}"
        assert a.dtype == b.dtype, f"dtypes {a.dtype} vs {b.dtype}"
        if a.dtype.kind not in "fc":
            assert np.array_equal(a, b), "integer/bool arrays differ"
            return
        _close(a, b, TOLERANCES[tol]["f4" if a.dtype.itemsize <= 4 else "f8"])
    elif isinstance(a, float) and isinstance(b, float):
        _close(np.asarray(a), np.asarray(b), TOLERANCES[tol]["f8"])
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        assert len(a) == len(b), f"lengths {len(a)} vs {len(b)}"
        for x, y in zip(a, b):
            same(x, y, tol)
    else:
        assert a == b, f"{_clip(a)} != {_clip(b)}"


def _close(want, got, rel_abs):
    rtol, atol = rel_abs
    want, got = want.astype(np.complex128 if want.dtype.kind == "c" else np.float64), \
        got.astype(np.complex128 if got.dtype.kind == "c" else np.float64)
    nan = np.isnan(want)
    assert np.array_equal(nan, np.isnan(got)), "NaN in different places"
    want, got = want[~nan], got[~nan]
    fin = np.isfinite(want)
    assert np.array_equal(fin, np.isfinite(got)), "inf in different places"
    assert np.array_equal(want[~fin], got[~fin]), "different infinities"
    scale = max(1.0, float(np.max(np.abs(want[fin]), initial=0.0)))
    np.testing.assert_allclose(got[fin], want[fin], rtol=rtol, atol=atol * scale)


# ---- strategies: values (as descriptors the worker makes real) -------------------------

floats_any = st.floats(allow_nan=True, allow_infinity=True)
scalars = st.one_of(
    floats_any, st.integers(-10, 10**6), huge_ints, special_floats, st.booleans(),
    numpy_scalars, weird,
    st.sampled_from([Huge(1, 5000), Huge(-1, 5000), Huge(1, 20000)]),  # no repr possible
)
sched_args = valid_schedules(max_leaves=3).map(lambda s: Sched(s.to_config()))
deep = st.builds(Deep, st.sampled_from(["scaled", "warmup", "sequence"]),
                 st.sampled_from([50, 200, 1000, 5000, 20000]))
LAYOUTS = ["plain"] * 6 + ["ro", "view", "reversed", "fortran", "2d", "0d", "empty",
                           "empty2d", "broadcast", "unaligned", "list"]
ODD_DTYPES = ["f2", "i8", "u1", "O", "?", "c16", "M8[s]"]


def arrays(n=None, dtype=None, layout=None, key=None, elements=None):
    size = st.integers(0, 6) if n is None else st.just(n)
    if elements is None:
        elements = st.one_of(st.floats(-10, 10), st.floats(-10, 10),
                             st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 1e300,
                                              5e-324]))
    return st.builds(
        Arr, size.flatmap(lambda k: st.lists(elements, min_size=k, max_size=k)),
        st.sampled_from(["f8"] * 3 + ["f4"] * 3 + ODD_DTYPES) if dtype is None
        else st.just(dtype),
        st.sampled_from(LAYOUTS) if layout is None else st.just(layout),
        st.just(key))


values = st.one_of(
    scalars, scalars, sched_args, arrays(),
    st.lists(st.one_of(floats_any, st.integers(-10, 10**4), huge_ints, weird, sched_args),
             max_size=4),
    st.lists(st.floats(0, 1e4), max_size=5).map(sorted),
    st.sampled_from(CHOICES + ["min", "max", "rel", "abs"]),
)
plausible = st.one_of(
    st.floats(0, 1), st.floats(0, 1000), st.integers(1, 1000), st.booleans(),
    st.tuples(st.floats(0, 0.999), st.floats(0, 0.999)), sched_args,
)
mixed = st.one_of(plausible, plausible, plausible, values)


def _near(default):
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, (int, float)):
        top = 2.0 * default if default > 0 else 1.0
        return st.one_of(st.floats(0, top), st.just(default), st.integers(0, 3))
    if isinstance(default, tuple):
        return st.tuples(*[st.floats(0, 0.9999) for _ in default])
    if isinstance(default, str):
        return st.sampled_from(CHOICES + [default] * 4)
    if default is None:
        return st.one_of(st.none(), st.floats(0, 100))
    return mixed


sorted_lists = st.lists(st.integers(0, 1000), min_size=1, max_size=4, unique=True).map(sorted)


def _plausible_for(p):
    if p.default is not p.empty:
        return _near(p.default)
    if p.name == "schedule":
        return st.one_of(sched_args, sched_args, deep)
    if p.name == "schedules":
        return st.lists(sched_args, min_size=1, max_size=3)
    if p.name in ("milestones", "boundaries", "steps", "lrs", "values"):
        return st.one_of(sorted_lists, st.lists(st.floats(0, 1), max_size=4))
    if p.name == "fn":
        return st.sampled_from([Fn(n) for n in Fn.FUNCS])
    return st.one_of(st.floats(0, 1), st.floats(0.5, 1000), st.integers(1, 1000))


FAULTS = ["none", "none", "none", "value", "value", "value", "missing", "extra", "unknown"]


@st.composite
def call_args(draw, fn, skip=0):
    """Arguments for ``fn`` (its first ``skip`` parameters left out): every one plausible
    (required ones positionally, a third of the optional ones by keyword), then, two
    times in three, one fault: a value replaced by anything, a positional argument
    too few or too many, or an unknown keyword. One fault at a time keeps most cases
    deep enough to reach the later checks and the calls after construction."""
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)][skip:]
    chosen = {p.name: draw(_plausible_for(p)) for p in params
              if p.default is p.empty or draw(st.integers(0, 2)) == 2}
    fault = draw(st.sampled_from(FAULTS), label="fault") if chosen else "none"
    if fault == "value":
        chosen[draw(st.sampled_from(sorted(chosen)))] = draw(values)
    positional = [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD
                  and p.default is p.empty]
    args = [chosen.pop(name) for name in positional]
    kwargs = chosen
    if fault == "missing" and args:
        args.pop()
    elif fault == "extra":
        args.append(draw(mixed))
    elif fault == "unknown":
        kwargs[draw(st.sampled_from(["bogus", "t", "self"]))] = draw(values)
    return args, kwargs


# ---- schedules ------------------------------------------------------------------------

NAMES = list(ref.SCHEDULES) + ["warmup_cosine", "warmup_linear"]


@fuzz
@given(data=st.data())
def test_schedule_constructors(worker, data):
    name = data.draw(st.sampled_from(NAMES), label="name")
    args, kwargs = data.draw(call_args(getattr(ref, name)), label="args")
    case = {"op": "sched_ctor", "name": name, "args": args, "kwargs": kwargs}
    if hasattr(getattr(ref, name), "momentum"):
        case["momentum"] = data.draw(call_args(ref.OneCycle.momentum
                                               if name == "OneCycle" else ref.Cyclic.momentum,
                                               skip=1), label="momentum args")
    check(case, worker.run(case))


step_arrays = st.one_of(
    arrays(dtype=None, elements=st.floats(0, 120)),
    arrays(dtype="f8", elements=st.floats(0, 1e15)),
    arrays(dtype="f8", elements=floats_any),
    arrays(dtype="i8", elements=st.integers(-5, 10**12)),
    arrays(dtype="u8", elements=st.integers(0, 2**64 - 1)),
    arrays(dtype="O", elements=st.integers(0, 10**30)),
    st.just(Arr([0, 1], "U1")), st.just(Arr([0, 0], "M8[s]")),
    st.lists(st.one_of(st.integers(0, 100), st.floats(0, 100)), max_size=5),
    st.lists(st.lists(st.integers(0, 50), min_size=2, max_size=2), max_size=3),
    st.just([[1, 2], [3]]),
)
odd_n = st.one_of(st.integers(-3, 3000), scalars, st.sampled_from([2**63, 10**12, 2**53]))


@fuzz
@given(s=st.one_of(sched_args, sched_args, sched_args, deep), t=st.one_of(scalars, step_arrays),
       n=odd_n, probe=st.booleans())
def test_schedule_calls(worker, s, t, n, probe):
    if isinstance(n, numbers.Integral) and not isinstance(n, (bool, np.bool_)) and \
            5000 < n <= 2**53:
        # values(10**12) is an honest MemoryError (8 TB), and the reference's values(10**7)
        # takes a while; past 2**53 (no valid step) n must be refused
        n = int(n) % 5000
    case = {"op": "sched_call", "schedule": s, "t": t, "n": n, "probe": probe}
    check(case, worker.run(case))


configs = st.recursive(
    st.one_of(scalars, st.sampled_from(list(ref.SCHEDULES))),
    lambda kids: st.one_of(
        st.lists(kids, max_size=3),
        st.dictionaries(st.sampled_from(["class", "lr", "total_steps", "schedule",
                                         "schedules", "boundaries", "values", "fn", "x",
                                         "factor", "warmup_steps"]),
                        kids, max_size=4)),
    max_leaves=8)


@fuzz
@given(config=st.one_of(
    configs, sched_args.map(lambda a: a.config),
    st.builds(DeepConfig, st.sampled_from(["scaled", "list"]),
              st.sampled_from([10, 100, 1000, 10000]))))
def test_from_config(worker, config):
    case = {"op": "from_config", "config": config}
    check(case, worker.run(case))


# ---- optimizers -----------------------------------------------------------------------

OPTIMIZERS = [n for n in ref.__all__
              if inspect.isclass(getattr(ref, n, None)) and hasattr(getattr(ref, n), "step")]
_SHAPE_CLASS = {"plain": "1d", "ro": "1d", "view": "1d", "reversed": "1d", "unaligned": "1d",
                "list": "1d", "broadcast": "1d", "fortran": "fortran", "2d": "2d", "0d": "0d",
                "empty": "empty", "empty2d": "empty2d"}
_SAME_SHAPE = {k: [x for x, v in _SHAPE_CLASS.items() if v == c] for k, c in _SHAPE_CLASS.items()}


@st.composite
def param_arrays(draw, key):
    odd = draw(st.integers(0, 4)) == 0      # one array in five has an odd layout/dtype
    layout = draw(st.sampled_from(LAYOUTS)) if odd else "plain"
    dtype = draw(st.sampled_from(["f8", "f4", "i8", "f2", "O"])) if odd else \
        draw(st.sampled_from(["f8", "f4"]))
    n = draw(st.integers(1, 6))
    return draw(arrays(n=n, dtype=dtype, layout=layout, key=key,
                       elements=st.floats(-10, 10)))


@st.composite
def param_sets(draw):
    """params as descriptors: one array, a list (maybe aliased), group dicts, or junk."""
    kind = draw(st.sampled_from(["array", "array", "list", "list", "list", "groups", "junk",
                                 "aliased"]))
    keys = iter(range(100))
    if kind == "array":
        return draw(param_arrays(next(keys)))
    if kind == "list":
        return [draw(param_arrays(next(keys))) for _ in range(draw(st.integers(0, 3)))]
    if kind == "aliased":
        p = draw(param_arrays(next(keys)))
        return [p, Alias(p.key)]
    if kind == "groups":
        groups = []
        for _ in range(draw(st.integers(0, 2))):
            g = {"params": [draw(param_arrays(next(keys)))
                            for _ in range(draw(st.integers(0, 2)))]}
            if draw(st.booleans()):
                g[draw(st.sampled_from(["lr", "weight_decay", "momentum", "betas", "eps",
                                        "bogus"]))] = draw(values)
            groups.append(g)
        return groups
    return draw(values)


def _param_list(params):
    if isinstance(params, Arr):
        return [params]
    out = []
    if isinstance(params, list):
        for x in params:
            if isinstance(x, (Arr, Alias)):
                out.append(x)
            elif isinstance(x, dict) and isinstance(x.get("params"), list):
                out += [p for p in x["params"] if isinstance(p, Arr)]
    return out


@st.composite
def grads_for(draw, params):
    plist = _param_list(params)
    by_key = {p.key: p for p in plist if isinstance(p, Arr)}
    plist = [by_key.get(p.key) if isinstance(p, Alias) else p for p in plist]
    kind = draw(st.sampled_from(["match"] * 10 + ["nan", "shape", "dtype", "junk", "short",
                                                  "alias", "none", "odd"]))
    if kind == "junk":
        return draw(values)
    if kind == "none":
        return None if isinstance(params, Arr) else [None] * len(plist)
    gs = []
    for p in plist:
        if p is None:
            gs.append(None)
            continue
        n = len(p.values)
        layout = draw(st.sampled_from(["plain"] * 12 + _SAME_SHAPE[p.layout]))
        g = draw(arrays(n=n, dtype=p.dtype, layout=layout, elements=st.floats(-5, 5)))
        if kind == "alias":
            g = Alias(p.key)
        gs.append(g)
    if gs and kind == "nan" and isinstance(gs[0], Arr) and gs[0].values:
        gs[0].values[0] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    if gs and kind == "shape" and isinstance(gs[0], Arr):
        gs[0] = Arr(gs[0].values + [1.0], gs[0].dtype, "plain")
    if gs and kind == "dtype" and isinstance(gs[0], Arr):
        gs[0] = Arr(gs[0].values, "f4" if gs[0].dtype == "f8" else "f8", gs[0].layout)
    if gs and kind == "odd":
        gs[0] = draw(arrays())
    if kind == "short":
        gs = gs[:-1]
    return gs[0] if isinstance(params, Arr) and len(gs) == 1 else gs


HOSTILE_HOW = st.one_of(
    st.none(), st.none(),
    st.tuples(st.sampled_from(["set", "set", "del", "add"]), st.integers(0, 40)),
    st.just(("whole",)))
state_values = st.one_of(values, arrays(), st.dictionaries(st.sampled_from(["state", "step",
                                                                           "x"]), values,
                                                            max_size=2),
                         st.sampled_from([-1, 2**64, 10**400, math.nan]))


@st.composite
def optimizer_actions(draw, params):
    actions = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["step", "step", "step", "save_load", "eval_train"]))
        if kind == "step":
            actions.append(("step", draw(grads_for(params)),
                            draw(st.sampled_from([False, False, True, None, 1]))))
        elif kind == "save_load":
            actions.append(("save_load", draw(HOSTILE_HOW), draw(state_values)))
        else:
            actions.append(("eval_train",))
    return actions


@fuzz
@given(data=st.data())
def test_optimizers(worker, data):
    name = data.draw(st.sampled_from(OPTIMIZERS), label="name")
    params = data.draw(param_sets(), label="params")
    args, kwargs = data.draw(call_args(getattr(ref, name), skip=1), label="hyperparameters")
    actions = data.draw(optimizer_actions(params), label="actions")
    case = {"op": "optimizer", "name": name, "params": params, "args": args,
            "kwargs": kwargs, "actions": actions}
    check(case, worker.run(case), tol="optimizer")


# ---- kernels --------------------------------------------------------------------------

KERNELS = list(ref.kernels.__all__)


@st.composite
def kernel_case(draw):
    """A valid call of one kernel (one n, one dtype, plain arrays, plausible
    hyperparameters), then, two times in three, one fault: an array None, aliased,
    odd (dtype/layout/shape) or junk, or one hyperparameter anything."""
    name = draw(st.sampled_from(KERNELS))
    sig = inspect.signature(getattr(ref.kernels, name))
    if name.endswith("_threads"):
        args = [draw(st.one_of(st.integers(-2, 64), scalars))] if sig.parameters else []
        return {"op": "kernel", "name": name, "args": args, "kwargs": {}}
    n = draw(st.integers(0, 6))
    dtype = draw(st.sampled_from(["f8", "f4"]))
    positional = [p for p in sig.parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD]
    args = []
    for i, p in enumerate(positional):
        if p.default is None and draw(st.booleans()):
            args.append(None)        # an optional state left out
            continue
        nonneg = p.name in ("exp_avg_sq", "max_exp_avg_sq", "square_avg", "state_sum")
        args.append(draw(arrays(n=n, dtype=dtype, layout="plain", key=i,
                                elements=st.floats(0, 10) if nonneg else st.floats(-10, 10))))
    kwargs = {}
    for p in sig.parameters.values():
        if p.kind == p.KEYWORD_ONLY and (p.default is p.empty or draw(st.integers(0, 2)) == 2):
            kwargs[p.name] = draw(st.integers(1, 100) if p.name == "step" else
                                  st.floats(0, 1) if p.name in ("ckp1", "weight") else
                                  _plausible_for(p))
    fault = draw(st.sampled_from(["none", "array", "array", "value"]), label="fault")
    if fault == "array":
        i = draw(st.integers(0, len(args) - 1))
        keys = [j for j, a in enumerate(args) if isinstance(a, Arr) and j != i]
        kind = draw(st.sampled_from(["none", "alias", "odd", "odd", "dtype", "short", "junk",
                                     "nan"]))
        if kind == "none":
            args[i] = None
        elif kind == "alias" and keys:
            args[i] = Alias(draw(st.sampled_from(keys)))
        elif kind == "odd":
            args[i] = draw(arrays(n=n, key=i))
        elif kind == "dtype":
            args[i] = draw(arrays(n=n, dtype=draw(st.sampled_from(["f8", "f4"] + ODD_DTYPES)),
                                  layout=draw(st.sampled_from(LAYOUTS)), key=i))
        elif kind == "short":
            args[i] = draw(arrays(n=n + 1, dtype=dtype, layout="plain", key=i))
        elif kind == "junk":
            args[i] = draw(values)
        elif isinstance(args[i], Arr) and args[i].values:
            args[i].values[0] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    elif fault == "value" and kwargs:
        kwargs[draw(st.sampled_from(sorted(kwargs)))] = draw(st.one_of(values, scalars))
    return {"op": "kernel", "name": name, "args": args, "kwargs": kwargs}


@fuzz
@given(case=kernel_case())
def test_kernels(worker, case):
    check(case, worker.run(case), tol="optimizer")


# ---- ReduceOnPlateau, find_lr, SPEC ------------------------------------------------------

metrics = st.one_of(st.floats(-10, 10), st.floats(-10, 10), floats_any, scalars, arrays())


@fuzz
@given(data=st.data())
def test_plateau(worker, data):
    args, kwargs = data.draw(call_args(ref.ReduceOnPlateau), label="args")
    actions = data.draw(st.lists(st.one_of(
        st.tuples(st.just("update"), metrics), st.tuples(st.just("update"), metrics),
        st.tuples(st.just("save_load"), HOSTILE_HOW, state_values)), max_size=8),
        label="actions")
    case = {"op": "plateau", "args": args, "kwargs": kwargs, "actions": actions}
    check(case, worker.run(case))


FIND_LR_ARGS = {
    "start_lr": st.floats(1e-320, 1.0), "end_lr": st.floats(1e-3, 1e308),
    "num_steps": st.integers(2, 60), "mode": st.sampled_from(["exp", "linear"]),
    "smoothing": st.floats(0, 0.999), "diverge_factor": st.one_of(st.none(),
                                                                  st.floats(1.0, 10.0)),
    "progress": st.sampled_from([False, None]),
}


@st.composite
def find_lr_kwargs(draw):
    kwargs = draw(st.fixed_dictionaries({}, optional=FIND_LR_ARGS))
    if draw(st.booleans()):          # one argument anything
        kwargs[draw(st.sampled_from(sorted(FIND_LR_ARGS)))] = draw(
            st.one_of(scalars, st.sampled_from(["log", "yes", 1e-300, 1e300])))
    return kwargs


@fuzz
@given(kwargs=find_lr_kwargs(),
       losses=st.lists(st.one_of(st.floats(0, 10), st.floats(0, 10), st.floats(0, 10),
                                 floats_any, scalars, arrays(n=1, layout="0d")), max_size=6))
def test_find_lr(worker, kwargs, losses):
    case = {"op": "find_lr", "kwargs": kwargs, "losses": losses}
    check(case, worker.run(case))


_spec_names = list(ref.SCHEDULES) + ["warmup_cosine", "warmup_linear", "Nope", "os.system",
                                     "__import__"]
spec_literals = st.one_of(
    st.floats(-1e3, 1e3).map(repr), st.integers(-10, 10**4).map(str),
    st.sampled_from(["1e999", "-1e999", "nan", "0x" + "f" * 5000, "1" + "0" * 308,
                     "1" + "0" * 309, "9" * 5000, "True", "None", "'cos'", "'linear'",
                     "'\\udcff'", "b'1'", "1j", "...", "x", "[]", "()", "{}", "1 + 1",
                     "lambda: 1", "*[1]", "**{}"]))


def _call_text(kids):
    return st.builds(
        lambda name, args, kws: f"{name}({', '.join(args + [f'{k}={v}' for k, v in kws])})",
        st.sampled_from(_spec_names), st.lists(kids, max_size=4),
        st.lists(st.tuples(st.sampled_from(["lr", "total_steps", "warmup_steps", "schedule",
                                            "gamma", "final_lr", "mode", "lr"]), kids),
                 max_size=3))


spec_texts = st.one_of(
    st.recursive(spec_literals, lambda kids: st.one_of(
        _call_text(kids), st.lists(kids, max_size=3).map(lambda xs: f"[{', '.join(xs)}]")),
        max_leaves=10).filter(lambda t: "(" in t),
    sched_args.map(lambda a: __import__("json").dumps(a.config)),
    configs.map(lambda c: __import__("json").dumps(c, default=repr)),
    st.text(max_size=40),
    st.builds(lambda k, d: "Scaled(" * d + "Constant(1)" + ", 1)" * d if k else
              "MultiStep(0.1, " + "[" * d + "1" + "]" * d + ")",
              st.booleans(), st.sampled_from([30, 33, 100, 199, 500])),
    st.sampled_from(['{"class": "Cosine", "lr": 0.1, "total_steps": 10, "total_steps": 20}',
                     '{"a": ' + "[" * 4000 + "]" * 4000 + "}", "[" * 10001]),
)


@fuzz
@given(text=spec_texts)
def test_spec_parser(worker, text):
    case = {"op": "spec", "text": text}
    check(case, worker.run(case))


# ---- known hostile inputs, always run (each found by the fuzzers above) ------------------

def _kernel_none_cases():
    """Every kernel with one array argument None (in turn), the rest valid."""
    required = {"lr": 0.1, "step": 1, "ckp1": 0.5, "momentum": 0.9, "weight": 0.5}
    cases = {}
    for name in KERNELS:
        if name.endswith("_threads"):
            continue
        sig = inspect.signature(getattr(ref.kernels, name))
        arrays_ = [p for p in sig.parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD]
        kwargs = {p.name: required[p.name] for p in sig.parameters.values()
                  if p.kind == p.KEYWORD_ONLY and p.default is p.empty}
        for i, p in enumerate(arrays_):
            if p.default is None:
                continue      # None is a valid value there
            args = [None if j == i else Arr([1.0, 2.0, 3.0]) for j in range(len(arrays_))]
            cases[f"{name}-{p.name}-None"] = {"op": "kernel", "name": name, "args": args,
                                              "kwargs": kwargs}
    return cases


KNOWN = dict(_kernel_none_cases(), **{
    "deep-Scaled-call": {"op": "sched_call", "schedule": Deep("scaled", 100_000), "t": 3,
                         "n": 3, "probe": True},
    "deep-Warmup-call": {"op": "sched_call", "schedule": Deep("warmup", 20_000), "t": 3,
                         "n": 3, "probe": True},
    "deep-Sequence-call": {"op": "sched_call", "schedule": Deep("sequence", 20_000), "t": 3,
                           "n": 3, "probe": True},
    "deep-config": {"op": "from_config", "config": DeepConfig("scaled", 100_000)},
    "deep-list-config": {"op": "from_config", "config": DeepConfig("list", 100_000)},
    "values-huge-n": {"op": "sched_call", "schedule": Sched({"class": "Constant", "lr": 0.1}),
                      "t": 3, "n": Huge(1, 5000), "probe": False},
    "call-huge-t": {"op": "sched_call", "schedule": Sched({"class": "Constant", "lr": 0.1}),
                    "t": Huge(1, 5000), "n": 3, "probe": False},
    "plateau-huge-metric": {"op": "plateau", "args": [0.1], "kwargs": {},
                            "actions": [("update", Huge(1, 5000)), ("update", 10**400)]},
    "ctor-huge-lr": {"op": "sched_ctor", "name": "Cosine", "args": [Huge(1, 5000), 10],
                     "kwargs": {}},
    "ctor-huge-milestone": {"op": "sched_ctor", "name": "MultiStep",
                            "args": [0.1, [1, Huge(1, 5000)]], "kwargs": {}},
    "find_lr-huge-loss": {"op": "find_lr", "kwargs": {"num_steps": 3},
                          "losses": [Huge(1, 5000)]},
    "find_lr-extreme-range": {"op": "find_lr", "kwargs": {"start_lr": 1e-300, "end_lr": 1e300},
                              "losses": [1.0]},
    "spec-duplicate-keyword": {"op": "spec",
                               "text": "Cosine(lr=0.1, total_steps=10, total_steps=20)"},
    "spec-huge-hex": {"op": "spec", "text": "Cosine(lr=0x" + "f" * 5000 + ", total_steps=10)"},
    "SGD-grads-None": {"op": "optimizer", "name": "SGD", "params": [Arr([1.0, 2.0], key=0)],
                       "args": [], "kwargs": {"lr": 0.1}, "actions": [("step", [None], False)]},
    "kernel-unaligned": {"op": "kernel", "name": "adam",
                         "args": [Arr([1.0] * 9, layout="unaligned"), Arr([1.0] * 9),
                                  Arr([0.0] * 9, layout="unaligned"), Arr([0.0] * 9)],
                         "kwargs": {"lr": 0.1, "step": 1}},
})


@pytest.mark.parametrize("name", list(KNOWN))
def test_known_hostile_cases(worker, name):
    case = KNOWN[name]
    tol = "optimizer" if case["op"] in ("kernel", "optimizer") else "schedule"
    check(case, worker.run(case), tol=tol)


# ---- the harness itself ---------------------------------------------------------------

def test_harness_reports_a_crash_and_a_hang(worker):
    # a case that segfaults in the compiled backend's turn (a deliberate NULL read through
    # ctypes), then one that hangs: both are reported, and the worker keeps serving
    crash = {"op": "_selftest_crash"}
    reply = worker.run(crash)
    assert reply["status"] == "crashed" and reply["signal"] == 11, reply
    assert "Fatal Python error" in reply["stderr"]
    with pytest.raises(AssertionError, match="CRASHED in the compiled backend at crash"):
        check(crash, reply)
    reply = worker.run({"op": "_selftest_hang", "timeout": 1.0})
    assert reply["status"] == "hung", reply
    assert "Timeout" in reply["stderr"]
    ok = {"op": "spec", "text": "Cosine(0.1, 10)"}
    check(ok, worker.run(ok))
