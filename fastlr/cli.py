"""The ``fastlr`` command line (also ``python -m fastlr``).

Commands: ``table``, ``plot``, ``bench``, ``find-lr``, ``demo``; ``fastlr CMD --help``
describes each. A SPEC is a schedule as JSON (its ``to_config()`` form) or as a call
such as ``"warmup_cosine(peak_lr=3e-4, warmup_steps=500, total_steps=10000)"``,
parsed without ``eval`` (see :mod:`fastlr.tools.spec`).

Exit codes: 0 success, 2 bad usage or a bad SPEC/argument, 1 any other failure (a
missing optional dependency, an unwritable file, an unexpected error), 130 interrupted.
Every failure is reported as one ``fastlr: error: ...`` line on stderr, never a
traceback.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

import fastlr

from .tools._text import clip
from .tools.spec import SpecError, parse_spec

_SPEC_HELP = ("the schedule: JSON (its to_config() form) or a call such as "
              "'warmup_cosine(peak_lr=3e-4, warmup_steps=500, total_steps=10000)'")

_EPILOG = """examples:
  fastlr demo
  fastlr table 'warmup_cosine(peak_lr=3e-4, warmup_steps=500, total_steps=10000)' --steps 10000
  fastlr plot 'OneCycle(max_lr=0.1, total_steps=1000)' 'Cosine(lr=0.1, total_steps=1000)' --steps 1000 -o lr.png
  fastlr table '{"class": "Cosine", "lr": 0.1, "total_steps": 100}' --steps 100 --every 10
  fastlr bench
