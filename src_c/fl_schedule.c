/* Run-time SIMD dispatch and the entry points of the schedule engine.
 *
 * fl_schedule_body.h is compiled once for the x86-64 baseline (SSE2) and, with gcc on
 * x86-64, again for AVX2 and AVX-512F; the best level the CPU supports is chosen at
 * run time, so a wheel runs anywhere and is fast where it can be. -ffp-contract=off
 * (setup.py) keeps every level bit-identical: no level may fuse a*b+c.
 */
#include <math.h>
#include <stdlib.h>
#include "fl_schedule.h"
#include "fl_math.h"
#include "fl_simd.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define FL_SUF(name) name##_baseline
#include "fl_schedule_body.h"
#undef FL_SUF

#if FL_DISPATCH
#pragma GCC push_options
#pragma GCC target("avx2")
#define FL_SUF(name) name##_avx2
#include "fl_schedule_body.h"
#undef FL_SUF
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f", "prefer-vector-width=512")
#define FL_SUF(name) name##_avx512
#include "fl_schedule_body.h"
#undef FL_SUF
#pragma GCC pop_options
#endif

typedef void (*fl_range_fn)(const fl_program *, double, double *, ptrdiff_t, double *, double *);
typedef void (*fl_points_fn)(const fl_program *, const double *, double *, ptrdiff_t, double *);

static int fl_level = -1;

int fl_simd_supported(void) { return fl_cpu_level(); }
int fl_simd_set(int level) { return fl_level_set(&fl_level, level); }
int fl_simd_get(void) { return fl_level_get(&fl_level); }

static fl_range_fn fl_pick_range(void)
{
#if FL_DISPATCH
    switch (fl_simd_get()) {
    case FL_SIMD_AVX512: return range_avx512;
    case FL_SIMD_AVX2: return range_avx2;
    }
#endif
    return range_baseline;
}

static fl_points_fn fl_pick_points(void)
{
#if FL_DISPATCH
    switch (fl_simd_get()) {
    case FL_SIMD_AVX512: return points_avx512;
    case FL_SIMD_AVX2: return points_avx2;
    }
#endif
    return points_baseline;
}

/* the thread count fastlr/_threads.py pushes (fastlr.set_num_threads; 1 in a forked
 * child, where libgomp's pool is gone). Our own count rather than omp_set_num_threads:
 * that one is per calling thread, and values() may run on any Python thread. */
static int fl_threads = 1;

void fl_schedule_set_threads(int n) { fl_threads = n < 1 ? 1 : n; }
int fl_schedule_get_threads(void) { return fl_threads; }

int fl_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* scratch: two blocks per tree level, plus one block of steps */
static size_t fl_scratch_len(const fl_program *P)
{
    return (size_t)FL_BLOCK * (2 * (size_t)P->depth + 3);
}

/* below this many steps one thread does it all: a parallel region costs microseconds
 * on an idle machine and milliseconds when the other cores are busy */
#define FL_PARALLEL_MIN (1 << 18)
/* threads claim work in grains of this many blocks (whole blocks, aligned to the
 * caller's block grid, so the bits never depend on who computed what) */
#define FL_GRAIN 16

/* Threads only pay when the other cores are free. A core can be taken by another
 * process or by another library's spinning pool (OpenBLAS workers spin for a while
 * after each BLAS call, torch's OpenMP workers likewise), and then a parallel region
 * waits a scheduler time slice for its late thread: measured 5-8x slower than one
 * thread. So each parallel run is judged: the calling thread times its own grains,
 * which estimates what the serial path would have taken; a run slower than that
 * estimate sends the next large calls down the serial path, a number that doubles
 * (to FL_BACKOFF_MAX) while the threads keep losing. Results are identical either
 * way; only the time differs. Plain ints: a racing update only changes a choice. */
#define FL_BACKOFF_MAX 256
static int fl_serial_left = 0;  /* large calls still to run serially */

#ifdef _OPENMP
static int fl_backoff = 0;      /* the serial run set after the last losing parallel one */

static int fl_use_threads(ptrdiff_t n)
{
    if (n < FL_PARALLEL_MIN || fl_threads < 2) return 0;
    if (fl_serial_left > 0) {
        fl_serial_left--;
        return 0;
    }
    return 1;
}

/* wall: the parallel run's time; mine: the calling thread's time on its `grains_mine`
 * grains out of `grains` */
