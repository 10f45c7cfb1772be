"""The gallery: one plot per schedule and per notable option, drawn at build time.

A new entry is one line in ``GALLERY``::

    G("Title", "<a Python expression: a schedule or a dict {label: schedule}>", steps)

Options: ``momentum="<expression>"`` draws a momentum panel under the lr;
``log=True`` log-scales the lr axis; ``note="..."`` is a sentence under the title.
An entry that needs more than an expression gives ``code=...``: a snippet that
leaves a matplotlib ``Figure`` in ``fig``. The code shown next to each plot is the
code that drew it (``docs/_ext/fastlr_sphinx.py`` runs it with matplotlib's Agg
backend; names in scope: ``np``, ``fastlr``).
"""
from __future__ import annotations

import ast

WIDTH = 76   # the shown code is wrapped to this width


def _fmt(expr, indent=0):
    """``expr`` as readable code: one item per line when it does not fit on one."""
    text = ast.unparse(ast.parse(expr, mode="eval").body) if isinstance(expr, str) else expr
    node = ast.parse(text, mode="eval").body
    if indent + len(text) <= WIDTH:
        return text
    pad = " " * (indent + 4)
    if isinstance(node, ast.Dict):
        items = [f"{pad}{ast.unparse(k)}: {_fmt(ast.unparse(v), indent + 4)}," for k, v in
                 zip(node.keys, node.values)]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(node, ast.Call) and (node.args or node.keywords):
        args = [_fmt(ast.unparse(a), indent + 4) for a in node.args]
        args += [f"{k.arg}={_fmt(ast.unparse(k.value), indent + 4 + len(k.arg) + 1)}"
                 for k in node.keywords]
        return (ast.unparse(node.func) + "(\n" + "\n".join(f"{pad}{a}," for a in args)
                + "\n" + " " * indent + ")")
    if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
        open_, close = ("[", "]") if isinstance(node, ast.List) else ("(", ")")
        items = [f"{pad}{_fmt(ast.unparse(e), indent + 4)}," for e in node.elts]
        return open_ + "\n" + "\n".join(items) + "\n" + " " * indent + close
    if isinstance(node, ast.DictComp):
        return ("{\n" + pad + _fmt(ast.unparse(node.key), indent + 4) + ": "
                + _fmt(ast.unparse(node.value), indent + 4) + "\n" + pad
                + " ".join("for " + ast.unparse(g.target) + " in " + ast.unparse(g.iter)
                           + "".join(" if " + ast.unparse(c) for c in g.ifs)
                           for g in node.generators) + "\n" + " " * indent + "}")
    return text


class G:
    def __init__(self, title, expr=None, steps=1000, *, momentum=None, log=False,
                 note=None, code=None):
        if (expr is None) == (code is None):
            raise ValueError(f"gallery entry {title!r}: give exactly one of expr and code")
        self.title, self.expr, self.steps = title, expr, steps
        self.momentum, self.log, self.note, self.code = momentum, log, note, code

    @property
    def slug(self):
        keep = "".join(c if c.isalnum() else "-" for c in self.title.lower())
        return "-".join(part for part in keep.split("-") if part)

    def source(self):
        """The snippet that draws this entry (what the page shows)."""
        if self.code is not None:
            return self.code.strip("\n")
        log = ", log=True" if self.log else ""
        lines = ["import fastlr"]
        if self.momentum is None:
            lines.append("")
            lines += [f"schedules = {_fmt(self.expr)}",
                      f"fig = fastlr.plot(schedules, {self.steps}{log})"]
        else:
            lines += ["from matplotlib.figure import Figure", "",
                      f"lr = {_fmt(self.expr)}",
                      f"momentum = {_fmt(self.momentum)}",
                      'fig = Figure(figsize=(7, 5), layout="constrained")',
                      "top, bottom = fig.subplots(2, sharex=True)",
                      f"fastlr.plot(lr, {self.steps}, ax=top{log})",
                      f"fastlr.plot({{\"momentum\": momentum}}, {self.steps}, ax=bottom)",
                      'bottom.set_ylabel("momentum / beta1")']
        return "\n".join(lines)


_PLATEAU = '''
import numpy as np
import fastlr
from matplotlib.figure import Figure

# a validation loss recorded once per epoch (here made up: falls, then stalls, with noise)
epochs = np.arange(80)
val_loss = 0.3 + 0.7 * np.exp(-epochs / 12) + 0.01 * np.random.default_rng(0).standard_normal(80)

plateau = fastlr.ReduceOnPlateau(fastlr.Warmup(fastlr.Constant(0.1), 5),
                                 factor=0.5, patience=5, threshold=1e-2)
lrs = [plateau.update(loss) for loss in val_loss]   # the lr for the next epoch

fig = Figure(figsize=(7, 5), layout="constrained")
top, bottom = fig.subplots(2, sharex=True)
top.step(epochs, lrs, where="post")
top.set_ylabel("learning rate")
bottom.plot(epochs, val_loss, color="C1")
bottom.set_ylabel("validation loss")
bottom.set_xlabel("epoch")
for ax in (top, bottom):
    ax.grid(True, alpha=0.3)
'''

