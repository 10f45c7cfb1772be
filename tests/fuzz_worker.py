"""The child side of tests/test_fuzz_isolated.py: runs fuzz cases where a crash is safe.

One persistent worker process (started by the test with ``python -c "import fuzz_worker;
fuzz_worker.main()"``) imports fastlr once and then serves cases read from stdin, each on
both backends. A segfault, an abort or a hang ends the worker, not pytest: the test sees
the pipe close, reads the worker's stderr file (faulthandler's traceback, and the
``fuzz: <backend> backend: <label>`` line written before every call, so the last one
names what crashed), reports the case and starts a new worker. faulthandler's watchdog
turns a case running over its timeout into a traceback and exit status 1 ("hung").
With ``FASTLR_FUZZ_FORK=1`` each case runs in a ``fork()`` of the worker instead
(slower on a loaded machine, but no case can leave state behind for the next).

Protocol (both ways): an 8-byte little-endian length, then a pickle. A case is a dict
``{"op": name, ...}`` whose values may hold the descriptors below, which the worker turns
into fresh objects of each backend (arrays with odd layouts and aliasing do not survive
pickling, a schedule must be built by the backend under test, and an int of over 4300
digits cannot be repr'd by hypothesis). The reply is ``{"status": "ok" | "crashed" |
"hung", "results": {"reference": [...], "compiled": [...]}, "signal", "exitcode",
"stderr"}``; each result list holds ``(label, outcome)`` pairs, an outcome being
``("ok", summary)``, ``("raised", type name, message)`` for a ValueError/TypeError, or
``("bad", type name, message, traceback)`` for anything else. The reference backend
runs first.
"""
from __future__ import annotations

import copy
import math
import os
import pickle
import select
import signal
import struct
import sys
import tempfile
import time
import traceback
import warnings

import numpy as np

FRAME = struct.Struct("<Q")
ALLOWED = (ValueError, TypeError)
#: seconds one case (both backends) may take before it counts as a hang
CASE_TIMEOUT = float(os.environ.get("FASTLR_FUZZ_TIMEOUT", "10"))
PROBE_STEPS = [0, 1, 2.5, 10, 1000, 1e6, 1e12]


# ---- descriptors (built in the parent by hypothesis, made real in the fork) ------------

class Arr:
    """An ndarray made fresh for each backend: ``values`` (flat) in ``dtype``, shaped and
    laid out by ``layout``; arrays with the same ``key`` in one case are one object."""

    def __init__(self, values, dtype="f8", layout="plain", key=None):
        self.values, self.dtype, self.layout, self.key = list(values), dtype, layout, key

    def __repr__(self):
        key = "" if self.key is None else f", key={self.key!r}"
        return f"Arr({self.values!r}, {self.dtype!r}, {self.layout!r}{key})"

    def make(self):
        kind = np.dtype(self.dtype)
        try:
            base = np.asarray(self.values, dtype=np.float64).astype(kind)
        except (TypeError, ValueError, OverflowError):
            base = np.asarray(self.values, dtype=object).astype(kind)
        n = base.size
        lay = self.layout
        if lay == "plain":
            return base
        if lay == "ro":
            base.flags.writeable = False
            return base
        if lay == "view":          # every other element: not contiguous
            return np.repeat(base, 2)[::2]
        if lay == "reversed":
            return base[::-1]
        if lay == "fortran":
            return np.asfortranarray(np.repeat(base, 2).reshape(n, 2))
        if lay == "2d":
            return np.repeat(base, 3).reshape(n, 3)
        if lay == "0d":
            return np.asarray(base[0] if n else kind.type(0))
        if lay == "empty":
            return np.empty(0, dtype=kind)
        if lay == "empty2d":
            return np.empty((0, 3), dtype=kind)
        if lay == "broadcast":     # stride 0, read-only
            return np.broadcast_to(base[:1] if n else np.zeros(1, kind), (max(n, 1),))
        if lay == "unaligned" and kind.hasobject:
            return base            # (an object array cannot live in a raw buffer)
        if lay == "unaligned":     # a valid array at an odd address
            buf = np.zeros(n * kind.itemsize + 1, dtype=np.uint8)
            out = buf[1:].view(kind) if kind.itemsize > 1 else buf[1:]
            out[...] = base
            return out
        if lay == "list":
            return base.tolist()
        raise AssertionError(f"unknown layout {lay!r}")


