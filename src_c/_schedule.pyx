# distutils: sources = src_c/fl_schedule.c
"""The compiled schedule engine (``fastlr._schedule``).

:class:`CompiledSchedule` is the first base of every public schedule class in
``fastlr``; the second is the matching reference class, which supplies validation,
configs and the spec formula. This base only evaluates: on first use it flattens the
schedule's ``_spec()`` tree into a C program (``src_c/fl_schedule.h``) and from then on
``s(t)``, ``s(array)`` and ``s.values(n)`` run in C with the GIL released.
"""
cimport cython
from cpython.exc cimport PyErr_CheckSignals
from cpython.long cimport PyLong_AsDouble
from libc.stdlib cimport malloc, free
from libc.string cimport memset

import numpy as np

from fastlr import _threads, _validate

cdef extern from "fl_schedule.h" nogil:
    enum:
        FL_NPARAM
    ctypedef struct fl_node:
        int kind
        int flag
        int nkids
        int kid0
        double p[8]
        const double *a
        const double *b
        Py_ssize_t na
        Py_ssize_t nb
    ctypedef struct fl_program:
        fl_node *nodes
        int *kids
        double *data
        int depth
    int fl_simd_supported()
    int fl_simd_get()
    int fl_simd_set(int level)
    Py_ssize_t fl_eval_points(const fl_program *P, const double *t, double *out, Py_ssize_t n)
    void fl_eval_range(const fl_program *P, double start, double *out, Py_ssize_t n)
    double fl_eval_scalar(const fl_program *P, double t)
    double fl_eval_node_scalar(const fl_program *P, int node, double t)
    int fl_openmp()
    void fl_schedule_set_threads(int n)
    int fl_schedule_get_threads()
    int fl_schedule_backoff()

# kind names of the Python _spec() tuples, in the order of enum fl_kind
KINDS = ("constant", "linear", "step", "multistep", "exponential", "polynomial", "cosine",
         "restarts", "invsqrt", "invtime", "cyclic", "onecycle", "wsd", "pwconst",
         "pwlinear", "warmup", "sequence", "scaled", "product", "swa", "tanh", "noise")
cdef dict _KIND_ID = {name: i for i, name in enumerate(KINDS)}
cdef int _WARMUP = _KIND_ID["warmup"]
cdef int _SWA = _KIND_ID["swa"]
cdef double _MAX_STEP = _validate.MAX_STEP
cdef object _MAX_STEP_INT = int(_validate.MAX_STEP)
cdef int _MAX_DEPTH = _validate.MAX_DEPTH
# long calls run in chunks of this many steps (a whole number of blocks, so the block
# grid and hence the bits are those of one call), with a check for Ctrl-C (or any
# signal handler that raises) between chunks: a few milliseconds each
cdef Py_ssize_t _CHUNK = 1 << 21

SIMD_LEVELS = ("baseline", "avx2", "avx512")
OPENMP = bool(fl_openmp())


def _set_threads(n):
    """The setter fastlr/_threads.py calls with the one thread count (1 after a fork)."""
    fl_schedule_set_threads(<int>n)


def _get_threads():
    """The thread count the parallel paths use now."""
    return fl_schedule_get_threads()


def _serial_backoff():
    """Large calls left to run on one thread because threads lately lost to one."""
    return fl_schedule_backoff()


_threads.register(_set_threads)


def simd_level():
    """The SIMD code path in use: ``'baseline'``, ``'avx2'`` or ``'avx512'``."""
    return SIMD_LEVELS[fl_simd_get()]


def simd_supported():
    """The best SIMD code path this CPU can run."""
    return SIMD_LEVELS[fl_simd_supported()]


def set_simd_level(name):
    """Use the code path ``name`` (capped at what the CPU supports); returns the one set.

    Every path gives bit-identical results; this exists for tests and benchmarks.
    """
    if name not in SIMD_LEVELS:
        raise ValueError(f"name must be one of {list(SIMD_LEVELS)}, got {name!r}")
    return SIMD_LEVELS[fl_simd_set(SIMD_LEVELS.index(name))]


class _NotCompilable(Exception):
    pass


cdef void _free_program(fl_program *P) noexcept nogil:
    if P != NULL:
        free(P.nodes)
        free(P.kids)
        free(P.data)
        free(P)


def _flatten(schedule):
    """The schedule tree in pre-order: ``(nodes, n_data, n_kids, depth)``, where each
    node is ``(spec, kid indices)`` and node 0 is the root."""
    nodes = []
    totals = [0, 0]

    def walk(s, level=1):
        if level > _MAX_DEPTH:  # constructors bound the depth; a subclass might not
            raise ValueError(f"a schedule tree may be at most {_MAX_DEPTH} levels deep "
                             f"(fastlr._validate.MAX_DEPTH)")
        spec = s._spec()
        if spec is None:
            raise _NotCompilable
        kind, flag, params, arrays, children = spec
        if len(params) > FL_NPARAM:
            raise AssertionError(f"too many parameters for {kind}")
        entry = [spec, None]
        nodes.append(entry)
        me = len(nodes) - 1
        totals[0] += sum(len(a) for a in arrays)
        totals[1] += len(children)
        kids, depth = [], 0
        for c in children:
            index, d = walk(c, level + 1)
            kids.append(index)
            depth = max(depth, d)
        entry[1] = kids
        return me, depth + 1

    depth = walk(schedule)[1]
    return nodes, totals[0], totals[1], depth


