"""Which public name goes on which reference page, and the reStructuredText for it.

Pure Python (no Sphinx import), so ``tests/test_docs.py`` can check the generated pages
without building them. The pages are generated from the modules' ``__all__``: a name
that another change adds to ``fastlr.__all__`` (or to ``fastlr.torch``, ``fastlr.jax``,
``fastlr.kernels``, ``fastlr.tools``) lands on its page with no edit here, because the
page is chosen from what the object is (a schedule, an optimizer, a tool) and where it
is defined, not from a hand-written list.

Each object is documented once, under its canonical name (``fastlr.X`` for the names of
``fastlr.__all__``; ``fastlr.kernels.x``, ``fastlr.torch.X``, ``fastlr.jax.x`` for the
others); another public name bound to the same object (``fastlr.tools.find_lr``, the
``fastlr.reference`` twins) is listed as an alias that links there.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import types

# page id -> (title, the paragraph under the title)
PAGES = {
    "schedules": (
        "Schedules",
        "The leaf schedules: each is a pure function of the step ``t`` (the 0-based index of "
        "the update that uses the value). Every one accepts a scalar or an array of steps and "
        "offers the methods of :class:`fastlr.Schedule`. Past its horizon a schedule holds its "
        "final value; a boundary switches *at* the boundary (``t == b`` takes the new value). "
        "The :doc:`../gallery` plots every one of them."),
    "composition": (
        "Composition",
        "The base class every schedule derives from, the schedules that wrap other schedules "
        "(their children run on their own clocks), the helpers that build common compositions, "
        "and the configs that rebuild any of them. Compositions nest to any depth and still "
        "evaluate in C."),
    "plateau": (
        "Plateau",
        "The stateful schedule: torch's ``ReduceLROnPlateau`` rules on top of a float or any "
        "schedule, driven by a recorded metric."),
    "optimizers": (
        "Optimizers",
        "The numpy optimizers. ``params`` is an array, a list of arrays or a list of torch-style "
        "group dicts; arrays are float32 or float64, C-contiguous and writeable, and the state "
        "buffers share each param's dtype. Every float hyperparameter read at each step (``lr``, "
        "``momentum``, both ``betas``, ``eps``, ``weight_decay``, ``alpha``, ``dampening``, "
        "``lr_decay``, ``r``, ``weight_lr_power``, ``rho``, ``lambd``, ``momentum_decay``) "
        "accepts a schedule, evaluated at the optimizer's step count and checked against the "
        "option's bounds; flags, ints and ``initial_accumulator_value`` stay plain. A step "
        "validates every input before it writes anything. The torch.optim twins of these "
        "classes are in :mod:`fastlr.torch.optim`."),
    "kernels": (
        "Kernels",
        "The single-array, in-place update functions behind the optimizers. "
        ":mod:`fastlr.reference.kernels` has the same functions in numpy; the two agree bit "
        "for bit."),
    "tools": (
        "Tools",
        "The tools around the learning rate. They take and return plain floats and schedules, "
        "so they are the same functions on both backends."),
    "torch": (
        "PyTorch",
        "fastlr for PyTorch users. ``import fastlr`` never imports torch; "
        "``import fastlr.torch`` does, and without torch it raises an ``ImportError`` that says "
        "how to install it."),
    "jax": (
        "JAX / optax",
        "fastlr schedules for JAX and optax. ``import fastlr`` never imports jax; "
        "``import fastlr.jax`` does, and without jax it raises an ``ImportError`` that says how "
        "to install it."),
    "backends": (
        "Backends and version",
        "``import fastlr`` gives the compiled backend; :mod:`fastlr.reference` is the "
        "pure-Python backend with the same public names, signatures, docstrings and errors. It "
        "is the executable specification: every test runs on both, and the compiled backend "
        "agrees with it within 1e-12 of a schedule's peak value and bit for bit for the "
        "optimizers."),
    "other": (
        "Other names",
        "Public names that none of the other pages claims (a page for them is still to be "
        "written)."),
}

# Public names bound to plain values (no docstring of their own): their description.
DATA_DOCS = {
    ("fastlr", "__version__"): "The version of fastlr, a ``'MAJOR.MINOR.PATCH'`` string.",
    ("fastlr", "BACKEND"): "``'compiled'``: which backend this module is.",
    ("fastlr.reference", "BACKEND"): "``'reference'``: which backend this module is.",
}

# The modules whose ``__all__`` the reference pages document (issue 16), the front ends
# (optional: their import may fail, then their page says so).
MODULES = ("fastlr", "fastlr.reference", "fastlr.tools", "fastlr.kernels", "fastlr.torch",
           "fastlr.jax")
OPTIONAL = ("fastlr.torch", "fastlr.jax")

# Where a front end's names go.
_FRONT_END_PAGE = {"fastlr.torch": "torch", "fastlr.jax": "jax", "fastlr.kernels": "kernels",
                   "fastlr.tools": "tools"}


class Entry:
    """One documented object: its canonical dotted name, its page and its aliases."""

    def __init__(self, target, obj, page, kind):
        self.target = target          # "fastlr.Cosine"
        self.obj = obj
        self.page = page
        self.kind = kind              # "class", "function", "module", "data"
        self.aliases = []             # other public dotted names of the same object

    @property
    def name(self):
        return self.target.rsplit(".", 1)[1]

    def __repr__(self):
        return f"Entry({self.target!r}, page={self.page!r}, kind={self.kind!r})"


def import_optional(modname):
    """The module, or ``(None, reason)`` when an optional dependency is missing."""
    try:
        return importlib.import_module(modname), None
    except ImportError as exc:
        return None, str(exc).split(". ")[0]


def kind_of(obj):
    if isinstance(obj, types.ModuleType):
        return "module"
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    return "data"


def _defined_in(obj):
    """The module that defines ``obj`` (the reference class, for a compiled twin)."""
    if inspect.isclass(obj):
        for klass in obj.__mro__:
            mod = klass.__module__ or ""
            if mod.startswith("fastlr.reference"):
                return mod
        return obj.__module__ or ""
    return getattr(obj, "__module__", "") or ""


def _wraps_schedules(cls):
    """Whether a schedule class is built from other schedules (or a callable): a
    composite, documented with the composition."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False
    return bool({"schedule", "schedules", "fn"} & set(params))


