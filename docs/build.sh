#!/usr/bin/env bash
# Build fastlr's documentation and check it; any warning fails the build.
#   docs/build.sh            HTML in docs/_build/html, the doctests, the internal links
# Needs: sphinx, furo (else the default theme), matplotlib, and the compiled modules
# built in place (python setup.py build_ext --inplace). torch, jax and optax are
# optional: the examples that need them are skipped without them.
# Offline: no inventory is fetched; FASTLR_DOCS_ONLINE=1 fetches the intersphinx ones.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
out=docs/_build
rm -rf "$out/doctrees"
# -E: read every page afresh (generated pages depend on the code, not only on docs/)
python -m sphinx -W --keep-going -n -E -q -b html -d "$out/doctrees" docs "$out/html"
python -m sphinx -W --keep-going -n -q -b doctest -d "$out/doctrees" docs "$out/doctest"
python docs/check_links.py "$out/html"