class Alias:
    """The array made earlier in the same case under ``key`` (the same object)."""

    def __init__(self, key):
        self.key = key

    def __repr__(self):
        return f"Alias({self.key!r})"


class Sched:
    """A schedule of the backend under test, from its config."""

    def __init__(self, config):
        self.config = config

    def __repr__(self):
        return f"Sched({self.config!r})"


class Deep:
    """A schedule nested ``depth`` levels deep (built iteratively in the fork):
    ``kind`` 'scaled' (Scaled(Scaled(...))), 'warmup' or 'sequence'."""

    def __init__(self, kind, depth):
        self.kind, self.depth = kind, depth

    def __repr__(self):
        return f"Deep({self.kind!r}, {self.depth})"


class DeepConfig:
    """A config nested ``depth`` levels deep, built in the fork (see deep_config)."""

    def __init__(self, kind, depth):
        self.args = (kind, depth)

    def __repr__(self):
        return f"DeepConfig{self.args!r}"


class Huge:
    """An int of ``digits`` decimal digits (times ``sign``): made in the fork, because
    an int of over 4300 digits cannot be repr'd, and hypothesis reprs what it draws."""

    def __init__(self, sign, digits):
        self.sign, self.digits = sign, digits

    def __repr__(self):
        return f"Huge({self.sign}, {self.digits})"

    def make(self):
        return self.sign * 10 ** (self.digits - 1)


def _half(t):
    return 0.5


def _nan(t):
    return math.nan


def _str(t):
    return "x"


class Fn:
    """A harmless callable, by name (lambdas do not pickle)."""

    # module-level functions, so that a Lambda schedule over them pickles
    FUNCS = {"abs": abs, "sqrt": math.sqrt, "float": float, "half": _half, "nan": _nan,
             "str": _str}

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"Fn({self.name!r})"


def _deep(backend, kind, depth):
    """The deepest tree of ``kind`` up to ``depth`` levels that the library builds: trees
    past its depth limit are refused at construction (a ValueError that the constructor
    cases check), so every tree the harness hands on is one that must evaluate."""
    s = backend.Constant(0.1)
    for i in range(depth):
        try:
            if kind == "scaled":
                s = backend.Scaled(s, 1.0)
            elif kind == "warmup":
                s = backend.Warmup(s, 1)
            else:
                s = backend.Sequence([s, backend.Constant(0.1)], [1])
        except ValueError as exc:
            if "MAX_DEPTH" not in str(exc):
                raise
            break
    return s


def resolve(value, backend, memo):
    """Turn descriptors into objects of ``backend``; ``memo`` keys aliased arrays."""
    if isinstance(value, Arr):
        arr = value.make()
        if value.key is not None:
            memo[value.key] = arr
        return arr
    if isinstance(value, Alias):
        return memo.get(value.key)
    if isinstance(value, Sched):
        return backend.from_config(value.config)
    if isinstance(value, Deep):
        return _deep(backend, value.kind, value.depth)
    if isinstance(value, Fn):
        return Fn.FUNCS[value.name]
    if isinstance(value, Huge):
        return value.make()
    if isinstance(value, list):
        return [resolve(x, backend, memo) for x in value]
    if isinstance(value, tuple):
        return tuple(resolve(x, backend, memo) for x in value)
    if isinstance(value, dict):
        return {k: resolve(x, backend, memo) for k, x in value.items()}
    return value


# ---- outcomes -------------------------------------------------------------------------

def _text(exc):
    try:
        text = str(exc)
    except Exception as inner:  # noqa: BLE001 - the message itself failed to build
        return f"<str() of the exception raised {type(inner).__name__}: {inner}>"
    return text if len(text) <= 2000 else text[:2000] + "..."


def outcome(fn, /, *args, **kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ("ok", fn(*args, **kwargs))
    except ALLOWED as exc:
        return ("raised", type(exc).__name__, _text(exc))
    except Exception as exc:  # noqa: BLE001 - anything else is what the fuzzer looks for
        # the last frames only: formatting a RecursionError's thousand frames takes seconds
        return ("bad", type(exc).__name__, _text(exc), traceback.format_exc(limit=-12)[-3000:])


def summary(x):
    """A picklable, comparable view of a result."""
    from fastlr.reference import Schedule
    if isinstance(x, Schedule):
        return ("schedule", type(x).__name__)
    if isinstance(x, np.ndarray):
        return x.copy() if x.dtype.kind in "biufc" else ("array", str(x.dtype), x.shape)
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, float, np.integer, np.floating)):
        return float(x)
    if x is None or isinstance(x, str):
        return x
    if isinstance(x, (list, tuple)):
        return [summary(y) for y in x]
    return ("object", type(x).__name__)