cdef fl_program *_build(schedule) except NULL:
    """Flatten ``schedule._spec()`` into a freshly allocated program."""
    nodes, ndata, nkids, depth = _flatten(schedule)
    cdef fl_program *P = <fl_program *>malloc(sizeof(fl_program))
    if P == NULL:
        raise MemoryError()
    P.nodes = <fl_node *>malloc(len(nodes) * sizeof(fl_node))
    P.kids = <int *>malloc((nkids + 1) * sizeof(int))
    P.data = <double *>malloc((ndata + 1) * sizeof(double))
    P.depth = depth
    if P.nodes == NULL or P.kids == NULL or P.data == NULL:
        _free_program(P)
        raise MemoryError()
    memset(P.nodes, 0, len(nodes) * sizeof(fl_node))

    cdef Py_ssize_t d = 0, k = 0, i, j
    cdef fl_node *nd
    for i, (spec, kids) in enumerate(nodes):
        kind, flag, params, arrays, children = spec
        nd = &P.nodes[i]
        nd.kind = _KIND_ID[kind]
        nd.flag = flag
        for j, x in enumerate(params):
            nd.p[j] = x
        if len(arrays) > 0:
            nd.a = &P.data[d]
            nd.na = len(arrays[0])
            for x in arrays[0]:
                P.data[d] = x
                d += 1
        if len(arrays) > 1:
            nd.b = &P.data[d]
            nd.nb = len(arrays[1])
            for x in arrays[1]:
                P.data[d] = x
                d += 1
        nd.kid0 = k
        nd.nkids = len(kids)
        for c in kids:
            P.kids[k] = c
            k += 1
    # a warmup rises to its schedule's value at the step in p[2] (an SWA anneal starts
    # from it at p[1]): children come later in pre-order, so fill them from the last
    # node back
    for i in range(len(nodes) - 1, -1, -1):
        nd = &P.nodes[i]
        if nd.kind == _WARMUP:
            nd.p[2] = fl_eval_node_scalar(P, P.kids[nd.kid0], nd.p[2])
        elif nd.kind == _SWA:
            nd.p[3] = fl_eval_node_scalar(P, P.kids[nd.kid0], nd.p[1])
    return P


@cython.auto_pickle(False)
cdef class CompiledSchedule:
    """Evaluation in C for the schedule classes of :mod:`fastlr`."""

    cdef fl_program *_prog
    cdef bint _python_only

    def __dealloc__(self):
        _free_program(self._prog)
        self._prog = NULL

    cdef inline int _ready(self) except -1:
        cdef fl_program *built
        if self._prog == NULL and not self._python_only:
            try:
                built = _build(self)
            except _NotCompilable:
                self._python_only = True
                return 0
            # another thread may have built it meanwhile (_build runs Python code)
            if self._prog == NULL:
                self._prog = built
            else:
                _free_program(built)
        return 0

    def __call__(self, t):
        """The value at step ``t``: a Python float for an int or float ``t >= 0``; for an
        array of steps (any shape, integer or float dtype), a float64 array of that shape."""
        cdef double x = 0.0
        if type(t) is float:
            x = <double>t
            if not (x >= 0.0 and x <= _MAX_STEP):
                _validate.scalar_step(t)     # raises the shared error
        elif type(t) is int:
            # convert first and compare in C (object comparisons cost more than the
            # evaluation); ints just above 2**53 round to it, so that one is checked exactly
            try:
                x = PyLong_AsDouble(t)
            except OverflowError:
                x = -1.0
            if not (x >= 0.0 and x < _MAX_STEP) and not (x == _MAX_STEP
                                                         and t == _MAX_STEP_INT):
                _validate.scalar_step(t)
        else:
            steps = _validate.as_steps(t)
            if isinstance(steps, float):
                x = steps
            else:
                return self._eval_array(steps)
        self._ready()
        if self._python_only:
            return self._value(x)
        return fl_eval_scalar(self._prog, x)

    def values(self, n):
        """``[s(0), s(1), ..., s(n-1)]`` as a float64 array, in compiled chunks (Ctrl-C
        stops it between two)."""
        cdef Py_ssize_t m = _validate.step_count("n", n, high=_validate.MAX_VALUES)
        cdef Py_ssize_t off = 0, k
        self._ready()
        if self._python_only:
            return self._eval_array(np.arange(m, dtype=np.float64))
        out = np.empty(m, dtype=np.float64)
        cdef double[::1] o = out
        while off < m:
            k = m - off if m - off < _CHUNK else _CHUNK
            with nogil:
                fl_eval_range(self._prog, <double>off, &o[off], k)
            off += k
            if off < m:
                PyErr_CheckSignals()
        return out

    def _eval_array(self, steps):
        """Values at a float64 C-contiguous array of steps (same shape out)."""
        self._ready()
        out = np.empty(steps.shape, dtype=np.float64)
        cdef const double[::1] tv = steps.reshape(-1)
        cdef double[::1] ov = out.reshape(-1)
        cdef Py_ssize_t n = tv.shape[0], bad = -1
        if n == 0:
            return out
        if self._python_only:
            flat = [self._value(_checked(s)) for s in steps.reshape(-1).tolist()]
            return np.asarray(flat, dtype=np.float64).reshape(steps.shape)
        cdef Py_ssize_t off = 0, k
        while off < n:
            k = n - off if n - off < _CHUNK else _CHUNK
            with nogil:
                bad = fl_eval_points(self._prog, &tv[off], &ov[off], k)
            if bad >= 0:
                raise _validate.bad_step(tv[off + bad])
            off += k
            if off < n:
                PyErr_CheckSignals()
        return out


def _checked(double s):
    if not (s >= 0.0 and s <= _MAX_STEP):
        raise _validate.bad_step(s)
    return s
