"""The documentation covers the public API.

- Every public name (``__all__`` of fastlr, fastlr.reference, fastlr.tools,
  fastlr.kernels, fastlr.torch, fastlr.jax) has a docstring of its own, and so do the
  public methods its reference entry lists.
- Every public name is on a reference page: the generated reStructuredText has an
  autodoc entry for it, and the built HTML (a real Sphinx build, when Sphinx is
  installed) has its anchor.
- Every leaf schedule class has a plot in the gallery.
- The internal link checker that ``docs/build.sh`` runs finds broken links.

The reference pages are generated from ``__all__`` (docs/_ext/fastlr_api.py), so a new
public name needs no edit of the docs to appear; it needs a docstring.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
if not os.path.isfile(os.path.join(DOCS, "_ext", "fastlr_api.py")):
    # an sdist without docs/ (MANIFEST.in grafts tests/ but not docs/)
    pytest.skip("docs/ is not in this source tree", allow_module_level=True)
sys.path.insert(0, os.path.join(DOCS, "_ext"))

import fastlr  # noqa: E402
import fastlr_api  # noqa: E402  (docs/_ext on the path first)

_collected = {}


def _collect():
    """fastlr_api.collect(), once per session (it imports every front end)."""
    if "c" not in _collected:
        _collected["c"] = fastlr_api.collect()
    return _collected["c"]


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _module(modname):
    if modname == "fastlr.torch":
        pytest.importorskip("torch", reason="fastlr.torch needs torch, not installed")
    if modname == "fastlr.jax":
        pytest.importorskip("jax", reason="fastlr.jax needs jax, not installed")
    return importlib.import_module(modname)


def _public(modname):
    """(modname, name) for every name of the module's ``__all__``; optional modules
    whose dependency is missing are listed too and skip in the test."""
    try:
        mod = importlib.import_module(modname)
    except ImportError:
        return [(modname, None)]
    return [(modname, name) for name in mod.__all__]


PUBLIC = [pair for modname in fastlr_api.MODULES for pair in _public(modname)]


def _own_doc(obj):
    """The object's own docstring (not a base class's, not its type's)."""
    if inspect.isclass(obj) or inspect.ismodule(obj) or callable(obj):
        doc = obj.__doc__
    elif isinstance(obj, property):
        doc = obj.fget.__doc__ if obj.fget is not None else obj.__doc__
    else:
        return None
    return doc.strip() if isinstance(doc, str) and doc.strip() else None


@pytest.mark.parametrize("modname,name", PUBLIC, ids=[f"{m}.{n}" for m, n in PUBLIC])
def test_public_name_has_a_docstring(modname, name):
    mod = _module(modname)
    obj = getattr(mod, name)
    if fastlr_api.kind_of(obj) == "data":
        assert fastlr_api.data_doc(modname, name), (
            f"{modname}.{name} is a plain value ({obj!r}) without a description: write a "
            "`#: description` comment above its assignment, or add it to DATA_DOCS in "
            "docs/_ext/fastlr_api.py")
        return
    assert _own_doc(obj), f"{modname}.{name} has no docstring of its own"
    if inspect.isclass(obj):
        undocumented = []
        for member in fastlr_api.members_of(obj):
            value = inspect.getattr_static(obj, member)
            if isinstance(value, (classmethod, staticmethod)):
                value = value.__func__
            if not _own_doc(value):
                undocumented.append(f"{modname}.{name}.{member}")
        assert not undocumented, (
            f"public members on the reference page without a docstring: {undocumented}")


FORMULA_PAGES = ("schedules", "composition", "plateau", "optimizers", "kernels")


def _formula_names():
    """The schedules, optimizers and kernels of both backends (the names whose
    reference entry must state what they compute)."""
    out = []
    for modname in ("fastlr", "fastlr.reference", "fastlr.kernels"):
        mod = importlib.import_module(modname)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if fastlr_api.kind_of(obj) not in ("class", "function"):
                continue
            page = "kernels" if modname == "fastlr.kernels" else fastlr_api.classify(modname, obj)
            # classes, and the kernels; not the helpers (from_config, thread counts)
            if page in FORMULA_PAGES and (fastlr_api.kind_of(obj) == "class"
                                          or page == "kernels") and not name.endswith(
                                              "_num_threads"):
                out.append((modname, name))
    return out