class Log:
    """The (label, outcome) entries of one backend's run of a case."""

    def __init__(self, backend_name=""):
        self.entries = []
        self.name = backend_name

    def run(self, label, fn, /, *args, **kwargs):
        # on stderr before the call (unbuffered): a crash report ends with what crashed
        os.write(2, f"fuzz: {self.name} backend: {label}\n".encode("utf-8", "replace"))
        out = outcome(fn, *args, **kwargs)
        if out[0] == "ok":
            value = out[1]
            self.entries.append((label, ("ok", summary(value))))
            return True, value
        self.entries.append((label, out))
        return False, None

    def add(self, label, value):
        self.entries.append((label, ("ok", summary(value))))


def _arrays(x):
    """Every ndarray inside ``x`` (lists, tuples, group dicts), in order."""
    out, stack = [], [x]
    while stack:
        y = stack.pop()
        if isinstance(y, np.ndarray):
            out.append(y)
        elif isinstance(y, (list, tuple)):
            stack.extend(reversed(y))
        elif isinstance(y, dict):
            stack.extend(reversed(list(y.values())))
    return out


def _snapshot(arrays):
    return [a.copy() for a in arrays]


def _unchanged(arrays, before):
    """Bit for bit (NaN and NaT included; object arrays by identity of the elements)."""
    return all(a.shape == b.shape and a.tobytes() == b.tobytes()
               for a, b in zip(arrays, before))


# ---- the operations -------------------------------------------------------------------

def op_sched_ctor(backend, case, log):
    """Build a schedule from fuzzed arguments; if it builds, probe everything."""
    memo = {}
    fn = getattr(backend, case["name"])
    ok, s = log.run("build", fn, *resolve(case["args"], backend, memo),
                    **resolve(case["kwargs"], backend, memo))
    if not ok:
        return
    _probe(s, backend, log, case)


def _probe(s, backend, log, case):
    import pickle as pk
    for t in PROBE_STEPS:
        log.run(f"s({t!r})", s, t)
    log.run("s(array)", s, np.asarray(PROBE_STEPS))
    log.run("values(7)", s.values, 7)
    log.run("repr", repr, s)
    log.run("hash", lambda: hash(s) == hash(s))
    ok, config = log.run("to_config", s.to_config)
    if ok:
        log.run("from_config == s", lambda: backend.from_config(config) == s)
        import fastlr
        log.run("compiled twin == s", lambda: fastlr.from_config(config).to_config() == config)
    log.run("pickle", lambda: pk.loads(pk.dumps(s)) == s)
    if hasattr(s, "momentum") and "momentum" in case:
        margs, mkw = case["momentum"]
        ok, m = log.run("momentum", s.momentum, *margs, **mkw)
        if ok:
            log.run("momentum.values(5)", m.values, 5)


def op_sched_call(backend, case, log):
    """Call a schedule with an odd step; values(n) with an odd n."""
    memo = {}
    ok, s = log.run("build", resolve, case["schedule"], backend, memo)
    if not ok:
        return
    t = resolve(case["t"], backend, memo)
    before = t.copy() if isinstance(t, np.ndarray) else None
    ok, y = log.run("s(t)", s, t)
    if ok:
        log.add("type(s(t))", type(y).__name__)
        if isinstance(y, np.ndarray):
            log.add("s(t).dtype,shape", [str(y.dtype), list(y.shape)])
    if before is not None:
        log.add("input unchanged", _unchanged([t], [before]))
    n = resolve(case["n"], backend, memo)
    log.run("values(n)", s.values, n)
    if case.get("probe"):
        _probe(s, backend, log, case)


def deep_config(kind, depth):
    """A config nested ``depth`` levels deep (too deep to pickle): 'scaled' wraps
    Scaled around Constant; 'list' nests a list in ``values``."""
    if kind == "list":
        inner = [0.1]
        for _ in range(depth):
            inner = [inner]
        return {"class": "PiecewiseConstant", "boundaries": [], "values": inner}
    config = {"class": "Constant", "lr": 0.1}
    for _ in range(depth):
        config = {"class": "Scaled", "schedule": config, "factor": 1.0}
    return config