def data_doc(modname, name):
    """The description of a public plain value: DATA_DOCS, else the ``#:`` comment above
    its assignment in the module's source (what Sphinx's autodata reads)."""
    doc = DATA_DOCS.get((modname, name))
    if doc:
        return doc
    try:
        from sphinx.pycode import ModuleAnalyzer
        docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
    except Exception:   # no sphinx, or no source to read
        return None
    lines = docs.get(("", name))
    return " ".join(line.strip() for line in lines).strip() or None if lines else None


def classify(modname, obj):
    """The page of a public object of ``fastlr`` or ``fastlr.reference``."""
    from fastlr.reference import Schedule
    from fastlr.reference.optim import Optimizer

    kind = kind_of(obj)
    where = _defined_in(obj)
    if kind == "data":
        return "backends"
    if kind == "module":
        return "kernels" if obj.__name__.endswith(".kernels") else "other"
    if where.startswith("fastlr.tools"):
        return "tools"
    if kind == "class":
        if issubclass(obj, Optimizer):
            return "optimizers"
        if "plateau" in where:
            return "plateau"
        if issubclass(obj, Schedule):
            if (obj.__name__ == "Schedule" or where.endswith((".compose", "._base"))
                    or _wraps_schedules(obj)):
                return "composition"
            return "schedules"
    if getattr(obj, "__name__", "") == "from_config":
        return "composition"
    for needle, page in ((".compose", "composition"), ("plateau", "plateau"),
                         ("kernels", "optimizers"), ("optim", "optimizers"),
                         (".schedules", "schedules"), ("._base", "composition")):
        if needle in where:
            return page
    return "other"


