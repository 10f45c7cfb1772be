"""Regression tests for the schedule half of the trust issue (issue 10), on both backends.

Each item of the issue has a test here: deep trees, forked children, bounded searches,
Ctrl-C in long loops, a finite exponential warmup, exact int steps and boundaries,
checked plateau state, huge ints in messages, checked Lambda results, checked
``values(n)``, and schedules shared by threads. Anything that crashed or hung before
runs in a child process with a timeout, so a regression fails the test instead of
killing (or stalling) pytest.
"""
import copy
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import fastlr
import fastlr.reference as ref
from fastlr import _schedule, _threads
from fastlr import _validate as v

ROOT = str(Path(fastlr.__file__).resolve().parent.parent)
BACKEND_NAMES = ["fastlr", "fastlr.reference"]


def child_env():
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


def run_child(code, timeout=60, args=None):
    """Run ``code`` (or the command ``args``) in a fresh interpreter that imports this
    checkout; a hang or a crash fails the calling test (a timeout raises, a signal shows
    in the return code). On a timeout the child's whole process group is killed, so a
    hung grandchild (a forked one) does not outlive the test."""
    args = args or [sys.executable, "-c", textwrap.dedent(code)]
    posix = hasattr(os, "killpg")
    child = subprocess.Popen(args, env=child_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=posix)
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        if posix:
            os.killpg(child.pid, signal.SIGKILL)
        else:
            child.kill()
        out, err = child.communicate()
        raise AssertionError(f"child timed out after {timeout} s:\n{out}\n{err}") from None
    return subprocess.CompletedProcess(args, child.returncode, out, err)


def assert_child_ok(proc, expect):
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    assert expect in proc.stdout, proc.stdout + proc.stderr


# -- deep trees ------------------------------------------------------------------------------

def deepest(fl):
    """A tree exactly MAX_DEPTH levels deep, alternating Scaled and Warmup."""
    s = fl.Constant(0.5)
    for i in range(v.MAX_DEPTH - 1):
        s = fl.Warmup(s, 2) if i % 2 else s * 1.0
    return s


def test_max_depth_tree_works_everywhere(fl):
    s = deepest(fl)
    assert s._depth == v.MAX_DEPTH
    # every walk: evaluation, equality, hash, repr, config (and JSON), pickle
    assert s(0) == 0.0 and s(10**6) == 0.5
    assert s.values(3).tolist() == [s(0), s(1), s(2)]
    twin = copy.copy(s)
    assert s == twin and hash(s) == hash(twin)
    assert repr(s).startswith("Scaled(schedule=Warmup(schedule=Scaled(")
    config = json.loads(json.dumps(s.to_config()))
    assert fl.from_config(config) == s
    assert pickle.loads(pickle.dumps(s)) == s


def test_max_depth_compiled_matches_reference():
    c, r = deepest(fastlr), deepest(ref)
    ts = np.array([0, 1, 7, 98, 99, 100, 101, 150, 199, 200, 201, 1000])
    np.testing.assert_allclose(c(ts), r(ts), rtol=0, atol=1e-12)
    np.testing.assert_allclose(c.values(250), r.values(250), rtol=0, atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda fl, s: s * 1.0,
    lambda fl, s: fl.Warmup(s, 1),
    lambda fl, s: fl.Sequence([fl.Constant(1.0), s], [3]),
    lambda fl, s: fl.Lambda(s),
], ids=["scaled", "warmup", "sequence", "lambda"])
def test_one_past_max_depth_is_a_clear_error(fl, make):
    s = deepest(fl)
    with pytest.raises(ValueError, match=r"100 levels deep.*limit of 100"):
        make(fl, s)


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_the_issue_loop_raises_instead_of_crashing(backend):
    # was: a segfault in s(0) (unbounded recursion in the flattening and the C evaluator)
    proc = run_child(f"""
        import {backend} as fl
        s = fl.Constant(0.1)
        try:
            for i in range(100_000):
                s = s * 1.0
        except ValueError as e:
            print("stopped at", i, s._depth, "|", e)
        print("value", s(0), s.values(2).tolist())
    """)
    assert_child_ok(proc, "stopped at 99 100 | schedule is a schedule tree 100 levels deep")
    assert "value 0.1 [0.1, 0.1]" in proc.stdout


