"""fastlr.torch.find_lr: the range test of fastlr.find_lr on a torch model.

Compared with torch-lr-finder (the PyPI package ``torch-lr-finder``, when installed) on the
same model, data and lr grid, and with the same loop written out here (always).
"""
import copy
import io
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch)")
import fastlr  # noqa: E402
import fastlr.torch as ft  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("error")]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _setup(seed=0, kind="sgd", n=96, batch=16):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = (x @ torch.randn(8, 1, generator=g)) + 0.1 * torch.randn(n, 1, generator=g)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(),
                                torch.nn.Linear(16, 1))
    if kind == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch)  # 6 batches: passes repeat
    return model, opt, torch.nn.functional.mse_loss, loader


GRID = dict(start_lr=1e-5, end_lr=10.0, num_steps=40)


def _hand_loop(model, opt, criterion, loader, start_lr, end_lr, num_steps, acc=1):
    """torch-lr-finder's training loop (``_train_batch``), written out: zero_grad, ``acc``
    batches of ``loss / acc`` backward, optimizer step, loss = sum; lr grid exp."""
    it = iter(loader)
    losses = []
    for i in range(num_steps):
        lr = start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))
        for g in opt.param_groups:
            g["lr"] = lr
        model.train()
        opt.zero_grad()
        total = None
        for _ in range(acc):
            try:
                x, y = next(it)
            except StopIteration:
                it = iter(loader)
                x, y = next(it)
            loss = criterion(model(x), y) / acc
            loss.backward()
            total = loss if total is None else total + loss
        opt.step()
        losses.append(total.item())
    return np.array(losses)


@pytest.mark.parametrize("kind,acc", [("sgd", 1), ("adamw", 1), ("sgd", 2)])
def test_raw_losses_are_the_hand_written_loops(kind, acc):
    result = ft.find_lr(*_setup(kind=kind), diverge_factor=None, accumulation_steps=acc,
                        **GRID)
    expected = _hand_loop(*_setup(kind=kind), acc=acc, **GRID)
    assert len(result.losses) == GRID["num_steps"]
    np.testing.assert_allclose(result.losses, expected, rtol=1e-6)
    np.testing.assert_allclose(result.lrs[[0, -1]], [1e-5, 10.0], rtol=1e-15)


@pytest.fixture
def torch_lr_finder():
    return pytest.importorskip("torch_lr_finder", reason="torch-lr-finder is not installed "
                                                         "(pip install torch-lr-finder)")


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_raw_losses_as_torch_lr_finder(torch_lr_finder, kind):
    model, opt, crit, loader = _setup(kind=kind)
    finder = torch_lr_finder.LRFinder(model, opt, crit, device="cpu")
    with _quiet():
        finder.range_test(loader, start_lr=GRID["start_lr"], end_lr=GRID["end_lr"],
                          num_iter=GRID["num_steps"], smooth_f=0.0, diverge_th=1e30)
    theirs = np.array(finder.history["loss"])  # smooth_f=0: the raw losses
    ours = ft.find_lr(*_setup(kind=kind), diverge_factor=None, **GRID)
    np.testing.assert_allclose(ours.lrs, finder.history["lr"], rtol=1e-14)
    np.testing.assert_allclose(ours.losses, theirs, rtol=1e-6)


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_steepest_within_2x_of_torch_lr_finder(torch_lr_finder, kind):
    """Each with its default smoothing (fastlr: debiased EMA 0.98; torch-lr-finder: 0.05 of
    each new loss, started at the first). Full-batch steps: with a few mini-batches cycling,
    the batch-to-batch noise at the tiny lrs decides where a derivative is steepest."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    grid = dict(start_lr=1e-5, end_lr=10.0, num_steps=100)
    model, opt, crit, loader = _setup(kind=kind, batch=96)
    finder = torch_lr_finder.LRFinder(model, opt, crit, device="cpu")
    with _quiet():
        finder.range_test(loader, start_lr=grid["start_lr"], end_lr=grid["end_lr"],
                          num_iter=grid["num_steps"])  # its defaults: smooth_f=0.05, diverge 5
        fig, ax = plt.subplots()
        _, theirs = finder.plot(ax=ax, suggest_lr=True)
        plt.close(fig)
    ours = ft.find_lr(*_setup(kind=kind, batch=96), progress=False, **grid)
    assert theirs / 2 <= ours.steepest <= theirs * 2, (ours.steepest, theirs)
    assert 1e-4 < ours.steepest < 1.0  # inside the curve, not at an end of the grid
    fig = ours.plot()  # the same result object as fastlr.find_lr's
    assert fig.axes
    plt.close(fig)


class _quiet:
    """torch-lr-finder prints its progress and suggestion; keep the test output clean."""

    def __enter__(self):
        import contextlib
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        self._stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
        return self

    def __exit__(self, *exc):
        return self._stack.__exit__(*exc)


def _same(a, b):
    """Equal nested state (dicts, lists, tensors compared with torch.equal)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k])
                                                                    for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return a == b