FORMULA_NAMES = _formula_names()


@pytest.mark.parametrize("modname,name", FORMULA_NAMES,
                         ids=[f"{m}.{n}" for m, n in FORMULA_NAMES])
def test_schedule_and_update_docstrings_state_a_formula(modname, name):
    """Schedules, optimizers and kernels document what they compute: their docstring
    holds a formula, as a ``literal`` or a literal block (a prose-only docstring fails)."""
    doc = _own_doc(getattr(importlib.import_module(modname), name)) or ""
    assert re.search(r"``[^`]+``", doc) or "::\n" in doc, (
        f"{modname}.{name}: the docstring states no formula (no ``code`` literal and no "
        "literal block)")


@pytest.mark.parametrize("modname,name", PUBLIC, ids=[f"{m}.{n}" for m, n in PUBLIC])
def test_public_name_is_on_a_reference_page(modname, name):
    _module(modname)
    entries, skipped = _collect()
    targets = fastlr_api.documented_targets(entries)
    dotted = f"{modname}.{name}"
    assert dotted in targets, f"{dotted} is on no reference page"
    target = targets[dotted]
    entry = next(e for e in entries if e.target == target)
    assert entry.page in fastlr_api.PAGES, entry
    rst = fastlr_api.page_rst(entry.page, entries, skipped)
    directive = {"class": "autoclass", "function": "autofunction", "data": "py:data",
                 "module": "automodule"}[entry.kind]
    modpart, short = target.rsplit(".", 1)
    written = (rf"^\.\. py:currentmodule:: {re.escape(modpart)}\n\n\.\. py:data:: {short}$"
               if entry.kind == "data" else rf"^\.\. {directive}:: {re.escape(target)}$")
    assert re.search(written, rst, re.M), (
        f"the generated page {entry.page!r} has no `.. {directive}::` entry for {target}")
    if dotted.startswith("fastlr.reference.") and target != dotted:
        backends = fastlr_api.page_rst("backends", entries, skipped)
        assert f"``{dotted}``" in backends, f"{dotted} is missing from the backends table"


def test_pages_cover_the_modules_and_nothing_is_documented_twice():
    entries, _ = _collect()
    documented = [e.target for e in entries if e.page is not None]
    assert len(documented) == len(set(documented))
    # one object, one entry: the aliases point at it instead of repeating it
    ids = [id(e.obj) for e in entries if e.page is not None and e.kind != "data"]
    assert len(ids) == len(set(ids))
    for page in fastlr_api.PAGES:
        assert os.path.exists(os.path.join(DOCS, "reference", f"{page}.rst")), page


def test_every_leaf_schedule_has_a_gallery_plot():
    gallery = _load("fastlr_docs_gallery", os.path.join(DOCS, "gallery.py"))
    entries, _ = _collect()
    sources = "\n".join(g.source() for g in gallery.GALLERY)
    slugs = [g.slug for g in gallery.GALLERY]
    assert len(slugs) == len(set(slugs)), "two gallery entries have the same title"
    for g in gallery.GALLERY:
        compile(g.source(), g.title, "exec")
    missing = []
    for e in fastlr_api.page_entries(entries, "schedules"):
        if e.kind != "class":
            continue
        if e.name == "OneCycleMomentum":   # drawn as OneCycle(...).momentum(...)
            shown = re.search(r"fastlr\.OneCycle\([^\n]*\)\.momentum\(", sources)
        else:
            shown = f"fastlr.{e.name}(" in sources
        if not shown:
            missing.append(e.target)
    assert not missing, (
        f"no gallery plot for {missing}: add one line per class to GALLERY in docs/gallery.py, "
        "e.g. G(\"Name\", \"fastlr.Name(...)\")")


