/* Entry points of the optimizer kernels: SIMD dispatch, threads, the multi-array loop.
 *
 * fl_optim_body.h is compiled for float and double at the x86-64 baseline (SSE2)
 * and, with gcc on x86-64, again for AVX2 and AVX-512F; the best level the CPU
 * supports is picked at run time (as in fl_schedule.c). The kernels are elementwise
 * and -ffp-contract=off keeps every level free of fused multiply-adds, so all levels
 * and all thread counts give the same bits.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fl_optim.h"
#include "fl_simd.h"

#ifdef _OPENMP
#include <omp.h>
#endif

typedef void (*fl_kernel)(const fl_hyper *, const fl_item *, ptrdiff_t, ptrdiff_t);

#define FL_T float
#define FL_SQRT sqrtf
#define FL_SUF(name) name##_baseline_f32
#include "fl_optim_body.h"
#undef FL_SUF
#undef FL_SQRT
#undef FL_T
#define FL_T double
#define FL_SQRT sqrt
#define FL_SUF(name) name##_baseline_f64
#include "fl_optim_body.h"
#undef FL_SUF
#undef FL_SQRT
#undef FL_T

#if FL_DISPATCH
#pragma GCC push_options
#pragma GCC target("avx2")
#define FL_T float
#define FL_SQRT sqrtf
#define FL_SUF(name) name##_avx2_f32
#include "fl_optim_body.h"
#undef FL_SUF
#undef FL_SQRT
#undef FL_T
#define FL_T double
#define FL_SQRT sqrt
#define FL_SUF(name) name##_avx2_f64
#include "fl_optim_body.h"
#undef FL_SUF
#undef FL_SQRT
#undef FL_T
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f", "prefer-vector-width=512")
#define FL_T float
#define FL_SQRT sqrtf
#define FL_SUF(name) name##_avx512_f32
#include "fl_optim_body.h"
#undef FL_SUF
#undef FL_SQRT
#undef FL_T
#define FL_T double
#define FL_SQRT sqrt
#define FL_SUF(name) name##_avx512_f64
#include "fl_optim_body.h"
#undef FL_SUF
#undef FL_SQRT
#undef FL_T
#pragma GCC pop_options
#endif

static int fl_level = -1;

int fl_optim_simd_supported(void) { return fl_cpu_level(); }
int fl_optim_simd_set(int level) { return fl_level_set(&fl_level, level); }
int fl_optim_simd_get(void) { return fl_level_get(&fl_level); }

/* the kernel table for one dtype at the current level */
static const fl_kernel *fl_table(int dtype)
{
#if FL_DISPATCH
    switch (fl_optim_simd_get()) {
    case FL_SIMD_AVX512: return dtype == FL_F64 ? table_avx512_f64 : table_avx512_f32;
    case FL_SIMD_AVX2: return dtype == FL_F64 ? table_avx2_f64 : table_avx2_f32;
    }
#endif
    return dtype == FL_F64 ? table_baseline_f64 : table_baseline_f32;
}

/* ---- threads ---------------------------------------------------------------------- */

/* Our own count rather than omp_set_num_threads: that one is per calling thread, and
 * steps may run on any Python thread. 0 = not set yet: all cores (or OMP_NUM_THREADS). */
static int fl_threads = 0;

int fl_optim_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

void fl_optim_set_threads(int n)
{
    fl_threads = n < 1 ? 1 : (n > 1024 ? 1024 : n);   /* MAX_THREADS of _threads.py */
}

int fl_optim_get_threads(void)
{
#ifdef _OPENMP
    if (fl_threads == 0) fl_threads = omp_get_max_threads();
    return fl_threads;
#else
    return 1;
#endif
}

/* ---- what each kind reads ------------------------------------------------------- */

int fl_optim_needs(int kind, int flags)
{
    const int G = FL_NEED_GRAD;
    switch (kind) {
    case FL_K_SGD: return G | ((flags & FL_F_MOMENTUM) ? 1 : 0);
    case FL_K_ADAM: return G | 1 | 2 | ((flags & FL_F_AMSGRAD) ? 4 : 0);
    case FL_K_RMSPROP:
        return G | 1 | ((flags & FL_F_CENTERED) ? 2 : 0) | ((flags & FL_F_MOMENTUM) ? 4 : 0);
    case FL_K_ADAGRAD: return G | 1;
    case FL_K_LION: return G | 1;
    case FL_K_SFSGD: return G | 1;
    case FL_K_SFADAMW: return G | 1 | 2;
    case FL_K_LERP: return 1;
    case FL_K_NADAM: case FL_K_RADAM: case FL_K_ADAMAX: case FL_K_ADADELTA: case FL_K_RPROP:
        return G | 1 | 2;
    case FL_K_ASGD: return G | 1;
    }
    return -1;
}

