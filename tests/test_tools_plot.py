"""fastlr.plot and LRFinderResult.plot write real, non-empty image files."""
import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_one_schedule_png(fl, tmp_path):
    path = tmp_path / "s.png"
    fig = fl.plot(fl.Cosine(0.1, 100), 100, path)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    (line,) = fig.axes[0].get_lines()
    x, y = line.get_data()
    np.testing.assert_array_equal(x, np.arange(100))
    # cosine: 0.1 at t=0, 0.05 at t=T/2
    assert y[0] == pytest.approx(0.1) and y[50] == pytest.approx(0.05)


def test_several_schedules_svg_log(fl, tmp_path):
    path = tmp_path / "s.svg"
    schedules = {"cos": fl.Cosine(0.1, 50),
                 "wc": fl.warmup_cosine(0.1, 5, 50),
                 "step": fl.Step(0.1, 10)}
    fig = fl.plot(schedules, 50, str(path), log=True, title="three")
    text = path.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    ax = fig.axes[0]
    assert [l.get_label() for l in ax.get_lines()] == ["cos", "wc", "step"]
    assert ax.get_yscale() == "log" and ax.get_title() == "three"


def test_list_and_fractional_steps(fl):
    steps = np.linspace(0.0, 10.0, 21)  # fractional epochs
    fig = fl.plot([fl.Linear(1.0, 0.0, 10), fl.Constant(0.5)], steps)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2
    # linear from 1 to 0 over 10: at t=2.5 the value is 0.75
    assert lines[0].get_ydata()[5] == pytest.approx(0.75)
    assert lines[0].get_label().startswith("Linear(")


def test_draws_into_given_axes(fl):
    from matplotlib.figure import Figure
    fig = Figure()
    ax = fig.add_subplot()
    assert fl.plot(fl.Constant(0.1), 10, ax=ax) is fig
    assert len(ax.get_lines()) == 1


@pytest.mark.parametrize("args, exc, words", [
    (("not a schedule", 10), TypeError, "schedules"),
    (([], 10), ValueError, "empty"),
    ((["x"], 10), TypeError, r"schedules\[0\]"),
    ((None, 0), TypeError, "schedules"),
])
def test_plot_validation(fl, args, exc, words):
    with pytest.raises(exc, match=words):
        fl.plot(*args)


def test_plot_bad_steps_and_path(fl, tmp_path):
    s = fl.Constant(0.1)
    with pytest.raises(ValueError, match="steps"):
        fl.plot(s, 0)
    with pytest.raises(TypeError, match="steps"):
        fl.plot(s, "10")
    with pytest.raises(ValueError, match="path"):
        fl.plot(s, 10, tmp_path / "s.txt")
    assert not (tmp_path / "s.txt").exists()


def test_range_test_plot_marks_suggestions(fl, tmp_path):
    losses = iter([2.0] * 20 + list(np.linspace(2.0, 0.5, 30)) + [0.6, 1.0, 3.0, 9.0, 30.0])
    r = fl.find_lr(lambda lr: next(losses), num_steps=55, smoothing=0.5)
    path = tmp_path / "rt.png"
    fig = r.plot(path)
    assert path.read_bytes().startswith(PNG_MAGIC)
    labels = [l.get_label() for l in fig.axes[0].get_lines()]
    assert labels[:2] == ["loss", "smoothed loss"]
    assert any(l.startswith("valley:") for l in labels)
    assert any(l.startswith("steepest:") for l in labels)
    assert any(l.startswith("minimum/10:") for l in labels)
    assert fig.axes[0].get_xscale() == "log"


def test_huge_step_count_is_sampled(fl):
    # 10**12 steps would be 8 TB of values: MAX_POINTS evenly spaced steps instead,
    # from 0 to n - 1, each the schedule's own value
    from fastlr.tools.plotting import MAX_POINTS
    n = 10**12
    fig = fl.plot(fl.Linear(1.0, 0.0, n), n)
    (line,) = fig.axes[0].get_lines()
    x, y = line.get_data()
    assert len(x) == MAX_POINTS and x[0] == 0 and x[-1] == n - 1
    assert (np.diff(x) > 0).all()
    np.testing.assert_allclose(y, 1.0 - x / n, atol=1e-12)


@pytest.mark.parametrize("steps", [0, -1, 2**53 + 1, 10**5000],
                         ids=["0", "-1", "2**53+1", "10**5000"])
def test_bad_step_counts(fl, steps):
    with pytest.raises(ValueError, match=r"steps must be an int in \[1, 2\*\*53\]"):
        fl.plot(fl.Constant(0.1), steps)
