# distutils: sources = src_c/fl_optim.c
"""The compiled optimizer kernels (``fastlr._optim``, internal).

:class:`Runner` (``fastlr.kernels._Runner``) applies one optimizer step to all of an
optimizer's arrays with a single nogil C call (``fl_optim_run`` in
``src_c/fl_optim.c``): Python hands over one table of pointers per step instead of
paying a call per array. :func:`_run_one` is the same for one array (behind the public
:mod:`fastlr.kernels` functions). Validation is the reference's: a fast check here, and
on any failure the reference check (:mod:`fastlr.reference.kernels`) runs to raise the
very same error. Every entry point checks what the C code dereferences (the kind, every
buffer the kind reads, their dtypes and sizes), so no call from Python can crash.

The thread count is :mod:`fastlr._threads`'s (registered at import): 1 in a child made
by ``os.fork()``, whose copy of libgomp's thread pool would hang a parallel region.
"""
cimport cython
from cpython.buffer cimport PyBuffer_Release, PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBUF_WRITABLE
from cpython.pythread cimport (PyThread_type_lock, PyThread_allocate_lock, PyThread_free_lock,
                               PyThread_acquire_lock, PyThread_release_lock, NOWAIT_LOCK)
from libc.stdlib cimport calloc, free
from libc.stdint cimport uintptr_t

import numpy as np

from fastlr import _threads
from fastlr.reference import kernels as _ref

cdef extern from "Python.h":
    # declared without an exception value: failure is a return code we handle
    int _get_buffer "PyObject_GetBuffer"(object obj, Py_buffer *view, int flags)
    void PyErr_Clear()

cdef extern from "fl_optim.h" nogil:
    enum:
        FL_NCOEF
        FL_NSTATE
        FL_F32
        FL_F64
        FL_NEED_GRAD
    ctypedef struct fl_hyper:
        int kind
        int flags
        double c[12]
    ctypedef struct fl_item:
        void *p
        const void *g
        void *s[3]
        Py_ssize_t n
        int dtype
        int h
    int fl_optim_run(const fl_hyper *hy, const fl_item *items, Py_ssize_t nitems)
    int fl_optim_needs(int kind, int flags)
    int fl_optim_allfinite(const void *const *arrays, const Py_ssize_t *sizes,
                           const int *dtypes, Py_ssize_t n)
    void fl_optim_set_threads(int n)
    int fl_optim_get_threads()
    int fl_optim_openmp()
    int fl_optim_simd_supported()
    int fl_optim_simd_get()
    int fl_optim_simd_set(int level)

OPENMP = bool(fl_optim_openmp())
SIMD_LEVELS = ("baseline", "avx2", "avx512")
cdef object _ndarray = np.ndarray


def _set_threads(n):
    """The setter :mod:`fastlr._threads` pushes the one thread count to."""
    fl_optim_set_threads(<int>n)


_threads.register(_set_threads)


def set_num_threads(n):
    """Use ``n`` threads for large arrays (see :func:`fastlr.kernels.set_num_threads`)."""
    _threads.set_count(n)


def get_num_threads():
    """The thread count optimizer steps use (1 in a forked child)."""
    return fl_optim_get_threads()


def simd_level():
    """The SIMD code path in use: ``'baseline'``, ``'avx2'`` or ``'avx512'``."""
    return SIMD_LEVELS[fl_optim_simd_get()]


def simd_supported():
    """The best SIMD code path this CPU can run."""
    return SIMD_LEVELS[fl_optim_simd_supported()]


def set_simd_level(name):
    """Use the code path ``name`` (capped at what the CPU supports); returns the one set.

    Every path gives bit-identical results; this exists for tests and benchmarks.
    """
    if name not in SIMD_LEVELS:
        raise ValueError(f"name must be one of {list(SIMD_LEVELS)}, got {name!r}")
    return SIMD_LEVELS[fl_optim_simd_set(SIMD_LEVELS.index(name))]


cdef inline int _dtype_of(Py_buffer *view) noexcept:
    """FL_F32/FL_F64 for a native float32/float64 buffer, else -1."""
    cdef const char *f = view.format
    if f == NULL or f[0] == 0:
        return -1
    if (f[0] == b'=' or f[0] == b'@') and f[1] != 0:   # explicit native order
        f += 1
    if f[1] != 0:
        return -1
    if f[0] == b'f' and view.itemsize == 4:
        return FL_F32
    if f[0] == b'd' and view.itemsize == 8:
        return FL_F64
    return -1