def op_from_config(backend, case, log):
    config = case["config"]
    config = deep_config(*config.args) if isinstance(config, DeepConfig) else \
        copy.deepcopy(config)
    ok, s = log.run("from_config", backend.from_config, config)
    if ok:
        log.run("values(3)", s.values, 3)


def op_optimizer(backend, case, log):
    """Build an optimizer on fuzzed params, step it with fuzzed grads, save and load
    (possibly hostile) state dicts; a failing step or load must change nothing."""
    memo = {}
    params = resolve(case["params"], backend, memo)
    ok, opt = log.run("build", getattr(backend, case["name"]), params,
                      *resolve(case["args"], backend, memo),
                      **resolve(case["kwargs"], backend, memo))
    if not ok:
        return
    arrays = _arrays(params)
    for i, action in enumerate(case["actions"]):
        kind = action[0]
        if kind == "step":
            grads = resolve(action[1], backend, memo)
            before = _snapshot(arrays)
            ok, _ = log.run(f"step {i}", opt.step, grads, skip_nonfinite=action[2])
            log.add(f"params after step {i}", [a.copy() for a in arrays])
            if not ok:
                log.add(f"step {i} wrote nothing", _unchanged(arrays, before))
            log.run(f"last_lr {i}", lambda: opt.last_lr)
        elif kind == "save_load":
            ok, sd = log.run(f"state_dict {i}", opt.state_dict)
            if not ok:
                continue
            hostile = mutate(copy.deepcopy(sd), action[1], resolve(action[2], backend, memo))
            before = _snapshot(arrays)
            ok2, sd_before = log.run(f"state_dict before load {i}", opt.state_dict)
            ok, _ = log.run(f"load_state_dict {i}", opt.load_state_dict, hostile)
            if not ok and ok2:
                log.add(f"load {i} changed nothing",
                        _unchanged(arrays, before) and _same_tree(opt.state_dict(), sd_before))
        elif kind == "eval_train" and hasattr(opt, "eval_params"):
            log.run(f"eval_params {i}", opt.eval_params)
            log.add(f"params after eval {i}", [a.copy() for a in arrays])
            log.run(f"train_params {i}", opt.train_params)
            log.add(f"params after train {i}", [a.copy() for a in arrays])


def _leaves(tree):
    """Paths to every leaf and container of a state dict, in a fixed order."""
    paths, stack = [], [((), tree)]
    while stack:
        path, node = stack.pop()
        paths.append(path)
        if isinstance(node, dict):
            stack.extend((path + (k,), node[k]) for k in reversed(list(node)))
        elif isinstance(node, list):
            stack.extend((path + (j,), node[j]) for j in reversed(range(len(node))))
    return paths


def mutate(tree, how, value):
    """``how``: None (the state dict as saved), ``("set", k)``: replace the k-th node
    (mod the node count) by ``value``, ``("del", k)``: delete it, ``("add", k)``: add a
    key ``'bogus'`` to the k-th dict, ``("whole",)``: ``value`` instead of the dict."""
    if how is None:
        return tree
    if how[0] == "whole":
        return value
    paths = [p for p in _leaves(tree) if p]
    if how[0] == "add":
        dicts = [p for p in _leaves(tree) if isinstance(_get(tree, p), dict)]
        if dicts:
            _get(tree, dicts[how[1] % len(dicts)])["bogus"] = value
        return tree
    if not paths:
        return value
    path = paths[how[1] % len(paths)]
    parent = _get(tree, path[:-1])
    if how[0] == "set":
        parent[path[-1]] = value
    else:
        del parent[path[-1]]
    return tree


def _get(tree, path):
    for k in path:
        tree = tree[k]
    return tree


def _same_tree(a, b):
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
                    and x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True)):
                return False
        elif isinstance(x, dict):
            if not isinstance(y, dict) or list(x) != list(y):
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, (list, tuple)):
            if type(x) is not type(y) or len(x) != len(y):
                return False
            stack.extend(zip(x, y))
        elif not (x == y or (x != x and y != y)):
            return False
    return True


