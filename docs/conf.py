"""Sphinx configuration of fastlr's documentation (``docs/build.sh`` builds it).

fastlr is not installed for the build: the repository root goes on ``sys.path`` and the
compiled modules must have been built in place (``python setup.py build_ext --inplace``).
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(HERE, "_ext"))

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("FASTLR_PROGRESS", "0")   # no progress lines from find_lr examples

import fastlr  # noqa: E402  (after the path set-up)

project = "fastlr"
author = "the fastlr authors"
copyright = "the fastlr authors"
release = fastlr.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    # sphinx.ext.napoleon is set up by fastlr_sphinx (not on attribute docstrings)
    "sphinx.ext.intersphinx",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "fastlr_sphinx",
]

root_doc = "index"
exclude_patterns = ["_build", "_generated/*.rst", "README.md"]
templates_path = []
nitpicky = True            # every cross-reference must resolve (build.sh adds -n anyway)
default_role = "code"      # a stray `single backquote` renders as code, not a warning
toc_object_entries_show_parents = "hide"

# -- autodoc / napoleon --------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = False   # no "Call self as a function." from object
autodoc_class_signature = "mixed"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True          # "Attributes:" as a field list, not duplicate objects
napoleon_use_rtype = False

# -- intersphinx, offline first -------------------------------------------------------
# No inventory ships with the docs and the build reaches no network by default. An
# inventory is used when its file is in docs/_inventories/<name>.inv (download it once
# by hand: <url>objects.inv), or, with FASTLR_DOCS_ONLINE=1, fetched from the url.
# References into a package without an inventory render as plain code, with no warning.
_INVENTORIES = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "torch": "https://docs.pytorch.org/docs/stable/",
    "jax": "https://docs.jax.dev/en/latest/",
    "matplotlib": "https://matplotlib.org/stable/",
}
_ONLINE = os.environ.get("FASTLR_DOCS_ONLINE") == "1"
intersphinx_mapping = {}
intersphinx_timeout = 5
_modules = {"python": r"(builtins|ast|os|argparse|typing|collections|numbers)",
            "numpy": r"(numpy|np)", "torch": r"torch", "jax": r"(jax|jnp|optax)",
            "matplotlib": r"matplotlib"}
nitpick_ignore_regex = []
for _name, _url in _INVENTORIES.items():
    _local = os.path.join(HERE, "_inventories", f"{_name}.inv")
    if os.path.exists(_local):
        intersphinx_mapping[_name] = (_url, _local)
    elif _ONLINE:
        intersphinx_mapping[_name] = (_url, None)
    else:
        nitpick_ignore_regex.append((r"py:.*", _modules[_name] + r"(\..*)?"))
if "python" not in intersphinx_mapping:
    # builtin names that signatures and napoleon mention (float, int, ...)
    nitpick_ignore_regex.append((r"py:(class|obj|exc|data)",
                                 r"(float|int|str|bool|dict|list|tuple|object|callable|"
                                 r"None|TypeError|ValueError|ImportError|Exception)"))

# -- doctest ---------------------------------------------------------------------------
doctest_global_setup = """
import numpy as np
import fastlr
np.set_printoptions(precision=6, suppress=False)
try:
    import torch
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False
try:
    import jax, optax
    HAVE_JAX = True
except ImportError:
    HAVE_JAX = False
import importlib.util
# found, not imported: the pages that use them import them (timm.scheduler only, without
# timm's package __init__, which needs torchvision)
HAVE_TRANSFORMERS = HAVE_TORCH and importlib.util.find_spec("transformers") is not None
import sys
HAVE_TIMM = HAVE_TORCH and ("timm" in sys.modules or importlib.util.find_spec("timm") is not None)
"""
doctest_test_doctest_blocks = ""   # only explicit doctest/testcode directives run

# -- HTML --------------------------------------------------------------------------------
try:
    import furo  # noqa: F401
    html_theme = "furo"
except ImportError:   # the default theme, when furo is not installed
    html_theme = "alabaster"
html_title = f"fastlr {release}"
html_static_path = ["_static"]
html_css_files = ["fastlr.css"]
html_show_sourcelink = False
html_copy_source = False