def _public_submodules(pkg):
    """Public submodules of a package that define ``__all__`` (e.g. ``fastlr.torch.optim``)."""
    out = []
    for info in pkgutil.iter_modules(getattr(pkg, "__path__", [])):
        if info.name.startswith("_"):
            continue
        try:
            mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        except ImportError:
            continue
        if hasattr(mod, "__all__"):
            out.append(mod)
    return out


def collect():
    """``(entries, skipped)``: every documented object, and the optional modules that
    could not be imported (name -> reason).

    Order: ``fastlr.__all__`` first (canonical ``fastlr.X``), then the front ends, then
    ``fastlr.reference.__all__`` (whose names are aliases of ``fastlr``'s where the objects
    are the same, and documented under ``fastlr.reference`` where they differ, as the
    compiled and reference classes do: those are linked, not repeated).
    """
    import fastlr

    entries = []
    by_id = {}
    by_name = {}
    skipped = {}

    def add(modname, name, obj, page):
        dotted = f"{modname}.{name}"
        key = id(obj)
        if kind_of(obj) != "data" and key in by_id:
            by_id[key].aliases.append(dotted)
            by_name[dotted] = by_id[key]
            return
        e = Entry(dotted, obj, page, kind_of(obj))
        entries.append(e)
        by_name[dotted] = e
        if e.kind != "data":
            by_id[key] = e

    for name in fastlr.__all__:
        obj = getattr(fastlr, name)
        add("fastlr", name, obj, classify("fastlr", obj))

    for modname in ("fastlr.kernels", "fastlr.tools", "fastlr.torch", "fastlr.jax"):
        if modname in OPTIONAL:
            mod, reason = import_optional(modname)
            if mod is None:
                skipped[modname] = reason
                continue
        else:
            mod = importlib.import_module(modname)
        mods = [mod] + _public_submodules(mod) if modname in OPTIONAL else [mod]
        for m in mods:
            start = len(entries)
            for name in getattr(m, "__all__", []):
                obj = getattr(m, name)
                if isinstance(obj, types.ModuleType) and hasattr(obj, "__all__"):
                    continue  # a listed submodule: collected as one of `mods`
                add(m.__name__, name, obj, _FRONT_END_PAGE[modname])
            listed = m is not mod and m.__name__.rsplit(".", 1)[1] in getattr(mod, "__all__", [])
            if m is not mod and (listed or len(entries) > start):
                # a public submodule with names of its own (fastlr.torch.optim): a heading
                # with its docstring, then its names
                e = Entry(m.__name__, m, _FRONT_END_PAGE[modname], "module")
                entries.insert(start, e)
                by_name[m.__name__] = e
                if listed:
                    e.aliases.append(f"{modname}.{m.__name__.rsplit('.', 1)[1]}")

    import fastlr.reference as ref
    for name in ref.__all__:
        obj = getattr(ref, name)
        dotted = f"fastlr.reference.{name}"
        twin = by_name.get(f"fastlr.{name}")
        if kind_of(obj) == "data":
            add("fastlr.reference", name, obj, "backends")
        elif id(obj) in by_id:
            add("fastlr.reference", name, obj, None)     # the same object: an alias
        elif twin is not None:
            # the reference twin of a compiled class: the backends table links it
            e = Entry(dotted, obj, None, kind_of(obj))
            e.twin = twin
            entries.append(e)
            by_name[dotted] = e
        else:
            # only in the reference backend (a bug DESIGN.md forbids): document it anyway
            add("fastlr.reference", name, obj, classify("fastlr.reference", obj))
    return entries, skipped


def page_entries(entries, page):
    return [e for e in entries if e.page == page]