def op_kernel(backend, case, log):
    """Call one fastlr.kernels function on fuzzed arrays; a failure writes nothing."""
    memo = {}
    kernels = backend.kernels if hasattr(backend, "kernels") else None
    if kernels is None:
        import importlib
        kernels = importlib.import_module(backend.__name__ + ".kernels")
    args = resolve(case["args"], backend, memo)
    kwargs = resolve(case["kwargs"], backend, memo)
    arrays = _arrays(args)
    before = _snapshot(arrays)
    fn = getattr(kernels, case["name"])
    ok, _ = log.run("call", fn, *args, **kwargs)
    log.add("arrays after", [a.copy() for a in arrays])
    if not ok:
        log.add("wrote nothing", _unchanged(arrays, before))


def op_plateau(backend, case, log):
    memo = {}
    ok, p = log.run("build", backend.ReduceOnPlateau, *resolve(case["args"], backend, memo),
                    **resolve(case["kwargs"], backend, memo))
    if not ok:
        return
    for i, action in enumerate(case["actions"]):
        if action[0] == "update":
            log.run(f"update {i}", p.update, resolve(action[1], backend, memo))
            log.run(f"lr {i}", lambda: p.lr)
            log.run(f"in_cooldown {i}", lambda: p.in_cooldown)
        else:
            ok, sd = log.run(f"state_dict {i}", p.state_dict)
            if ok:
                hostile = mutate(copy.deepcopy(sd), action[1], resolve(action[2], backend, memo))
                ok, _ = log.run(f"load_state_dict {i}", p.load_state_dict, hostile)
                if not ok:
                    log.add(f"load {i} changed nothing", _same_tree(p.state_dict(), sd))
                log.run(f"lr after load {i}", lambda: p.lr)


def op_find_lr(backend, case, log):
    losses = resolve(case["losses"], backend, {})
    calls = []

    def step_fn(lr):
        calls.append(lr)
        return losses[(len(calls) - 1) % len(losses)] if losses else 1.0

    ok, r = log.run("find_lr", backend.find_lr, step_fn, **resolve(case["kwargs"], backend, {}))
    log.add("lrs passed to step_fn", np.asarray(calls, dtype=np.float64))
    if ok:
        log.add("result", [r.lrs, r.losses, r.smoothed, r.stop_reason])
        for name in ("suggestion", "valley", "steepest", "minimum"):
            log.run(name, lambda: getattr(r, name))
        log.run("repr", repr, r)


def op_spec(backend, case, log):
    from fastlr.tools.spec import parse_spec
    ok, s = log.run("parse_spec", parse_spec, case["text"], backend)
    if ok:
        log.run("values(5)", s.values, 5)


def op_selftest_crash(backend, case, log):
    """Segfault in the compiled backend's turn (tests the harness, not fastlr)."""
    import ctypes
    log.run("crash", lambda: ctypes.string_at(0) if backend.BACKEND == "compiled" else True)


def op_selftest_hang(backend, case, log):
    """Never return (tests the harness's timeout)."""
    while True:
        time.sleep(0.01)


OPS = {"_selftest_crash": op_selftest_crash, "_selftest_hang": op_selftest_hang,
       "sched_ctor": op_sched_ctor, "sched_call": op_sched_call,
       "from_config": op_from_config, "optimizer": op_optimizer, "kernel": op_kernel,
       "plateau": op_plateau, "find_lr": op_find_lr, "spec": op_spec}


# ---- the worker loop ------------------------------------------------------------------