cdef int _fill_hyper(fl_hyper *h, spec) except -2:
    """Fill ``h`` from a ``(kind, flags, coefficients)`` spec and return what the kind
    reads (``fl_optim_needs``), or -1 when the spec is malformed (then the reference's
    :func:`~fastlr.reference.kernels.check_spec` raises the error)."""
    cdef Py_ssize_t j, nc
    if type(spec) is not tuple or len(<tuple>spec) != 3:
        return -1
    kind, flags, coeffs = <tuple>spec
    if not isinstance(kind, int) or not isinstance(flags, int) or type(coeffs) is not tuple:
        return -1
    if not 0 <= kind <= _ref.LAST_KIND or not 0 <= flags < 256:
        return -1
    nc = len(<tuple>coeffs)
    if nc > FL_NCOEF:
        return -1
    for j in range(FL_NCOEF):
        if j < nc:
            c = (<tuple>coeffs)[j]
            if not isinstance(c, float):
                return -1
            h.c[j] = c
        else:
            h.c[j] = 0.0
    h.kind = kind
    h.flags = flags
    return fl_optim_needs(h.kind, h.flags)


cdef int _acquire_like(object a, Py_buffer *view, int flags, int dtype, Py_ssize_t nbytes):
    """Acquire ``a``'s buffer (held on return 1); 0 and nothing held when it is not a
    C-contiguous buffer of ``dtype`` with ``nbytes`` bytes."""
    if a is None or _get_buffer(a, view, flags | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0:
        PyErr_Clear()
        return 0
    if _dtype_of(view) != dtype or view.len != nbytes:
        PyBuffer_Release(view)
        return 0
    return 1


_BUSY = _ref.RUNNER_BUSY


@cython.final
@cython.auto_pickle(False)
cdef class Runner:
    """Applies one step's updates to all of an optimizer's arrays in one C call (internal).

    Same constructor and methods as ``fastlr.reference.kernels._Runner``, whose checks it
    runs at construction (:func:`~fastlr.reference.kernels.check_runner`). The state
    buffers' memory is held (buffer protocol) for the runner's life; params and grads
    are acquired at every step, checked against the table (dtype, shape, no grad
    overlapping a param or a state buffer, every buffer the spec reads present) and
    released after it; on any mismatch the reference check raises its exact error. One
    step at a time: a call while another thread is in one raises RuntimeError.
    """
    cdef readonly tuple params, shapes, slots, group_of
    cdef readonly object bounds
    cdef readonly unsigned long long completed   # calls that wrote
    cdef readonly bint torn                      # never: a compiled step is one C call
    cdef Py_ssize_t n, ngroups
    cdef fl_item *items
    cdef fl_hyper *hyper
    cdef int *need                 # per group: what its spec reads
    cdef int *avail                # per param: which state buffers exist
    cdef Py_buffer *views          # params [0, n), grads [n, 2n)
    cdef char *held
    cdef Py_buffer *sviews         # state buffers [3i, 3i + 3), held for life
    cdef char *sheld
    cdef int *dtypes
    cdef Py_ssize_t *sizes
    cdef int *ndims
    cdef Py_ssize_t *dims          # param shapes, flattened
    cdef Py_ssize_t *dim0
    cdef const void **gptr
    cdef uintptr_t *starts         # owned memory, sorted by start (the reference's bounds)
    cdef uintptr_t *ends
    cdef Py_ssize_t nspans
    cdef PyThread_type_lock lock

    def __cinit__(self):
        self.lock = PyThread_allocate_lock()
        if self.lock == NULL:
            raise MemoryError()

    def __init__(self, params, slots, group_of, names=None):
        if self.items != NULL:
            raise RuntimeError("Runner is already initialised")
        cdef Py_ssize_t i, k, d, ndim_total = 0, nspans
        params, shapes, slots, group_of, bounds = _ref.check_runner(params, slots, group_of,
                                                                    names)
        n = len(params)
        nspans = len(bounds.starts)
        for shape in shapes:
            ndim_total += len(shape)
        self.items = <fl_item *>calloc(n + 1, sizeof(fl_item))
        # check_runner: every group index in [0, n) is used, so ngroups <= n
        self.hyper = <fl_hyper *>calloc(n + 1, sizeof(fl_hyper))
        self.need = <int *>calloc(n + 1, sizeof(int))
        self.avail = <int *>calloc(n + 1, sizeof(int))
        self.views = <Py_buffer *>calloc(2 * n + 1, sizeof(Py_buffer))
        self.held = <char *>calloc(2 * n + 1, 1)
        self.sviews = <Py_buffer *>calloc(FL_NSTATE * n + 1, sizeof(Py_buffer))
        self.sheld = <char *>calloc(FL_NSTATE * n + 1, 1)
        self.dtypes = <int *>calloc(n + 1, sizeof(int))
        self.sizes = <Py_ssize_t *>calloc(n + 1, sizeof(Py_ssize_t))
        self.ndims = <int *>calloc(n + 1, sizeof(int))
        self.dims = <Py_ssize_t *>calloc(ndim_total + 1, sizeof(Py_ssize_t))
        self.dim0 = <Py_ssize_t *>calloc(n + 1, sizeof(Py_ssize_t))
        self.gptr = <const void **>calloc(n + 1, sizeof(void *))
        self.starts = <uintptr_t *>calloc(nspans + 1, sizeof(uintptr_t))
        self.ends = <uintptr_t *>calloc(nspans + 1, sizeof(uintptr_t))
        if (self.items == NULL or self.hyper == NULL or self.need == NULL
                or self.avail == NULL or self.views == NULL or self.held == NULL
                or self.sviews == NULL or self.sheld == NULL or self.dtypes == NULL
                or self.sizes == NULL or self.ndims == NULL or self.dims == NULL
                or self.dim0 == NULL or self.gptr == NULL or self.starts == NULL
                or self.ends == NULL):
            raise MemoryError()
        self.params, self.shapes, self.slots, self.group_of = params, shapes, slots, group_of
        self.bounds = bounds
        self.n = n
        self.ngroups = max(group_of) + 1 if n else 0
        d = 0
        for i in range(n):
            p = params[i]
            self.dtypes[i] = FL_F64 if p.dtype == np.float64 else FL_F32
            self.sizes[i] = p.size
            self.ndims[i] = len(shapes[i])
            self.dim0[i] = d
            for k in range(self.ndims[i]):
                self.dims[d] = shapes[i][k]
                d += 1
            self.items[i].n = p.size
            self.items[i].dtype = self.dtypes[i]
            self.items[i].h = group_of[i]
            for k in range(FL_NSTATE):
                self.items[i].s[k] = NULL
                if slots[i][k] is None:
                    continue
                if not _acquire_like(slots[i][k], &self.sviews[FL_NSTATE * i + k],
                                     PyBUF_WRITABLE, self.dtypes[i], p.nbytes):
                    raise AssertionError("fastlr internal error: a state buffer that "
                                         "check_runner accepted cannot be acquired")
                self.sheld[FL_NSTATE * i + k] = 1
                self.items[i].s[k] = self.sviews[FL_NSTATE * i + k].buf
                self.avail[i] |= 1 << k
        self.nspans = nspans
        for k in range(nspans):
            self.starts[k] = bounds.starts[k]
            self.ends[k] = bounds.ends[k]

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self.views != NULL and self.held != NULL:
            self._release()
        if self.sviews != NULL and self.sheld != NULL:
            for i in range(FL_NSTATE * self.n):
                if self.sheld[i]:
                    PyBuffer_Release(&self.sviews[i])
        free(self.items)
        free(self.hyper)
        free(self.need)
        free(self.avail)
        free(self.views)
        free(self.held)
        free(self.sviews)
        free(self.sheld)
        free(self.dtypes)
        free(self.sizes)
        free(self.ndims)
        free(self.dims)
        free(self.dim0)
        free(self.gptr)
        free(self.starts)
        free(self.ends)
        if self.lock != NULL:
            PyThread_free_lock(self.lock)

    def __reduce__(self):
        raise TypeError("fastlr._optim.Runner holds raw memory and cannot be pickled; "
                        "pickle the optimizer (it rebuilds its runner)")

    cdef void _release(self) noexcept:
        cdef Py_ssize_t i
        for i in range(2 * self.n):
            if self.held[i]:
                PyBuffer_Release(&self.views[i])
                self.held[i] = 0

    cdef bint _overlaps(self, uintptr_t start, uintptr_t end) noexcept:
        """Whether [start, end) overlaps owned memory (spans are disjoint and sorted)."""
        cdef Py_ssize_t lo = 0, hi = self.nspans, mid
        if end <= start:
            return False
        while lo < hi:                  # first span starting at or after `end`
            mid = (lo + hi) // 2
            if self.starts[mid] < end:
                lo = mid + 1
            else:
                hi = mid
        return lo > 0 and self.ends[lo - 1] > start

    cdef bint _fill(self, specs, bint with_grads) except -1:
        """The per-group specs into ``hyper``; False when one is malformed, needs a
        gradient that is not given, or reads a state buffer some param lacks."""
        cdef Py_ssize_t k, i
        cdef int need
        if (type(specs) is not list and type(specs) is not tuple) or len(specs) != self.ngroups:
            return False
        for k in range(self.ngroups):
            need = _fill_hyper(&self.hyper[k], specs[k])
            if need < 0 or (need & FL_NEED_GRAD and not with_grads):
                return False
            self.need[k] = need
        for i in range(self.n):
            if self.need[self.items[i].h] & ((1 << FL_NSTATE) - 1) & ~self.avail[i]:
                return False
        return True

    cdef bint _acquire_params(self) noexcept:
        """Buffers of every param, checked; False (and nothing held) on any problem."""
        cdef Py_ssize_t i, k
        cdef Py_buffer *view
        for i in range(self.n):
            view = &self.views[i]
            if _get_buffer(self.params[i], view,
                           PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0:
                PyErr_Clear()
                self._release()
                return False
            self.held[i] = 1
            if _dtype_of(view) != self.dtypes[i] or view.ndim != self.ndims[i]:
                self._release()
                return False
            for k in range(view.ndim):
                if view.shape[k] != self.dims[self.dim0[i] + k]:
                    self._release()
                    return False
            self.items[i].p = view.buf
        return True

    cdef bint _acquire_grads(self, list grads) noexcept:
        cdef Py_ssize_t i, k
        cdef Py_buffer *view
        cdef Py_buffer *pv
        for i in range(self.n):
            g = grads[i]
            if not isinstance(g, _ndarray):
                self._release()
                return False
            view = &self.views[self.n + i]
            pv = &self.views[i]
            if _get_buffer(g, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0:
                PyErr_Clear()
                self._release()
                return False
            self.held[self.n + i] = 1
            if _dtype_of(view) != self.dtypes[i] or view.ndim != pv.ndim:
                self._release()
                return False
            for k in range(view.ndim):
                if view.shape[k] != pv.shape[k]:
                    self._release()
                    return False
            if self._overlaps(<uintptr_t>view.buf, <uintptr_t>view.buf + <uintptr_t>view.len):
                self._release()
                return False
            self.items[i].g = view.buf
            self.gptr[i] = view.buf
        return True

    cdef _fail(self, grads):
        """A fast check failed: the reference check raises the exact error."""
        _ref.check_step(self.params, self.shapes, grads, self.bounds)
        raise AssertionError("fastlr internal error: the compiled check rejected a step "
                             "that the reference check accepts")

    cdef _fail_specs(self, specs, bint with_grads):
        _ref.check_specs(specs, self.slots, self.group_of, with_grads)
        raise AssertionError("fastlr internal error: the compiled check rejected specs "
                             "that the reference check accepts")

    cdef int _enter(self) except -1:
        if self.items == NULL:
            raise RuntimeError("Runner is not initialised")
        if not PyThread_acquire_lock(self.lock, NOWAIT_LOCK):
            raise RuntimeError(_BUSY)
        return 0

    def step(self, grads, specs, bint skip_nonfinite):
        """Validate, then update; returns False (nothing written) when ``skip_nonfinite``
        and a gradient holds a NaN or an infinity."""
        cdef int rc, finite = 1
        self._enter()
        try:
            glist = grads if type(grads) is list else list(grads)
            if len(glist) != self.n:
                raise ValueError("a step needs one gradient per param")
            if not self._fill(specs, True):
                self._fail_specs(specs, True)
            if not self._acquire_params():
                self._fail(glist)
            if not self._acquire_grads(glist):
                self._fail(glist)
            try:
                with nogil:
                    if skip_nonfinite:
                        finite = fl_optim_allfinite(self.gptr, self.sizes, self.dtypes, self.n)
                    rc = fl_optim_run(self.hyper, self.items, self.n) if finite else 0
                if rc == 0 and finite:
                    # counted before any Python bytecode runs again, so the caller can
                    # tell a completed write from one that never started even when a
                    # KeyboardInterrupt arrives the moment this call returns
                    self.completed += 1
            finally:
                self._release()
            if rc != 0:
                raise MemoryError()
            return finite != 0
        finally:
            PyThread_release_lock(self.lock)

    def lerp(self, weights):
        """``params[i] = lerp(params[i], slots[i][0], weights[group_of[i]])``."""
        cdef Py_ssize_t i
        cdef int rc
        self._enter()
        try:
            specs = [_ref.lerp_spec(float(w)) for w in weights]
            if not self._fill(specs, False):
                self._fail_specs(specs, False)
            if not self._acquire_params():
                self._fail(None)
            for i in range(self.n):
                self.items[i].g = NULL
            try:
                with nogil:
                    rc = fl_optim_run(self.hyper, self.items, self.n)
                if rc == 0:
                    self.completed += 1
            finally:
                self._release()
            if rc != 0:
                raise MemoryError()
        finally:
            PyThread_release_lock(self.lock)


def _run_one(spec, param, grad, states):
    """Apply ``spec`` to one array. The public kernels (:mod:`fastlr.kernels`) check
    their arguments first with the reference's messages; this checks again what the C
    kernel dereferences (the spec, every buffer it reads, their dtypes and sizes), so a
    direct call cannot crash."""
    cdef fl_hyper h
    cdef fl_item it
    cdef Py_buffer pv, gv
    cdef Py_buffer sv[FL_NSTATE]
    cdef char sheld[FL_NSTATE]
    cdef bint have_p = False, have_g = False
    cdef Py_ssize_t k
    cdef int rc, need
    need = _fill_hyper(&h, spec)
    if need < 0:
        _ref.check_spec("spec", spec)
        raise AssertionError("fastlr internal error: spec rejected by the compiled check")
    states = tuple(states)
    if len(states) > FL_NSTATE:
        raise ValueError(f"states must hold at most {FL_NSTATE} buffers")
    states = states + (None,) * (FL_NSTATE - len(states))
    for k in range(FL_NSTATE):
        sheld[k] = 0
    it.h = 0
    it.g = NULL
    try:
        if _get_buffer(param, &pv, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0:
            PyErr_Clear()
            raise ValueError("param must be a writeable C-contiguous float32/float64 array")
        have_p = True
        it.dtype = _dtype_of(&pv)
        if it.dtype < 0:
            raise TypeError("param must have dtype float32 or float64")
        it.p = pv.buf
        it.n = pv.len // pv.itemsize
        if need & FL_NEED_GRAD:
            if not _acquire_like(grad, &gv, 0, it.dtype, pv.len):
                raise TypeError("grad must be a C-contiguous array with param's dtype and "
                                "size")
            have_g = True
            it.g = gv.buf
        for k in range(FL_NSTATE):
            it.s[k] = NULL
            if need & (1 << k):
                # lerp only reads its end point (s[0]); every other state is written
                if not _acquire_like(states[k], &sv[k], 0 if h.kind == _ref.LERP
                                     else PyBUF_WRITABLE, it.dtype, pv.len):
                    raise TypeError(f"states[{k}] must be a C-contiguous array with param's "
                                    "dtype and size (writeable unless the kernel only "
                                    "reads it)")
                sheld[k] = 1
                it.s[k] = sv[k].buf
        with nogil:
            rc = fl_optim_run(&h, &it, 1)
    finally:
        for k in range(FL_NSTATE):
            if sheld[k]:
                PyBuffer_Release(&sv[k])
        if have_g:
            PyBuffer_Release(&gv)
        if have_p:
            PyBuffer_Release(&pv)
    if rc != 0:
        raise MemoryError()