def _members(cls):
    """Public methods and properties a reader needs on this class's entry: those defined
    in the class or in a fastlr base that is not documented on its own (``Schedule``, the
    optimizer interface) and not an implementation detail (the compiled base)."""
    from fastlr.reference import Schedule
    from fastlr.reference.optim import Optimizer

    stop = {object, Schedule, Optimizer}
    seen = []
    for klass in cls.__mro__:
        module = klass.__module__ or ""
        # fastlr's own classes only: a peer base class (torch's LRScheduler) documents
        # its own methods, and the compiled base is an implementation detail
        if klass in stop or not module.startswith("fastlr") or module.startswith("fastlr._"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            if callable(value) or isinstance(value, (property, classmethod, staticmethod)):
                seen.append(name)
    return sorted(seen)


def members_of(cls):
    """The members a class's entry lists (the base ``Schedule`` lists the calls every
    schedule offers)."""
    from fastlr.reference import Schedule

    if cls is Schedule:
        return ["__call__", "values", "to_config"]
    return _members(cls)


def _directive(e):
    if e.kind == "class":
        lines = [f".. autoclass:: {e.target}"]
        members = members_of(e.obj)
        if "__call__" in members:
            lines.append("   :special-members: __call__")
        if members:
            # undoc-members: a listed member shows even without a docstring (autodoc would
            # drop it silently; tests/test_docs.py reports the missing docstring)
            lines += ["   :members: " + ", ".join(members), "   :undoc-members:"]
        return lines
    if e.kind == "function":
        return [f".. autofunction:: {e.target}"]
    if e.kind == "module":
        return [f".. py:module:: {e.target}", "   :no-index:", "", "   " + (
            "see :doc:`kernels`" if e.page != "kernels" else "")]
    raise AssertionError(e)


def _alias_line(e):
    if not e.aliases:
        return []
    names = ", ".join(f"``{a}``" for a in e.aliases)
    return ["", f"   Also public as {names} (the same object)."]


def entry_rst(e, gallery=None):
    """The reStructuredText of one entry: a section titled by its name, then autodoc.

    ``gallery`` maps a dotted name to ``[(title, label)]``, the gallery plots that use it.
    """
    # a plain value's name alone says little (BACKEND is in both modules): the full name
    title = e.target if e.kind in ("module", "data") else e.name
    out = [f".. _api-{e.target}:", "", title, "~" * len(title), "",
           f".. py:currentmodule:: {e.target.rsplit('.', 1)[0]}", ""]
    if e.kind == "data":
        doc = data_doc(*e.target.rsplit(".", 1))
        out += [f".. py:data:: {e.name}", f"   :value: {e.obj!r}", "", f"   {doc or ''}"]
        return out + [""]
    if e.kind == "module":
        # a public submodule listed in __all__ (fastlr.kernels): its page documents it in
        # its "The modules" section
        if e.page == "kernels":
            return []
        return [f".. _api-{e.target}:", "", title, "~" * len(title), "",
                f".. automodule:: {e.target}", "   :no-members:", ""]
    out += _directive(e) + _alias_line(e)
    plots = (gallery or {}).get(e.target, [])
    if plots:
        links = ", ".join(f":ref:`{title} <{label}>`" for title, label in plots)
        out += ["", f"   In the gallery: {links}."]
    return out + [""]


def page_rst(page, entries=None, skipped=None, gallery=None):
    """The generated body of the reference page ``page`` (after its title)."""
    if entries is None:
        entries, skipped = collect()
    skipped = skipped or {}
    title, intro = PAGES[page]
    out = [intro, ""]
    if page == "torch":
        out += _skip_note("fastlr.torch", skipped) + [".. py:module:: fastlr.torch", ""]
    if page == "jax":
        out += _skip_note("fastlr.jax", skipped) + [".. py:module:: fastlr.jax", ""]
    if page == "optimizers":
        out += _optimizer_interface()
    mine = page_entries(entries, page)
    if page == "other" and not mine:
        out += ["(None at the moment: every public name has its page.)", ""]
    out += _summary(mine)
    for e in mine:
        out += entry_rst(e, gallery)
    if page == "backends":
        out += _backends_table(entries)
    if page == "tools":
        import fastlr.tools
        out += _modules_section([m.__name__ for m in _public_submodules(fastlr.tools)],
                                "The tools above live in these modules; their docstrings "
                                "hold the details that apply to several tools.")
    if page == "kernels":
        out += _modules_section(["fastlr.kernels", "fastlr.reference.kernels"],
                                "The two modules and how they share the work.")
        out += [".. py:module:: fastlr._optim", "",
                "   (private) The compiled extension module that holds the C kernels.", ""]
    return "\n".join(out) + "\n"


def _modules_section(names, intro):
    """A section with each module's docstring under its own heading."""
    out = ["The modules", "~~~~~~~~~~~", "", intro, ""]
    for name in names:
        out += [f"``{name}``", "^" * (len(name) + 4), "",
                f".. automodule:: {name}", "   :no-members:", ""]
    return out


def summary_line(e):
    """The first paragraph of an entry's docstring, on one line (for the page's table)."""
    if e.kind == "data":
        return data_doc(*e.target.rsplit(".", 1)) or ""
    doc = inspect.getdoc(e.obj) or ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def _summary(mine):
    rows = [e for e in mine if e.kind != "module"]
    if len(rows) < 2:
        return []
    # the summaries' short references (:func:`find_lr`) resolve in the rows' module
    parts = [e.target.split(".")[:-1] for e in rows]
    common = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    out = [f".. py:currentmodule:: {'.'.join(common) or 'fastlr'}", "",
           ".. list-table::", "   :class: fastlr-summary", "   :widths: 25 75", ""]
    for e in rows:
        prefix = ".".join(common) + "."
        label = e.target if e.kind == "data" else (
            e.target[len(prefix):] if e.target.startswith(prefix) and common else e.name)
        out += [f"   * - :py:obj:`{label} <{e.target}>`", f"     - {summary_line(e)}"]
    return out + [""]


def _skip_note(modname, skipped):
    if modname not in skipped:
        return []
    return [".. note::", "",
            f"   ``{modname}`` could not be imported when this page was built "
            f"({skipped[modname]}), so its API is not listed here. Build the documentation "
            "with it installed to see it.", ""]


def _optimizer_interface():
    return ["The optimizer interface", "~~~~~~~~~~~~~~~~~~~~~~~", "",
            "Every optimizer below has these methods and properties.", "",
            ".. autoclass:: fastlr.reference.optim.Optimizer",
            "   :members: step, last_lr, last_lrs, state_dict, load_state_dict", ""]


def _backends_table(entries):
    """Every name of ``fastlr.reference.__all__`` and where its compiled twin is."""
    import fastlr
    import fastlr.reference as ref

    out = ["The two backends, name by name", "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~", "",
           ".. automodule:: fastlr.reference", "   :no-members:", "",
           "Every public name exists in both modules. \"same object\" means the reference "
           "module exports the very object ``fastlr`` does (the tools, the plateau); "
           "\"twin\" means a separate class or function with the same signature, "
           "docstring and errors, computing in pure Python.", "",
           ".. list-table::", "   :header-rows: 1", "",
           "   * - ``fastlr.reference``", "     - ``fastlr``", "     - relation"]
    for name in ref.__all__:
        obj = getattr(ref, name)
        if hasattr(fastlr, name):
            cobj = getattr(fastlr, name)
            link = f":py:obj:`fastlr.{name}`" if kind_of(cobj) != "module" else (
                ":doc:`fastlr.kernels <kernels>`")
            rel = "same object" if cobj is obj else "twin"
        else:
            link, rel = "(missing)", "**only in the reference backend**"
        out += [f"   * - ``fastlr.reference.{name}``", f"     - {link}", f"     - {rel}"]
    for name in fastlr.__all__:
        if not hasattr(ref, name) and name != "__version__":
            out += [f"   * - (missing)", f"     - :py:obj:`fastlr.{name}`",
                    "     - **only in the compiled backend**"]
    return out + [""]


def documented_targets(entries):
    """Every public dotted name -> the dotted name its reference page documents it under."""
    out = {}
    for e in entries:
        if e.page is not None:
            for name in [e.target] + e.aliases:
                out[name] = e.target
        elif getattr(e, "twin", None) is not None:
            out[e.target] = e.twin.target
    return out