/* ---- the multi-array step --------------------------------------------------------- */

/* A large array is cut into chunks of FL_CHUNK elements (a multiple of every vector
 * width, so chunk boundaries never change which code path an element takes; not that
 * it could change its value: every path computes the same bits). */
#define FL_CHUNK ((ptrdiff_t)1 << 15)

typedef struct {
    ptrdiff_t item, lo, hi;
} fl_unit;

static void fl_run_serial(const fl_hyper *hy, const fl_item *items, ptrdiff_t nitems)
{
    const fl_kernel *t32 = fl_table(FL_F32), *t64 = fl_table(FL_F64);
    ptrdiff_t k;
    for (k = 0; k < nitems; k++) {
        const fl_item *it = &items[k];
        const fl_hyper *h = &hy[it->h];
        if (it->n > 0)
            (it->dtype == FL_F64 ? t64 : t32)[h->kind](h, it, 0, it->n);
    }
}

int fl_optim_run(const fl_hyper *hy, const fl_item *items, ptrdiff_t nitems)
{
#ifdef _OPENMP
    int nt = fl_optim_get_threads();
    ptrdiff_t total = 0, nunits = 0, k, u;
    fl_unit *units;
    const fl_kernel *t32, *t64;
    if (nt > 1) {
        for (k = 0; k < nitems; k++) {
            total += items[k].n;
            nunits += items[k].n >= FL_PAR_MIN ? (items[k].n + FL_CHUNK - 1) / FL_CHUNK : 1;
        }
    }
    /* never more threads than work units: a large count (up to MAX_THREADS in
     * fastlr/_threads.py) would otherwise make libgomp create threads that have nothing
     * to do, and creating very many can fail, which libgomp treats as fatal */
    if (nt > nunits) nt = (int)nunits;
    if (nt <= 1 || total < FL_PAR_MIN || nunits < 2) {
        /* small steps never pay for a parallel region */
        fl_run_serial(hy, items, nitems);
        return 0;
    }
    units = (fl_unit *)malloc((size_t)nunits * sizeof(fl_unit));
    if (!units) return -1;
    for (k = 0, u = 0; k < nitems; k++) {
        ptrdiff_t n = items[k].n, lo;
        if (n >= FL_PAR_MIN) {
            for (lo = 0; lo < n; lo += FL_CHUNK) {
                units[u].item = k;
                units[u].lo = lo;
                units[u].hi = lo + FL_CHUNK < n ? lo + FL_CHUNK : n;
                u++;
            }
        } else {
            units[u].item = k;
            units[u].lo = 0;
            units[u].hi = n;
            u++;
        }
    }
    t32 = fl_table(FL_F32);
    t64 = fl_table(FL_F64);
    /* static: each thread streams one contiguous run of chunks, which the hardware
     * prefetchers follow better than interleaved chunks (measured: benchmarks/) */
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (u = 0; u < nunits; u++) {
        const fl_item *it = &items[units[u].item];
        const fl_hyper *h = &hy[it->h];
        if (units[u].hi > units[u].lo)
            (it->dtype == FL_F64 ? t64 : t32)[h->kind](h, it, units[u].lo, units[u].hi);
    }
    free(units);
    return 0;
#else
    fl_run_serial(hy, items, nitems);
    return 0;
#endif
}

/* ---- finiteness ------------------------------------------------------------------- */

/* Integer tests on the exponent bits: they vectorise (an in-order float reduction
 * would not) and cannot raise floating-point exceptions. */
static int fl_finite_f32(const uint32_t *x, ptrdiff_t n)
{
    uint32_t bad = 0;
    ptrdiff_t i;
    for (i = 0; i < n; i++)
        bad |= ((x[i] & 0x7f800000u) == 0x7f800000u);
    return bad == 0;
}

static int fl_finite_f64(const uint64_t *x, ptrdiff_t n)
{
    uint64_t bad = 0;
    ptrdiff_t i;
    for (i = 0; i < n; i++)
        bad |= ((x[i] & 0x7ff0000000000000ull) == 0x7ff0000000000000ull);
    return bad == 0;
}

int fl_optim_allfinite(const void *const *arrays, const ptrdiff_t *sizes, const int *dtypes,
                       ptrdiff_t n)
{
    ptrdiff_t k;
    for (k = 0; k < n; k++) {
        int ok = dtypes[k] == FL_F64 ? fl_finite_f64((const uint64_t *)arrays[k], sizes[k])
                                     : fl_finite_f32((const uint32_t *)arrays[k], sizes[k]);
        if (!ok) return 0;
    }
    return 1;
}