def _read(fd, n):
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _write(fd, obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    data = FRAME.pack(len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def _recv(fd):
    (n,) = FRAME.unpack(_read(fd, FRAME.size))
    return pickle.loads(_read(fd, n))


def _both(case):
    """Run ``case`` on the reference backend, then the compiled one; yields
    ``(backend name, entries)`` as each finishes."""
    import fastlr
    import fastlr.reference

    only = case.get("backends")
    for name, backend in (("reference", fastlr.reference), ("compiled", fastlr)):
        if only and name not in only:
            continue
        log = Log(name)
        try:
            OPS[case["op"]](backend, case, log)
        except BaseException as exc:  # noqa: BLE001 - a bug of the harness or the library
            log.entries.append(("harness", ("bad", type(exc).__name__, _text(exc),
                                            traceback.format_exc(limit=-12)[-3000:])))
        try:
            pickle.dumps(log.entries)
        except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable summary
            log.entries = [("harness", ("bad", type(exc).__name__, _text(exc),
                                        "while pickling the results"))]
        yield name, log.entries


def _watchdog(case):
    """A hang dumps every thread's traceback to stderr and exits with status 1."""
    import faulthandler
    faulthandler.dump_traceback_later(max(case.get("timeout", CASE_TIMEOUT) - 1.0, 0.5),
                                      exit=True)


def _child(case, out_fd, err_path):
    """In the fork: run the case on both backends, sending each result as it is done."""
    import faulthandler

    err = open(err_path, "w")
    os.dup2(err.fileno(), 2)
    faulthandler.enable(file=sys.stderr, all_threads=True)
    _watchdog(case)
    for name, entries in _both(case):
        _write(out_fd, (name, entries))
    os._exit(0)


def run_inline(case, err_fd):
    """Run ``case`` in this process (the default: no fork per case, so no scheduling
    round trips). A crash or a hang ends the worker; the test then reads what crashed
    from the stderr file (faulthandler's traceback and the last ``fuzz:`` label) and
    starts a new worker."""
    import faulthandler
    try:  # only this case's output is kept (stderr is a file the test reads)
        os.ftruncate(err_fd, 0)
        os.lseek(err_fd, 0, os.SEEK_SET)
    except OSError:
        pass
    _watchdog(case)
    try:
        results = dict(_both(case))
    finally:
        faulthandler.cancel_dump_traceback_later()
    return {"status": "ok", "results": results, "signal": None, "exitcode": None,
            "stderr": ""}


def run_case(case):
    """Fork, run ``case`` in the fork, and report what happened to it."""
    r, w = os.pipe()
    fd, err_path = tempfile.mkstemp(prefix="fastlr-fuzz-", suffix=".err")
    os.close(fd)
    pid = os.fork()
    if pid == 0:  # the fork
        os.close(r)
        try:
            _child(case, w, err_path)
        finally:
            os._exit(70)
    os.close(w)
    results, buf, status = {}, b"", "ok"
    deadline = time.monotonic() + case.get("timeout", CASE_TIMEOUT) + 2.0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            status = "hung"
            os.kill(pid, signal.SIGKILL)
            break
        ready, _, _ = select.select([r], [], [], left)
        if not ready:
            continue
        chunk = os.read(r, 1 << 20)
        if not chunk:
            break
        buf += chunk
        while len(buf) >= FRAME.size:
            (n,) = FRAME.unpack(buf[:FRAME.size])
            if len(buf) < FRAME.size + n:
                break
            name, entries = pickle.loads(buf[FRAME.size:FRAME.size + n])
            results[name] = entries
            buf = buf[FRAME.size + n:]
    os.close(r)
    _, code = os.waitpid(pid, 0)
    sig = os.WTERMSIG(code) if os.WIFSIGNALED(code) else None
    exitcode = os.WEXITSTATUS(code) if os.WIFEXITED(code) else None
    if status == "ok" and (sig is not None or exitcode != 0):
        # faulthandler's timeout exits with status 1 after dumping the traceback
        status = "hung" if exitcode == 1 and "Timeout" in _tail(err_path) else "crashed"
    stderr = _tail(err_path)
    os.unlink(err_path)
    return {"status": status, "results": results, "signal": sig, "exitcode": exitcode,
            "stderr": stderr}


def _tail(path, limit=4000):
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return ""
    return text[-limit:]


def main():
    """Serve cases until stdin closes. ``FASTLR_FUZZ_STDERR`` names the file that
    stderr goes to; ``FASTLR_FUZZ_FORK=1`` runs each case in a fork of this process
    (slower, but no case can leave state behind for the next one)."""
    import faulthandler
    # the protocol owns the original stdin/stdout; everything else that prints (numpy,
    # warnings, the library) goes to stderr
    proto_in, proto_out = os.dup(0), os.dup(1)
    err_path = os.environ.get("FASTLR_FUZZ_STDERR")
    if err_path:
        err_fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(err_fd, 2)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    fork = os.environ.get("FASTLR_FUZZ_FORK") == "1"
    import fastlr            # noqa: F401  (imported once, inherited by every fork)
    import fastlr.reference  # noqa: F401
    import fastlr.tools.spec  # noqa: F401  (the SPEC cases)
    if not fork:
        faulthandler.enable(file=sys.stderr, all_threads=True)
    _write(proto_out, {"ready": os.getpid(), "fork": fork})
    while True:
        try:
            case = _recv(proto_in)
        except EOFError:
            return
        _write(proto_out, run_case(case) if fork else run_inline(case, 2))