def test_deep_or_cyclic_configs_are_value_errors(fl):
    config = {"class": "Constant", "lr": 1.0}
    for _ in range(1000):
        config = {"class": "Scaled", "schedule": config, "factor": 1.0}
    with pytest.raises(ValueError, match="more than 100 levels deep"):
        fl.from_config(config)
    loop = {"class": "Scaled", "factor": 1.0}
    loop["schedule"] = loop
    with pytest.raises(ValueError, match="more than 100 levels deep"):
        fl.from_config(loop)
    nested = {"class": "Sequence", "boundaries": []}
    inner = []
    nested["schedules"] = inner
    for _ in range(1000):
        inner.append([])
        inner = inner[0]
    with pytest.raises(ValueError, match="lists more than 100 levels deep"):
        fl.from_config(nested)


# -- forked children ------------------------------------------------------------------------

FORK_PRELUDE = """
    import os, sys, multiprocessing as mp
    import numpy as np
    import fastlr
    from fastlr import _schedule
    s = fastlr.warmup_cosine(1.0, 1000, 2**19)
    expect = s.values(2**19)              # >= 2**18 steps: the parallel path, in the parent
    expect_pts = s(np.arange(2**19) * 0.5)

    def work(q=None):
        ok = (np.array_equal(s.values(2**19), expect)
              and np.array_equal(s(np.arange(2**19) * 0.5), expect_pts)
              and _schedule._get_threads() == 1)
        if q is not None:
            q.put(ok)
        return ok
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_os_fork_child_after_parallel_values():
    proc = run_child(FORK_PRELUDE + """
    pid = os.fork()
    if pid == 0:
        os._exit(0 if work() else 1)
    _, status = os.waitpid(pid, 0)
    print("child status", status)
    """, timeout=60)
    assert_child_ok(proc, "child status 0")


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_child_after_parallel_values(method):
    if method not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    # spawn imports the main module in the child: the work function must be importable,
    # so the child script is a file with a __main__ guard
    script = textwrap.dedent(FORK_PRELUDE) + textwrap.dedent(f"""
    if __name__ == "__main__":
        ctx = mp.get_context("{method}")
        q = ctx.Queue()
        p = ctx.Process(target=work, args=(q,))
        p.start()
        ok = q.get(timeout=60)
        p.join(60)
        print("child ok", ok, p.exitcode)
    """)
    if method == "spawn":  # a spawned child is a fresh process: its count is not 1
        script = script.replace("and _schedule._get_threads() == 1", "")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "child_main.py")
        path.write_text(script)
        proc = run_child(None, timeout=120, args=[sys.executable, str(path)])
    assert_child_ok(proc, "child ok True 0")


# -- threads: count, shared schedules --------------------------------------------------------

@pytest.fixture
def restore_threads():
    before = _threads.get_count()
    yield
    _threads.set_count(before)


def test_schedule_threads_follow_the_one_count(restore_threads):
    s = fastlr.warmup_cosine(1.0, 100, 2**20)
    _threads.set_count(1)
    assert _schedule._get_threads() == 1
    one = s.values(2**20)
    _threads.set_count(2)
    assert _schedule._get_threads() == 2
    for _ in range(3):  # whatever the back-off decides, the bits are the same
        assert np.array_equal(s.values(2**20), one)
        assert np.array_equal(s(np.arange(2**20, dtype=np.float64)), one)
    assert 0 <= _schedule._serial_backoff() <= 256


@pytest.mark.parametrize("backend", [fastlr, ref], ids=["compiled", "reference"])
def test_a_schedule_shared_by_threads(backend, restore_threads):
    _threads.set_count(2)
    make = lambda: backend.Sequence(  # noqa: E731
        [backend.warmup_cosine(1.0, 50, 700), backend.CosineRestarts(0.5, 30, 2.0)], [700])
    n = 2**18 + 5 if backend is fastlr else 3000
    ts = np.linspace(0, 5000, 4001)
    want_values, want_pts = make().values(n), make()(ts)
    want_scalars = [make()(t) for t in (0, 1, 699, 700, 701, 4999.5)]
    for _ in range(3):
        s = make()  # fresh: the threads race to build the compiled program too

        def job(i):
            if i % 3 == 0:
                return np.array_equal(s.values(n), want_values)
            if i % 3 == 1:
                return np.array_equal(s(ts), want_pts)
            return [s(t) for t in (0, 1, 699, 700, 701, 4999.5)] == want_scalars

        with ThreadPoolExecutor(6) as pool:
            assert all(pool.map(job, range(18)))


# -- bounded searches, interruptible loops ---------------------------------------------------

def test_cosine_restarts_search_ends_and_backends_agree():
    # was: the bisection stopped making progress past cycle 2**53 and never returned
    # (in C and in the reference alike), so both run in a child with a timeout
    proc = run_child("""
        import json, math
        import fastlr, fastlr.reference as ref
        out = {}
        for name, fl in (("compiled", fastlr), ("reference", ref)):
            s = fl.CosineRestarts(1.0, 2**-20, 1 + 2**-52)
            vals = [s(1e12), s(2.0**53), s(123456789.5)] + s([1e12, 2.0**40 + 0.25]).tolist()
            s2 = fl.CosineRestarts(1.0, 2**-20, 1 + 2**-40, cycle_decay=0.5)
            out[name] = vals + [s2(2.0**53)]
        print(json.dumps(out))
    """, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for vals in out.values():
        assert all(math.isfinite(x) and 0.0 <= x <= 1.0 for x in vals), vals
    np.testing.assert_allclose(out["compiled"], out["reference"], rtol=0, atol=1e-12)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX here")
@pytest.mark.parametrize("backend, n", [("fastlr", 10**9), ("fastlr.reference", 10**7)])
def test_ctrl_c_stops_a_long_values_call(backend, n):
    # Exponential's pow makes a step slow, so the chunk Ctrl-C lands in is small and the
    # child touches little memory before it stops
    code = f"""
        import sys, time
        import {backend} as fl
        s = fl.Exponential(1.0, 0.999999)
        s.values(10)
        print("ready", flush=True)
        t0 = time.perf_counter()
        try:
            s.values({n})
        except KeyboardInterrupt:
            print("interrupted after %.3f s" % (time.perf_counter() - t0), flush=True)
            sys.exit(7)
        print("finished", flush=True)
    """
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=child_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # well inside values(): the whole call takes minutes
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=20)  # a hang guard, not a timing assert
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 7, out + err
    assert "interrupted after" in out


# -- exponential warmup ---------------------------------------------------------------------

@pytest.mark.parametrize("start, peak", [(1e-310, 1.0), (5e-324, 3.0), (1e300, 1e-300),
                                          (1e-300, 1e300), (0.1, 1.0), (2.0, 0.0)])
def test_exponential_warmup_stays_finite(fl, start, peak):
    s = fl.Warmup(fl.Constant(peak), 10, start_lr=start, mode="exponential")
    got = s.values(12)
    assert np.all(np.isfinite(got))
    assert got[0] == start and got[10] == peak and got[11] == peak
    # geometric: the log rises (or falls) linearly from log(start) to log(peak)
    if peak > 0:
        t = np.arange(10)
        expect = np.exp(math.log(start) + (math.log(peak) - math.log(start)) * t / 10)
        np.testing.assert_allclose(got[:10], expect, rtol=1e-9, atol=0)
    else:
        assert np.all(got[1:] == 0.0)


def test_exponential_warmup_backends_agree():
    for start, peak in [(1e-310, 1.0), (1e300, 1e-300), (0.01, 2.0)]:
        c = fastlr.Warmup(fastlr.Constant(peak), 777, start_lr=start, mode="exponential")
        r = ref.Warmup(ref.Constant(peak), 777, start_lr=start, mode="exponential")
        np.testing.assert_allclose(c.values(800), r.values(800), rtol=1e-13, atol=0)


# -- ints above 2**53 --------------------------------------------------------------------------

@pytest.mark.parametrize("build", [
    lambda fl, b: fl.MultiStep(1.0, [b], gamma=0.5),
    lambda fl, b: fl.PiecewiseConstant([b], [1.0, 0.5]),
    lambda fl, b: fl.PiecewiseLinear([b - 1, b], [1.0, 0.5]),
    lambda fl, b: fl.Sequence([fl.Constant(1.0), fl.Constant(0.5)], [b]),
], ids=["multistep", "pwconst", "pwlinear", "sequence"])
def test_step_positions_are_at_most_2_pow_53(fl, build):
    for bad in (2**53 + 1, np.int64(2**53 + 1), np.uint64(2**64 - 1), 2.0**60, 10**5000):
        with pytest.raises(ValueError, match=r"must be <= 2\*\*53|must be finite"):
            build(fl, bad)
    s = build(fl, 2**53)  # the largest step is fine, and exact on both backends
    assert s(2**53 - 1) == 1.0 and s(2**53) == 0.5


def test_multistep_at_2_pow_53_agrees():
    for fl in (fastlr, ref):
        s = fl.MultiStep(1.0, [2**53 - 1, 2**53], gamma=0.5)
        assert [s(2**53 - 2), s(2**53 - 1), s(2**53)] == [1.0, 0.5, 0.25]


@pytest.mark.parametrize("step", [2**53 + 1, np.int64(2**53 + 1), np.uint64(2**53 + 1),
                                  np.int64(2**62), -1, np.int64(-1)])
def test_int_steps_of_every_type_alike(fl, step):
    s = fl.Cosine(1.0, 10)
    with pytest.raises(ValueError, match=r"must be a finite number in \[0, 2\*\*53\], got -?9?"):
        s(step)
    with pytest.raises(ValueError, match=r"steps must be a finite number in \[0, 2\*\*53\]"):
        s(np.array([0, 1, step], dtype=np.int64 if int(step) < 2**63 else np.uint64))
    for ok in (2**53, np.int64(2**53), np.uint64(2**53)):
        assert s(ok) == 0.0
    assert s(np.array([0, 2**53], dtype=np.int64)).tolist() == [1.0, 0.0]


def test_int_array_error_names_the_first_bad_entry(fl):
    s = fl.Constant(1.0)
    with pytest.raises(ValueError, match=r"got 9007199254740993$"):
        s(np.array([3, 2**53 + 1, -5], dtype=np.int64))
    with pytest.raises(ValueError, match=r"got -5$"):
        s(np.array([3, -5, 2**53 + 1], dtype=np.int64))


# -- ReduceOnPlateau state ----------------------------------------------------------------------

@pytest.mark.parametrize("key, value, exc, text", [
    ("scale", "x", TypeError, "state['scale'] must be a real number, got 'x'"),
    ("scale", -1.0, ValueError, "state['scale'] must be >= 0.0, got -1.0"),
    ("scale", math.nan, ValueError, "state['scale'] must be finite"),
    ("best", "low", TypeError, "state['best'] must be a real number, got 'low'"),
    ("best", math.nan, ValueError, "state['best'] must not be NaN"),
    ("num_bad_updates", 1.5, TypeError, "state['num_bad_updates'] must be an int, got 1.5"),
    ("cooldown_counter", -2, ValueError, "state['cooldown_counter'] must be >= 0, got -2"),
    ("num_updates", True, TypeError, "state['num_updates'] must be an int, got True"),
    ("t", -3, ValueError, "state['t'] must be a step in [0, 2**53], got -3"),
    ("t", "7", TypeError, "state['t'] must be a step (int or float), got '7'"),
    ("t", 10**5000, ValueError, "state['t'] must be a step in [0, 2**53], got <an int of 5001"),
], ids=lambda x: "huge" if isinstance(x, int) and x > 10**50 else None)
def test_plateau_load_state_dict_checks_everything_first(fl, key, value, exc, text):
    p = fl.ReduceOnPlateau(fl.Cosine(1.0, 100), patience=0)
    for m in (3.0, 2.0, 2.5, 2.6):
        p.update(m)
    before = p.state_dict()
    bad = dict(before, **{key: value})
    with pytest.raises(exc) as info:
        p.load_state_dict(bad)
    assert text in str(info.value)
    assert p.state_dict() == before  # nothing changed


def test_plateau_load_state_dict_shape(fl):
    p = fl.ReduceOnPlateau(0.1)
    state = p.state_dict()
    with pytest.raises(TypeError, match="state must be a dict"):
        p.load_state_dict([1, 2])
    with pytest.raises(ValueError, match=r"state is missing \['t'\]"):
        p.load_state_dict({k: val for k, val in state.items() if k != "t"})
    with pytest.raises(ValueError, match=r"unknown keys \['tt'\]"):
        p.load_state_dict(dict(state, tt=1))
    q = fl.ReduceOnPlateau(0.1, patience=0)
    q.update(1.0)
    q.update(2.0)
    p.load_state_dict(q.state_dict())
    assert p.state_dict() == q.state_dict() and p.lr == q.lr


# -- huge ints in messages ---------------------------------------------------------------------

HUGE = 16**5000


@pytest.mark.parametrize("call, text", [
    (lambda fl: fl.Cosine(lr=HUGE, total_steps=10),
     "lr must be finite, got <an int of 6021 digits>"),
    (lambda fl: fl.Cosine(1.0, total_steps=HUGE), "total_steps must be finite, got <an int of"),
    (lambda fl: fl.Cosine(1.0, 10)(10**5000), "got <an int of 5001 digits>"),
    (lambda fl: fl.Cosine(1.0, 10)(-10**5000), "got -<an int of 5001 digits>"),
    (lambda fl: fl.Cosine(1.0, 10).values(10**5000), "n must be <= 2**40, got <an int of 5001"),
    (lambda fl: fl.Cosine(1.0, 10).values(-10**5000), "n must be >= 0, got -<an int of 5001"),
    (lambda fl: fl.MultiStep(1.0, HUGE), "milestones must be a sequence of numbers, got <an int"),
    (lambda fl: fl.PiecewiseConstant([], [HUGE]), "values[0] must be finite, got <an int of"),
    (lambda fl: fl.Sequence([HUGE], []), "schedules[0] must be a fastlr schedule, got <an int"),
    (lambda fl: fl.Sequence([[HUGE]], []), "schedules[0] must be a fastlr schedule, got <list"),
    (lambda fl: fl.Lambda(HUGE), "fn must be callable, got <an int of 6021 digits> (int)"),
    (lambda fl: fl.Warmup(fl.Constant(1.0), 5, mode=HUGE), "mode must be a str"),
    (lambda fl: fl.from_config({"class": HUGE}), "must name a fastlr schedule, got <an int"),
    (lambda fl: fl.ReduceOnPlateau(1.0, patience=-HUGE), "patience must be >= 0, got -<an int"),
])
def test_huge_ints_make_readable_messages(fl, call, text):
    with pytest.raises((ValueError, TypeError)) as info:
        call(fl)
    assert text in str(info.value)


def test_show_keeps_messages_short():
    assert v.show(10**49) == repr(10**49)
    assert v.show(10**50) == "<an int of 51 digits>"
    assert v.show(-(10**60 - 1)) == "-<an int of 60 digits>"
    assert v.show(np.int64(7)) == repr(np.int64(7))
    assert v.show(list(range(1000))).endswith(" ...>") and len(v.show(list(range(1000)))) == 200

    class Broken:
        def __repr__(self):
            raise RuntimeError("no repr")

    assert v.show(Broken()) == "<Broken object>"


# -- Lambda results ------------------------------------------------------------------------------

@pytest.mark.parametrize("result, exc, text", [
    (10**400, ValueError, "returned <an int of 401 digits> at step 3.0; it must return a finite"),
    (math.nan, ValueError, "returned nan at step 3.0"),
    (math.inf, ValueError, "returned inf at step 3.0"),
    ("0.1", TypeError, "returned '0.1' (str) at step 3.0; it must return a real number"),
    (None, TypeError, "returned None (NoneType)"),
    (True, TypeError, "returned True (bool)"),
    ([0.1, 0.2], TypeError, "returned [0.1, 0.2] (list)"),
], ids=["huge-int", "nan", "inf", "str", "none", "bool", "list"])
def test_lambda_results_are_checked(fl, result, exc, text):
    def my_schedule(t):
        return result if t >= 3 else 0.1  # every call below reaches step 3 first

    s = fl.Lambda(my_schedule)
    for call in (lambda: s(3), lambda: s.values(5), lambda: fl.Warmup(s, 2)(5),
                 lambda: s(np.array([3.0]))):
        with pytest.raises(exc) as info:
            call()
        assert "Lambda fn <function" in str(info.value) and "my_schedule" in str(info.value)
        assert text in str(info.value)


def test_lambda_numeric_results_pass(fl):
    s = fl.Lambda(lambda t: np.float32(0.5) if t < 2 else 2)
    assert s.values(3).tolist() == [0.5, 0.5, 2.0]
    assert s(np.int64(1)) == 0.5


# -- values(n) ------------------------------------------------------------------------------------

@pytest.mark.parametrize("n, exc, text", [
    (2**63, ValueError, "n must be <= 2**40, got 9223372036854775808"),
    (2**40 + 1, ValueError, "n must be <= 2**40, got 1099511627777"),
    (np.uint64(2**64 - 1), ValueError, "n must be <= 2**40"),
    (-1, ValueError, "n must be >= 0, got -1"),
    (np.int64(-3), ValueError, "n must be >= 0, got -3"),
    (5.0, TypeError, "n must be an int, got 5.0 (float)"),
    (True, TypeError, "n must be an int, got True (bool)"),
    ("5", TypeError, "n must be an int, got '5' (str)"),
])
def test_values_n_is_checked_alike(fl, n, exc, text):
    for s in (fl.Cosine(1.0, 10), fl.Lambda(lambda t: 0.1)):
        with pytest.raises(exc) as info:
            s.values(n)
        assert str(info.value) == text or text in str(info.value)


def test_values_n_accepts_every_int_type(fl):
    s = fl.Linear(0.0, 1.0, 4)
    assert s.values(0).shape == (0,)
    assert s.values(np.int8(5)).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert s.values(np.uint64(2)).tolist() == [0.0, 0.25]