static void fl_judge(double wall, double mine, ptrdiff_t grains_mine, ptrdiff_t grains)
{
    double serial = grains_mine > 0 ? mine * (double)grains / (double)grains_mine : 0.0;
    if (grains_mine > 0 && wall <= serial) {
        fl_backoff = 0;
    } else {
        fl_backoff = fl_backoff ? 2 * fl_backoff : 1;
        if (fl_backoff > FL_BACKOFF_MAX) fl_backoff = FL_BACKOFF_MAX;
        fl_serial_left = fl_backoff;
    }
}
#endif

int fl_schedule_backoff(void) { return fl_serial_left; }

void fl_eval_range(const fl_program *P, double start, double *out, ptrdiff_t n)
{
    fl_range_fn fn = fl_pick_range();
    size_t len = fl_scratch_len(P);
#ifdef _OPENMP
    if (fl_use_threads(n)) {
        const ptrdiff_t grain = (ptrdiff_t)FL_GRAIN * FL_BLOCK;
        ptrdiff_t grains = (n + grain - 1) / grain, mine_n = 0;
        double t0 = omp_get_wtime(), mine = 0.0;
        #pragma omp parallel num_threads(fl_threads)
        {
            double *buf = (double *)malloc(len * sizeof(double)), m0 = omp_get_wtime();
            ptrdiff_t g, k, done = 0;
            #pragma omp for schedule(dynamic, 1) nowait
            for (g = 0; g < grains; g++) {
                ptrdiff_t lo = g * grain, hi = lo + grain < n ? lo + grain : n;
                if (buf) fn(P, start + (double)lo, out + lo, hi - lo, buf, buf + FL_BLOCK);
                else for (k = lo; k < hi; k++) out[k] = NAN;
                done++;
            }
            if (omp_get_thread_num() == 0) {
                mine = omp_get_wtime() - m0;
                mine_n = done;
            }
            free(buf);
        }
        fl_judge(omp_get_wtime() - t0, mine, mine_n, grains);
        return;
    }
#endif
    {
        double *buf = (double *)malloc(len * sizeof(double));
        ptrdiff_t i;
        if (!buf) {
            for (i = 0; i < n; i++) out[i] = NAN;
            return;
        }
        fn(P, start, out, n, buf, buf + FL_BLOCK);
        free(buf);
    }
}

ptrdiff_t fl_eval_points(const fl_program *P, const double *t, double *out, ptrdiff_t n)
{
    fl_points_fn fn = fl_pick_points();
    size_t len = fl_scratch_len(P);
    ptrdiff_t i;
    double *buf;
    for (i = 0; i < n; i++)
        if (!(t[i] >= 0.0 && t[i] <= FL_MAX_STEP)) return i;
#ifdef _OPENMP
    if (fl_use_threads(n)) {
        const ptrdiff_t grain = (ptrdiff_t)FL_GRAIN * FL_BLOCK;
        ptrdiff_t grains = (n + grain - 1) / grain, mine_n = 0;
        double t0 = omp_get_wtime(), mine = 0.0;
        #pragma omp parallel num_threads(fl_threads)
        {
            double *tb = (double *)malloc(len * sizeof(double)), m0 = omp_get_wtime();
            ptrdiff_t g, k, done = 0;
            #pragma omp for schedule(dynamic, 1) nowait
            for (g = 0; g < grains; g++) {
                ptrdiff_t lo = g * grain, hi = lo + grain < n ? lo + grain : n;
                if (tb) fn(P, t + lo, out + lo, hi - lo, tb);
                else for (k = lo; k < hi; k++) out[k] = NAN;
                done++;
            }
            if (omp_get_thread_num() == 0) {
                mine = omp_get_wtime() - m0;
                mine_n = done;
            }
            free(tb);
        }
        fl_judge(omp_get_wtime() - t0, mine, mine_n, grains);
        return -1;
    }
#endif
    buf = (double *)malloc(len * sizeof(double));
    if (!buf) {
        for (i = 0; i < n; i++) out[i] = NAN;
        return -1;
    }
    fn(P, t, out, n, buf);
    free(buf);
    return -1;
}

double fl_eval_node_scalar(const fl_program *P, int node, double t)
{
    /* one step: tiny scratch on the stack unless the tree is very deep */
    double stack[64], out, *buf = stack;
    size_t need = 2 * (size_t)P->depth + 2;
    if (need > 64) {
        buf = (double *)malloc(need * sizeof(double));
        if (!buf) return NAN;
    }
    eval_baseline(P, node, &t, &out, 1, t, t, buf);
    if (buf != stack) free(buf);
    return out;
}

double fl_eval_scalar(const fl_program *P, double t)
{
    return fl_eval_node_scalar(P, 0, t);
}