"""


#: the largest step count: steps live in [0, 2**53] (fastlr._validate.MAX_STEP)
MAX_STEPS = 2 ** 53
#: bench's largest n: values(n) holds 8n bytes, and the reference runs n Python steps
MAX_BENCH_N = 10 ** 7
MAX_REPEAT = 1000
#: table computes its rows this many at a time (``--every 1`` may ask for billions)
_ROWS_PER_CALL = 65536
#: error messages are cut to this many characters
_MESSAGE_LIMIT = 500


class UsageError(Exception):
    """A bad command-line argument: reported on one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors on one ``fastlr: error:`` line (exit 2)."""

    def error(self, message):
        where = self.prog[len("fastlr"):].strip()
        prefix = f"{where}: " if where else ""
        hint = f"fastlr {where} --help" if where else "fastlr --help"
        self.exit(2, _line(f"{prefix}{message} (see '{hint}')") + "\n")


def _backend(name):
    return fastlr.reference if name == "reference" else fastlr


def _int_in(low, high, what):
    """An argparse type: an int in ``[low, high]`` (no int() of a 5000-digit string)."""
    def parse(text):
        digits = text.strip().lstrip("+-")
        n = None
        if digits.isdigit() and len(digits) <= 30:
            try:
                n = int(text)
            except ValueError:
                n = None
        if n is None or not low <= n <= high:
            raise argparse.ArgumentTypeError(f"must be {what}, got {clip(repr(text))}")
        return n
    return parse


_positive_int = _int_in(1, MAX_STEPS, "an integer in [1, 2**53]")
_seed = _int_in(0, 2 ** 63 - 1, "an integer in [0, 2**63)")


def _positive_float(text):
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not (x > 0.0 and math.isfinite(x)):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got "
                                         f"{clip(repr(text))}")
    return x


def _spec(text, backend):
    try:
        return parse_spec(text, backend)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    except (ValueError, TypeError) as exc:  # the schedule rejected an argument
        raise UsageError(f"bad SPEC {clip(repr(text))}: {exc}") from None


# -- table -----------------------------------------------------------------------------
def _table(args):
    schedule = _spec(args.spec, _backend(args.backend))
    n = args.steps
    every = args.every if args.every is not None else max(1, -(-n // 20))
    # only the printed rows are computed, a bounded number per call: --steps 10**12
    # is fine, and --every 1 streams (Ctrl-C stops it, `| head` ends it quietly)
    rows = range(0, n, every)
    if rows[-1] != n - 1:
        rows = [rows, range(n - 1, n)]  # always show where the schedule ends up
    else:
        rows = [rows]
    print(f"{'step':>10}  lr")
    for part in rows:
        for lo in range(0, len(part), _ROWS_PER_CALL):
            chunk = part[lo:lo + _ROWS_PER_CALL]
            steps = np.arange(chunk.start, chunk.stop, chunk.step, dtype=np.int64)
            values = schedule(steps)
            print("\n".join(f"{t:>10}  {x:.6g}" for t, x in zip(steps.tolist(),
                                                                 values.tolist())))
    return 0


# -- plot ------------------------------------------------------------------------------
def _plot(args):
    backend = _backend(args.backend)
    schedules = [_spec(text, backend) for text in args.spec]
    labels = args.label or []
    if labels and len(labels) != len(schedules):
        raise UsageError(f"--label was given {len(labels)} time(s) for {len(schedules)} SPEC(s)")
    what = dict(zip(labels, schedules)) if labels else schedules
    fastlr.plot(what, args.steps, args.output, log=args.log, title=args.title)
    print(f"wrote {args.output}")
    return 0


# -- bench -----------------------------------------------------------------------------
def _bench_cases(backend, n):
    return [
        ("Constant", backend.Constant(0.1)),
        ("Cosine", backend.Cosine(0.1, n)),
        ("warmup_cosine", backend.warmup_cosine(0.1, n // 20, n)),
        ("OneCycle", backend.OneCycle(0.1, n)),
        ("CosineRestarts", backend.CosineRestarts(0.1, n // 10, cycle_mult=2.0)),
        ("WarmupStableDecay", backend.WarmupStableDecay(0.1, n // 20, n // 2, n // 2 - n // 20,
                                                        decay="1-sqrt")),
    ]


def _best_time(fn, repeat, budget=0.0, cap=200):
    """The fastest of at least ``repeat`` runs, and more (up to ``cap``) while the total
    stays under ``budget`` seconds: on a busy machine the minimum needs many tries."""
    best, spent, runs = math.inf, 0.0, 0
    while runs < repeat or (spent < budget and runs < cap):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent, runs = min(best, dt), spent + dt, runs + 1
    return best


def _bench(args):
    n = args.n
    if not 20 <= n <= MAX_BENCH_N:  # >= 20: the warmups take n // 20 steps
        raise UsageError(f"--n must be in [20, {MAX_BENCH_N:,}], got {n}")
    if args.repeat > MAX_REPEAT:
        raise UsageError(f"--repeat must be at most {MAX_REPEAT}, got {args.repeat}")
    print(f"values(n) for n = {n:,} steps, the fastest of >= {args.repeat} runs (compiled) and "
          f"of {max(1, args.repeat // 5)} (reference), measured now on this machine")
    from . import _schedule
    print(f"compiled engine: simd {_schedule.simd_level()}, openmp {_schedule.OPENMP} "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})")
    print(f"{'schedule':<20}{'compiled':>12}{'reference':>12}{'speed-up':>10}"
          f"{'ns/step (compiled)':>22}")
    compiled = _bench_cases(fastlr, n)
    reference = _bench_cases(fastlr.reference, n)
    for (name, c), (_, r) in zip(compiled, reference):
        c.values(min(n, 1000))  # the first call pays one-time costs
        tc = _best_time(lambda: c.values(n), args.repeat, budget=0.1)
        tr = _best_time(lambda: r.values(n), max(1, args.repeat // 5))
        print(f"{name:<20}{_ms(tc):>12}{_ms(tr):>12}{tr / tc:>9.0f}x{1e9 * tc / n:>22.1f}")
    return 0


def _ms(seconds):
    return f"{1e3 * seconds:.3f} ms" if seconds < 0.01 else f"{1e3 * seconds:.1f} ms"


# -- find-lr and demo ------------------------------------------------------------------
def _find_lr(args):
    from . import demo

    backend = _backend(args.backend)
    # the argument checks before the header line and the run (the range test trains)
    if not args.end_lr > args.start_lr:
        raise UsageError(f"--end-lr must be > --start-lr ({args.start_lr!r}), got "
                         f"{args.end_lr!r}")
    if args.output:
        from .tools.plotting import _check_path
        _check_path(args.output)
    X, y = demo.load_digits()
    X_tr, y_tr, _, _ = demo.split(X, y, args.seed)
    model = demo.MLP.init(X.shape[1], demo.HIDDEN, 10, args.seed)
    print(f"LR range test: AdamW on the demo's 64-{demo.HIDDEN}-10 MLP (UCI digits, "
          f"{len(y_tr)} training images, batch {demo.BATCH})")
    result = demo.range_test(backend, model, X_tr, y_tr, num_steps=args.num_steps,
                             start_lr=args.start_lr, end_lr=args.end_lr, seed=args.seed)
    print(f"{len(result.lrs)} of {result.num_steps} steps ({result.stop_reason}); last lr "
          f"{result.lrs[-1]:.3g}")
    for name in ("valley", "steepest", "minimum"):
        value = getattr(result, name)
        print(f"  {name:<9} {'-' if value is None else format(value, '.3g')}")
    # one line to grep: `fastlr find-lr | sed -n 's/^suggested lr: //p'`
    suggestion = result.suggestion
    print(f"suggested lr: {'none' if suggestion is None else format(suggestion, '.6g')}")
    if args.output:
        result.plot(args.output)
        print(f"wrote {args.output}")
    return 0


def _demo(args):
    from . import demo

    demo.run(epochs=args.epochs, out=args.out, quick=args.quick, seed=args.seed,
             backend=_backend(args.backend), plots=not args.no_plots)
    return 0


# -- parser ----------------------------------------------------------------------------
def _parser():
    parser = _Parser(
        prog="fastlr", description="Learning-rate schedules, LR range test and plots.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"fastlr {fastlr.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    def backend_option(p):
        p.add_argument("--backend", choices=["compiled", "reference"], default="compiled",
                       help="which backend builds the schedules (default: compiled)")

    p = sub.add_parser("table", help="print a schedule's values")
    p.add_argument("spec", metavar="SPEC", help=_SPEC_HELP)
    p.add_argument("--steps", type=_positive_int, default=10, help="steps 0..N-1 (default 10)")
    p.add_argument("--every", type=_positive_int, default=None,
                   help="print every K-th step (default: about 20 rows; the last step is "
                        "always printed)")
    backend_option(p)
    p.set_defaults(run=_table)

    p = sub.add_parser("plot", help="plot one or several schedules to a PNG/SVG/PDF file")
    p.add_argument("spec", metavar="SPEC", nargs="+", help=_SPEC_HELP)
    p.add_argument("--steps", type=_positive_int, required=True, help="steps 0..N-1")
    p.add_argument("-o", "--output", default="schedule.png",
                   help="output file, .png, .svg or .pdf (default schedule.png)")
    p.add_argument("--log", action="store_true", help="log-scale the lr axis")
    p.add_argument("--label", action="append", help="a legend label per SPEC, in order")
    p.add_argument("--title", default=None, help="the plot title")
    backend_option(p)
    p.set_defaults(run=_plot)

    p = sub.add_parser("bench", help="time values(n), compiled vs reference backend")
    p.add_argument("--n", type=_positive_int, default=100_000,
                   help=f"steps (default 100000; from 20 to {MAX_BENCH_N:,})")
    p.add_argument("--repeat", type=_positive_int, default=5,
                   help=f"timing repeats; the best counts (default 5, at most {MAX_REPEAT})")
    p.set_defaults(run=_bench)

    p = sub.add_parser("find-lr", help="run the LR range test on the demo's digits MLP")
    p.add_argument("--start-lr", type=_positive_float, default=1e-7)
    p.add_argument("--end-lr", type=_positive_float, default=10.0)
    p.add_argument("--num-steps", type=_int_in(2, MAX_STEPS, "an integer in [2, 2**53]"),
                   default=100)
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("-o", "--output", default=None, help="write the plot here (.png/.svg/.pdf)")
    backend_option(p)
    p.set_defaults(run=_find_lr)

    p = sub.add_parser("demo", help="train a numpy MLP on handwritten digits with fastlr")
    p.add_argument("--epochs", type=_positive_int, default=10, help="epochs (default 10)")
    p.add_argument("--out", default="fastlr-demo",
                   help="directory for the plots (default ./fastlr-demo)")
    p.add_argument("--quick", action="store_true", help="a reduced run (smoke test)")
    p.add_argument("--no-plots", action="store_true", help="do not write plots")
    p.add_argument("--seed", type=_seed, default=0)
    backend_option(p)
    p.set_defaults(run=_demo)
    return parser


def _line(message):
    # one line, whatever the exception text holds, and a bounded one
    return f"fastlr: error: {clip(message, _MESSAGE_LIMIT)}"


def _error(message, code):
    print(_line(message), file=sys.stderr)
    return code


def main(argv=None):
    """Run the command line; returns the exit code (also for ``--help`` and usage
    errors, which argparse reports by raising ``SystemExit``)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        return args.run(args)
    except UsageError as exc:
        return _error(exc, 2)
    except (ValueError, TypeError) as exc:
        return _error(exc, 2)
    except BrokenPipeError:
        # e.g. `fastlr table ... | head`: the reader left early, which is not an error;
        # point stdout at devnull so the interpreter's final flush stays quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ImportError, OSError) as exc:
        return _error(exc, 1)
    except MemoryError:
        return _error("out of memory", 1)
    except KeyboardInterrupt:
        return _error("interrupted", 130)
    except Exception as exc:  # noqa: BLE001 - a bug: still one line, never a traceback
        return _error(f"unexpected {type(exc).__name__}: {exc} (please report it)", 1)
