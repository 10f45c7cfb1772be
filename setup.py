"""Builds fastlr's compiled modules; the metadata is in pyproject.toml.

Every ``src_c/_<name>.pyx`` becomes the extension ``fastlr._<name>``; a module lists
its C sources in a ``# distutils: sources = ...`` line at its top.

Flags (style notes, "Flag policy"): portable only. ``-ffp-contract=off`` keeps the
compiler from fusing ``a*b+c`` (that would change the bits and break equality with the
reference across compilers and CPUs); ``-fno-math-errno`` lets sqrt vectorise and
``-fno-trapping-math`` lets branch-free selects vectorise (neither changes a value); SIMD
width is chosen at run time (src_c/fl_schedule.c), never with ``-march``. OpenMP is
used when a probe compiles with it; set ``FASTLR_NO_OPENMP=1`` to build serial.
``FASTLR_DEBUG_CYTHON=1`` turns bounds and wraparound checks back on.
"""
import os
import sys
import tempfile
from pathlib import Path

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # pragma: no cover - build isolation installs it
    sys.exit("fastlr needs Cython>=3 to build: pip install 'Cython>=3'")

HERE = Path(__file__).parent
DEBUG = os.environ.get("FASTLR_DEBUG_CYTHON") == "1"

if sys.platform == "win32":
    CFLAGS = ["/O2", "/fp:precise"]
    OPENMP_FLAGS = (["/openmp"], [])
else:
    CFLAGS = ["-O3", "-g0", "-ffp-contract=off", "-fno-math-errno",
              "-fno-trapping-math", "-std=gnu11"]
    OPENMP_FLAGS = (["-fopenmp"], ["-fopenmp"])


def openmp_flags():
    """(compile, link) flags for OpenMP if a test program builds with them, else none."""
    if os.environ.get("FASTLR_NO_OPENMP") == "1":
        return [], []
    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.sysconfig import customize_compiler

    compiler = new_compiler()
    customize_compiler(compiler)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "probe.c")
        src.write_text("#include <omp.h>\nint main(void){return omp_get_max_threads()<1;}\n")
        try:
            objs = compiler.compile([str(src)], output_dir=tmp, extra_postargs=OPENMP_FLAGS[0])
            compiler.link_executable(objs, str(Path(tmp, "probe")),
                                     extra_postargs=OPENMP_FLAGS[1])
        except Exception:
            print("fastlr: OpenMP not available, building serial code", file=sys.stderr)
            return [], []
    return OPENMP_FLAGS


def extensions():
    omp_compile, omp_link = openmp_flags()
    exts = []
    for pyx in sorted((HERE / "src_c").glob("_*.pyx")):
        exts.append(Extension(
            f"fastlr.{pyx.stem}",
            [str(pyx.relative_to(HERE))],
            include_dirs=["src_c"],
            # the C sources include these headers; a changed header must rebuild them
            depends=[str(h.relative_to(HERE)) for h in sorted((HERE / "src_c").glob("*.h"))],
            extra_compile_args=CFLAGS + omp_compile,
            extra_link_args=omp_link,
        ))
    if not exts:  # an incomplete sdist must not quietly build a wheel without its core
        sys.exit("fastlr: no src_c/_*.pyx found; the source tree is incomplete")
    return cythonize(
        exts,
        compiler_directives={
            "language_level": 3,
            "boundscheck": DEBUG,
            "wraparound": DEBUG,
            "initializedcheck": DEBUG,
            "cdivision": True,
            "embedsignature": True,
        },
    )


setup(ext_modules=extensions())
