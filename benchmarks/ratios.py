"""Print compiled-vs-others ratios from a pytest-benchmark JSON file.

    python benchmarks/ratios.py bench.json [--stat min]

For every group, each contender's time divided by the ``compiled`` contender's time
(the speed-up of the compiled backend), from the one run that wrote the file.
"""
import argparse
import json
from collections import defaultdict


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--stat", default="min", choices=["min", "median", "mean"])
    parser.add_argument("--baseline", default="compiled")
    args = parser.parse_args()
    with open(args.path) as f:
        data = json.load(f)
    groups = defaultdict(dict)
    for b in data["benchmarks"]:
        # a benchmark that is not parametrized goes by its test name
        name = b["extra_info"].get("contender") or b["param"] or b["name"]
        groups[b["group"]][name] = b["stats"][args.stat]
    print(f"| workload | contender | {args.stat} time | time / {args.baseline} |")
    print("|---|---|---|---|")
    for group, times in groups.items():
        # the baseline contender, also when its name carries the workload ("1t-compiled")
        base = next((t for name, t in times.items()
                     if name == args.baseline or name.endswith("-" + args.baseline)), None)
        for name, t in sorted(times.items(), key=lambda kv: kv[1]):
            ratio = f"{t / base:.2f}x" if base else "n/a"
            print(f"| {group} | {name} | {_fmt(t)} | {ratio} |")


def _fmt(seconds):
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


if __name__ == "__main__":
    main()