# The options that change a curve's shape (not only its numbers); each value must be drawn.
SHAPE_OPTIONS = [
    ("WarmupStableDecay", "stable", ("rsqrt", "power")),
    ("WarmupStableDecay", "decay", ("cosine", "1-sqrt", "power", "exp")),
    ("CosineRestarts", "cycle_decay_mode", ("amplitude",)),
    ("CosineRestarts", "cycle_limit", None),
    ("Cosine", "exponent", None),
    ("Cosine", "num_cycles", None),
    ("Cosine", "k_decay", None),
    ("Polynomial", "cycle", None),
    ("InverseSqrt", "timescale", None),
    ("Warmup", "clock", ("global",)),
    ("Warmup", "mode", ("exponential", "cosine", "1-sqrt")),
]


@pytest.mark.parametrize("cls, option, values", SHAPE_OPTIONS)
def test_every_shape_option_has_a_gallery_plot(cls, option, values):
    gallery = _load("fastlr_docs_gallery", os.path.join(DOCS, "gallery.py"))
    sources = "\n".join(g.source() for g in gallery.GALLERY)
    assert option in inspect.signature(getattr(fastlr, cls)).parameters, (cls, option)
    assert f"fastlr.{cls}(" in sources
    if values is None:
        assert f"{option}=" in sources, f"no gallery plot sets {cls}'s {option}"
        return
    for v in values:
        # given literally, or as one value of a loop over a tuple of strings
        assert f"'{v}'" in sources or f'"{v}"' in sources, (
            f"no gallery plot of {cls}({option}={v!r})")


def test_link_checker_reports_broken_internal_links(tmp_path):
    check_links = _load("fastlr_check_links", os.path.join(DOCS, "check_links.py"))
    (tmp_path / "a.html").write_text(
        '<html><body><h1 id="top">A</h1>'
        '<a href="b.html#here">ok</a> <a href="#top">ok</a> <a href="https://example.org/x">ext</a>'
        '<a href="b.html#nowhere">bad anchor</a> <a href="c.html">bad file</a>'
        '<img src="img/missing.png"></body></html>')
    (tmp_path / "b.html").write_text('<html><body><p id="here">B</p></body></html>')
    n, broken = check_links.check(str(tmp_path))
    assert n == 2
    assert len(broken) == 3, broken
    assert any("nowhere" in line for line in broken)
    assert any("c.html" in line for line in broken)
    assert any("missing.png" in line for line in broken)


@pytest.fixture(scope="module")
def built_html(tmp_path_factory):
    """A real Sphinx HTML build of docs/ (warnings are errors), in a child process."""
    pytest.importorskip("sphinx", reason="the docs build needs sphinx, not installed")
    pytest.importorskip("matplotlib", reason="the gallery needs matplotlib, not installed")
    out = tmp_path_factory.mktemp("docs")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-E", "-q", "-b", "html",
         "-d", str(out / "doctrees"), DOCS, str(out / "html")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"sphinx build failed:\n{proc.stdout}\n{proc.stderr}"
    return out / "html"


def test_built_pages_have_every_public_name(built_html):
    entries, _ = _collect()
    for e in entries:
        if e.page is None or e.kind == "module":
            continue
        html = (built_html / "reference" / f"{e.page}.html").read_text(encoding="utf-8")
        assert f'id="{e.target}"' in html, f"{e.target}: no anchor on reference/{e.page}.html"


def test_built_gallery_has_every_plot(built_html):
    gallery = _load("fastlr_docs_gallery", os.path.join(DOCS, "gallery.py"))
    html = (built_html / "gallery.html").read_text(encoding="utf-8")
    for g in gallery.GALLERY:
        assert f'src="_images/{g.slug}.png"' in html, g.title
        assert (built_html / "_images" / f"{g.slug}.png").stat().st_size > 1000, g.title


def test_built_links_are_unbroken(built_html):
    check_links = _load("fastlr_check_links", os.path.join(DOCS, "check_links.py"))
    n, broken = check_links.check(str(built_html))
    assert n > 10 and not broken, broken