_RANGE_TEST = '''
import numpy as np
import fastlr

# least squares with numpy: step_fn(lr) runs one training step and returns the loss
rng = np.random.default_rng(0)
X, y = rng.standard_normal((256, 8)), rng.standard_normal(256)
w = np.zeros(8)

def step_fn(lr):
    w[:] -= lr * X.T @ (X @ w - y) / len(y)
    return float(np.mean((X @ w - y) ** 2))

result = fastlr.find_lr(step_fn, start_lr=1e-4, end_lr=10, num_steps=100)
fig = result.plot()
'''

GALLERY = [
    G("Constant", "fastlr.Constant(lr=0.1)"),
    G("Linear", "fastlr.Linear(start_lr=0.1, end_lr=0.01, steps=600)"),
    G("Step", "fastlr.Step(lr=0.1, step_size=250, gamma=0.5)"),
    G("MultiStep", "fastlr.MultiStep(lr=0.1, milestones=[300, 600, 800], gamma=0.3)"),
    G("Exponential, smooth and staircase",
      "{'smooth': fastlr.Exponential(lr=0.1, gamma=0.5, decay_steps=200), "
      "'staircase': fastlr.Exponential(lr=0.1, gamma=0.5, decay_steps=200, staircase=True)}"),
    G("Polynomial powers",
      "{f'power={p}': fastlr.Polynomial(lr=0.1, total_steps=800, final_lr=0.01, power=p) "
      "for p in (0.5, 1.0, 2.0)}"),
    G("Cosine", "fastlr.Cosine(lr=0.1, total_steps=800, final_lr=0.01)",
      note="Holds ``final_lr`` past ``total_steps``; torch's cosine climbs back."),
    G("Cosine restarts (SGDR)",
      "{'cycle_mult=1': fastlr.CosineRestarts(lr=0.1, cycle_steps=250), "
      "'cycle_mult=2, cycle_decay=0.7': fastlr.CosineRestarts(lr=0.1, cycle_steps=100, "
      "cycle_mult=2.0, cycle_decay=0.7)}"),
    G("InverseSqrt", "fastlr.InverseSqrt(lr=0.1, warmup_steps=100)"),
    G("InverseTime, smooth and staircase",
      "{'smooth': fastlr.InverseTime(lr=0.1, decay_rate=1.0, decay_steps=200), "
      "'staircase': fastlr.InverseTime(lr=0.1, decay_rate=1.0, decay_steps=200, staircase=True)}"),
    G("Cyclic modes with the momentum of triangular",
      "{m: fastlr.Cyclic(base_lr=0.01, max_lr=0.1, step_size_up=100, mode=m, gamma=0.998) "
      "for m in ('triangular', 'triangular2', 'exp_range')}",
      momentum="fastlr.Cyclic(base_lr=0.01, max_lr=0.1, step_size_up=100).momentum(0.8, 0.9)"),
    G("OneCycle with its momentum",
      "{'cos': fastlr.OneCycle(max_lr=0.1, total_steps=1000), "
      "'linear': fastlr.OneCycle(max_lr=0.1, total_steps=1000, anneal='linear'), "
      "'three_phase': fastlr.OneCycle(max_lr=0.1, total_steps=1000, three_phase=True)}",
      momentum="fastlr.OneCycle(max_lr=0.1, total_steps=1000).momentum(0.85, 0.95)"),
    G("Warmup-stable-decay: the three decays",
      "{d: fastlr.WarmupStableDecay(lr=0.1, warmup_steps=100, stable_steps=600, "
      "decay_steps=300, decay=d) for d in ('linear', 'cosine', '1-sqrt')}"),
    G("PiecewiseConstant",
      "fastlr.PiecewiseConstant(boundaries=[200, 500, 800], values=[0.1, 0.05, 0.02, 0.005])"),
    G("PiecewiseLinear",
      "fastlr.PiecewiseLinear(steps=[0, 100, 400, 700, 1000], lrs=[0.0, 0.1, 0.1, 0.02, 0.0])"),
    G("Warmup: the three modes",
      "{m: fastlr.Warmup(fastlr.Cosine(0.1, 800), warmup_steps=200, start_lr=0.001, mode=m) "
      "for m in ('linear', 'exponential', 'cosine')}"),
    G("warmup_cosine and warmup_linear",
      "{'warmup_cosine': fastlr.warmup_cosine(peak_lr=0.1, warmup_steps=100, total_steps=1000), "
      "'warmup_linear': fastlr.warmup_linear(peak_lr=0.1, warmup_steps=100, total_steps=1000)}",
      note="transformers' ``get_cosine_schedule_with_warmup`` and "
           "``get_linear_schedule_with_warmup``: ``total_steps`` counts the warmup."),
    G("Sequence: linear warmup, constant, exponential decay",
      "fastlr.Sequence([fastlr.Linear(0.001, 0.1, 100), fastlr.Constant(0.1), "
      "fastlr.Exponential(0.1, gamma=0.5, decay_steps=100)], boundaries=[100, 600])"),
    G("Scaled", "{'s': (s := fastlr.Cosine(0.1, 1000)), '0.5 * s': 0.5 * s}"),
    G("Product: a step decay times an exponential (torch ChainedScheduler)",
      "{'Step * Exponential': fastlr.Step(0.1, 250, 0.5) * fastlr.Exponential(1.0, 0.999)}"),
    G("Warmup on the global clock (timm warmup_prefix=False)",
      "{c: fastlr.Warmup(fastlr.Cosine(0.1, 1000), warmup_steps=200, start_lr=0.001, clock=c) "
      "for c in ('local', 'global')}",
      note="On the global clock the warmup replaces the schedule's first steps, and the lr "
           "drops to ``schedule(W)`` at ``W`` (``target='end'`` rises to it instead)."),
    G("Cosine options: exponent and num_cycles",
      "{'exponent=2': fastlr.Cosine(0.1, 1000, exponent=2.0), "
      "'num_cycles=1.5': fastlr.Cosine(0.1, 1000, num_cycles=1.5)}"),
    G("Tanh (timm)", "fastlr.Tanh(lr=0.1, total_steps=1000, final_lr=0.001)"),
    G("SWA (torch SWALR) after a cosine",
      "fastlr.SWA(fastlr.Cosine(0.1, 1000), swa_lr=0.02, start=600, anneal_steps=100)"),
    G("Noise (timm lr noise)",
      "fastlr.Noise(fastlr.Cosine(0.1, 1000), start=200, end=800, pct=0.3, std=0.5, seed=1)"),
    G("Warmup-stable-decay: the stable variants (timm)",
      "{'constant': fastlr.WarmupStableDecay(lr=0.1, warmup_steps=100, stable_steps=600, "
      "decay_steps=300, final_lr=0.005), "
      "'rsqrt': fastlr.WarmupStableDecay(0.1, 100, 600, 300, 0.005, stable='rsqrt'), "
      "'power, stable_power=0.3': fastlr.WarmupStableDecay(0.1, 100, 600, 300, 0.005, "
      "stable='power', stable_power=0.3)}",
      note="``'rsqrt'`` and ``'power'`` decay through the stable phase (timm's ``stable_fn``), "
           "clamped at ``final_lr``; the decay starts from the stable phase's last value."),
    G("Warmup-stable-decay: power and exp decays",
      "{'power, decay_power=2': fastlr.WarmupStableDecay(0.1, 100, 600, 300, "
      "decay='power', decay_power=2.0), "
      "'exp, decay_ratio=0.1': fastlr.WarmupStableDecay(0.1, 100, 600, 300, final_lr=0.001, "
      "decay='exp', decay_ratio=0.1)}"),
    G("Cosine restarts: peak or amplitude decay, cycle_limit",
      "{'peak (timm)': fastlr.CosineRestarts(0.1, 200, final_lr=0.02, cycle_decay=0.8), "
      "'amplitude (keras m_mul)': fastlr.CosineRestarts(0.1, 200, final_lr=0.02, "
      "cycle_decay=0.8, cycle_decay_mode='amplitude'), "
      "'cycle_limit=3': fastlr.CosineRestarts(0.1, 200, final_lr=0.02, cycle_limit=3)}",
      note="``'peak'`` shrinks each cycle's peak; ``'amplitude'`` shrinks the distance above "
           "``final_lr``; after ``cycle_limit`` cycles the lr holds ``final_lr``."),
    G("k_decay (timm) on Cosine and Polynomial",
      "{'Cosine k_decay=0.5': fastlr.Cosine(0.1, 1000, k_decay=0.5), "
      "'Cosine k_decay=2': fastlr.Cosine(0.1, 1000, k_decay=2.0), "
      "'Polynomial power=2, k_decay=2': fastlr.Polynomial(0.1, 1000, power=2.0, k_decay=2.0)}"),
    G("Polynomial with cycle=True (keras)",
      "{f'cycle={c}': fastlr.Polynomial(lr=0.1, total_steps=300, final_lr=0.01, power=2.0, "
      "cycle=c) for c in (False, True)}",
      note="Past each horizon the horizon grows to ``T * ceil(t / T)``."),
    G("Warmup '1-sqrt' and InverseSqrt with a timescale",
      "{'Warmup 1-sqrt': fastlr.Warmup(fastlr.Constant(0.1), 300, mode='1-sqrt'), "
      "'InverseSqrt timescale=100': fastlr.InverseSqrt(0.1, 100, timescale=100)}"),
    G("Log scale: Exponential to a floor",
      "fastlr.Exponential(lr=0.1, gamma=0.1, decay_steps=200, final_lr=1e-5)", log=True),
    G("Plateau on a recorded metric", code=_PLATEAU,
      note="Warmup for 5 epochs, then halve the lr when the loss has not improved by 1% for "
           "more than 5 epochs (torch's rules)."),
    G("LR range test", code=_RANGE_TEST,
      note="``find_lr`` on least squares, with its three suggestions marked."),
]