def _params(model):
    return [p.detach().clone() for p in model.state_dict().values()]


def _train(model, opt, crit, loader, sched, steps):
    out = []
    it = iter(loader)
    for _ in range(steps):
        try:
            x, y = next(it)
        except StopIteration:
            it = iter(loader)
            x, y = next(it)
        opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        opt.step()
        out.append((loss.item(), [g["lr"] for g in opt.param_groups]))
        sched.step()
    return out


@pytest.mark.parametrize("pass_scheduler", [False, True])
@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_restores_model_optimizer_and_a_driving_scheduler(fl, kind, pass_scheduler):
    """Training with find_lr in the middle is training without it, bit for bit; also when
    a fastlr.torch.LRScheduler (two groups, one rescaled, a plateau) drives the optimizer."""
    def make():
        model, _, crit, loader = _setup(kind=kind)
        groups = [{"params": model[0].parameters()},
                  {"params": model[2].parameters(), "lr_scale": 0.5}]
        opt = (torch.optim.SGD(groups, lr=0.01, momentum=0.9) if kind == "sgd"
               else torch.optim.AdamW(groups, lr=1e-3))
        plateau = fl.ReduceOnPlateau(fl.warmup_cosine(0.02, 5, 100), patience=0)
        return model, opt, crit, loader, ft.LRScheduler(opt, plateau)

    model, opt, crit, loader, sched = make()
    first = _train(model, opt, crit, loader, sched, 7)
    sched.step(1.0)
    sched.step()
    sched.step(2.0)  # a cut: the plateau has state
    plain = first + _train(model, opt, crit, loader, sched, 7)

    model, opt, crit, loader, sched = make()
    first = _train(model, opt, crit, loader, sched, 7)
    sched.step(1.0)
    sched.step()
    sched.step(2.0)
    model.eval()
    before = (_params(model), copy.deepcopy(opt.state_dict()), sched.state_dict())
    result = ft.find_lr(model, opt, crit, loader, scheduler=sched if pass_scheduler else None,
                        **GRID)
    assert len(result.losses) >= 2 and result.suggestion is not None
    assert not model.training  # its mode is back
    model.train()
    after = (_params(model), opt.state_dict(), sched.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(before[0], after[0]))
    assert _same(before[1], after[1]) and before[2] == after[2]
    assert all(p.grad is None for p in model.parameters())
    with_find_lr = first + _train(model, opt, crit, loader, sched, 7)
    assert with_find_lr == plain
    assert "lr_scale" not in opt.param_groups[0]  # the scheduler saw no outside write


def test_restores_also_when_a_step_raises():
    model, opt, crit, loader = _setup()
    before = _params(model)
    calls = []

    def criterion(out, y):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("boom")
        return crit(out, y)
    with pytest.raises(RuntimeError, match="boom"):
        ft.find_lr(model, opt, criterion, loader, **GRID)
    assert all(torch.equal(a, b) for a, b in zip(before, _params(model)))
    assert opt.param_groups[0]["lr"] == 0.01 and not opt.state


def test_groups_keep_their_lr_scale_and_divergence_stops():
    model, opt, crit, loader = _setup()
    opt.param_groups[0]["lr_scale"] = 0.1
    seen = []
    real_step = opt.step

    def spy(*a, **k):
        seen.append(opt.param_groups[0]["lr"])
        return real_step(*a, **k)
    opt.step = spy
    result = ft.find_lr(model, opt, crit, loader, start_lr=1e-4, end_lr=1e3, num_steps=60)
    np.testing.assert_allclose(seen, result.lrs * 0.1, rtol=1e-15)
    assert result.stop_reason in ("diverged", "non-finite") and len(result.lrs) < 60
    assert math.isfinite(result.steepest)


def test_bad_arguments():
    model, opt, crit, loader = _setup()
    with pytest.raises(TypeError, match="model must be"):
        ft.find_lr(lambda x: x, opt, crit, loader)
    with pytest.raises(TypeError, match="optimizer must be"):
        ft.find_lr(model, fastlr.SGD, crit, loader)
    with pytest.raises(TypeError, match="criterion must be"):
        ft.find_lr(model, opt, 3, loader)
    with pytest.raises(TypeError, match="loader must be"):
        ft.find_lr(model, opt, crit, 3)
    with pytest.raises(ValueError, match="accumulation_steps must be >= 1"):
        ft.find_lr(model, opt, crit, loader, accumulation_steps=0)
    with pytest.raises(ValueError, match="end_lr must be > start_lr"):
        ft.find_lr(model, opt, crit, loader, start_lr=1.0, end_lr=0.1)
    with pytest.raises(ValueError, match="no batch"):
        ft.find_lr(model, opt, crit, [])
    with pytest.raises(TypeError, match=r"\(inputs, targets\) pair"):
        ft.find_lr(model, opt, crit, [torch.zeros(8)])
    before = _params(model)
    assert all(torch.equal(a, b) for a, b in zip(before, _params(model)))
