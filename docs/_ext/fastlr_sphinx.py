"""Sphinx glue for fastlr's documentation: generated reference pages, gallery, CLI help.

Three placeholders, each alone on a line of a page, are replaced with generated
reStructuredText when Sphinx reads the page (the ``source-read`` event), so the
generated text goes through the normal parser: its section titles reach the table of
contents and its autodoc directives run as if written by hand.

- ``.. fastlr-api:: PAGE``: the entries of reference page ``PAGE``, chosen from the
  modules' ``__all__`` by :mod:`fastlr_api`.
- ``.. fastlr-gallery::``: every entry of ``docs/gallery.py``, its code and its plot; the
  code is run here (matplotlib's Agg backend) and the figure written to
  ``docs/_generated/gallery/``.
- ``.. fastlr-cli::``: the ``--help`` of ``fastlr`` and of each of its subcommands, taken
  from the parser the command itself uses.
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import os
import re
import sys
import time
from contextlib import redirect_stdout

import fastlr_api
from sphinx.util import logging

logger = logging.getLogger(__name__)

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.dirname(HERE)
GENERATED = os.path.join(DOCS, "_generated")

_PLACEHOLDER = re.compile(r"^\.\. fastlr-(api|gallery|cli)::[ \t]*(\S*)[ \t]*$", re.M)
_cache = {}


def _collected():
    if "api" not in _cache:
        _cache["api"] = fastlr_api.collect()
    return _cache["api"]


def _api(page):
    if page not in fastlr_api.PAGES:
        raise ValueError(f"fastlr-api: unknown page {page!r}; pages: {list(fastlr_api.PAGES)}")
    entries, skipped = _collected()
    return fastlr_api.page_rst(page, entries, skipped, _gallery_links(entries))


def _gallery_links(entries):
    """Dotted name -> the gallery plots whose code calls it (``fastlr.Name(``)."""
    if "links" not in _cache:
        links = {}
        for g in _load_gallery():
            source = g.source()
            for e in entries:
                if e.page is not None and e.target.startswith("fastlr.") and re.search(
                        rf"\b{re.escape(e.target)}\(", source):
                    links.setdefault(e.target, []).append((g.title, f"gallery-{g.slug}"))
        _cache["links"] = links
    return _cache["links"]


def _load_gallery():
    spec = importlib.util.spec_from_file_location("fastlr_docs_gallery",
                                                  os.path.join(DOCS, "gallery.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.GALLERY


def _draw(entry, path):
    import matplotlib
    matplotlib.use("Agg")
    import numpy as np

    import fastlr

    scope = {"np": np, "fastlr": fastlr, "__name__": "fastlr_gallery"}
    exec(compile(entry.source(), f"<gallery: {entry.title}>", "exec"), scope)
    fig = scope.get("fig")
    if fig is None:
        raise ValueError(f"gallery entry {entry.title!r} left no `fig`")
    if entry.code is None:
        fig.axes[0].set_title(entry.title)
    fig.savefig(path, dpi=80)


def _gallery():
    os.makedirs(os.path.join(GENERATED, "gallery"), exist_ok=True)
    out = []
    slugs = set()
    for entry in _load_gallery():
        if entry.slug in slugs:
            raise ValueError(f"two gallery entries have the slug {entry.slug!r}")
        slugs.add(entry.slug)
        png = os.path.join(GENERATED, "gallery", entry.slug + ".png")
        _draw(entry, png)
        out += [f".. _gallery-{entry.slug}:", "", entry.title, "-" * len(entry.title), ""]
        if entry.note:
            out += [entry.note, ""]
        out += [".. container:: gallery-item", "",
                "   .. container:: gallery-code", "",
                "      .. code-block:: python", ""]
        out += ["         " + line if line else "" for line in entry.source().splitlines()]
        out += ["", "   .. container:: gallery-plot", "",
                f"      .. image:: /_generated/gallery/{entry.slug}.png",
                f"         :alt: {entry.title}", ""]
    return "\n".join(out) + "\n"


def _cli():
    from fastlr import cli

    parser = cli._parser()
    out = []

    def block(title, text, level):
        out.extend([title, level * len(title), "", ".. code-block:: text", ""])
        out.extend("   " + line if line else "" for line in text.rstrip().splitlines())
        out.append("")

    block("``fastlr``", _help(parser), "-")
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in subs:
        for name, sub in action.choices.items():
            block(f"``fastlr {name}``", _help(sub), "-")
    return "\n".join(out) + "\n"


def _help(parser):
    # a fixed width, so the page does not depend on the terminal that built it
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"
    try:
        buf = io.StringIO()
        with redirect_stdout(buf):
            parser.print_help()
        return buf.getvalue()
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def _source_read(app, docname, source):
    text = source[0]
    if ".. fastlr-" not in text:
        return

    def expand(match):
        kind, arg = match.group(1), match.group(2)
        started = time.perf_counter()
        if kind == "api":
            rst = _api(arg)
        elif kind == "gallery":
            rst = _gallery()
        else:
            rst = _cli()
        logger.verbose("fastlr-%s %s: %.2f s", kind, arg, time.perf_counter() - started)
        return rst

    source[0] = _PLACEHOLDER.sub(expand, text)


def _napoleon_except_attributes(app):
    """Napoleon, except on property and attribute docstrings.

    Google style reads the first line of an attribute's docstring as ``type:
    description``, so "The lr at the plateau's clock: ``base(t) * scale``." would render
    with "The lr at the plateau's clock" as a type. fastlr's property docstrings are
    sentences; they are left as plain reStructuredText.
    """
    from sphinx.ext import napoleon

    app.setup_extension("sphinx.ext.napoleon")
    listeners = app.events.listeners["autodoc-process-docstring"]
    for listener in list(listeners):
        if listener.handler is napoleon._process_docstring:
            app.disconnect(listener.id)

    def process(app, what, name, obj, options, lines):
        if what in ("property", "attribute", "data"):
            return
        napoleon._process_docstring(app, what, name, obj, options, lines)

    app.connect("autodoc-process-docstring", process)


def _resolve_by_suffix(app, env, node, contnode):
    """Resolve a short Python reference that names exactly one documented object.

    Docstrings are written for their module's readers: ``:meth:`Schedule.to_config``` in
    ``fastlr.tools.spec`` means ``fastlr.Schedule.to_config``, which Sphinx's own lookup
    (current module, then the bare name) does not find. When exactly one documented
    object's full name ends with ``.<target>``, link to it; otherwise leave the reference
    unresolved, so nitpicky mode still reports it.
    """
    if node.get("refdomain") != "py":
        return None
    from sphinx.util.nodes import make_refnode

    target = node["reftarget"].lstrip(".~")
    # an optional front end missing at build time: link to its page, which says so
    _, skipped = _collected()
    for modname in skipped:
        if target == modname or target.startswith(modname + "."):
            page = "reference/" + modname.rsplit(".", 1)[1]
            return make_refnode(app.builder, node["refdoc"], page, "", contnode, target)
    domain = env.get_domain("py")
    hits = [(name, entry) for name, entry in domain.objects.items()
            if name.endswith("." + target) and not entry.aliased]
    if len(hits) > 1:
        # several (fastlr.find_lr, fastlr.torch.find_lr): the one in the module the
        # reference is written in, if there is one
        here = node.get("py:module")
        hits = [(name, entry) for name, entry in hits if name == f"{here}.{target}"]
    if len(hits) != 1:
        return None
    name, entry = hits[0]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode,
                        name)


def setup(app):
    _napoleon_except_attributes(app)
    app.connect("missing-reference", _resolve_by_suffix)
    app.connect("source-read", _source_read)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
