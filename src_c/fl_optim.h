/* The optimizer update kernels: one elementwise pass per array, many arrays per call.
 *
 * Python (fastlr/reference/kernels.py, shared by both backends) turns an optimizer's
 * hyperparameters at one step into an fl_hyper: a kind, flags, and up to FL_NCOEF
 * scalar coefficients computed in double on the host (bias corrections, -lr/bc1, ...).
 * The kernels cast each coefficient once to the array's type and then follow the
 * reference's numpy operations one rounding at a time, so the two backends agree bit
 * for bit (setup.py builds with -ffp-contract=off: no fused multiply-add anywhere).
 *
 * The meaning of c[] per kind is documented next to each kernel in fl_optim_body.h
 * and, as the specification, in the matching numpy function.
 */
#ifndef FL_OPTIM_H
#define FL_OPTIM_H

#include <stddef.h>

enum fl_optim_kind {
    FL_K_SGD, FL_K_ADAM, FL_K_RMSPROP, FL_K_ADAGRAD, FL_K_LION, FL_K_SFSGD, FL_K_SFADAMW,
    FL_K_LERP,
    /* the rest of torch.optim's elementwise family, appended */
    FL_K_NADAM, FL_K_RADAM, FL_K_ADAMAX, FL_K_ADADELTA, FL_K_ASGD, FL_K_RPROP,
    FL_K_NKINDS
};

/* flag bits (which ones a kind reads is listed with the kernel) */
enum {
    FL_F_MAXIMIZE = 1,     /* g = -g first */
    FL_F_L2 = 2,           /* coupled weight decay: g = g + wd * p */
    FL_F_DECAY = 4,        /* decoupled weight decay: p = p * (1 - lr * wd) */
    FL_F_FIRST = 8,        /* first step of a buffer: SGD buf = g, schedule-free z = p */
    FL_F_NESTEROV = 16,
    FL_F_AMSGRAD = 32,
    FL_F_CENTERED = 64,
    FL_F_MOMENTUM = 128,
    /* kind-specific readings of the same bits */
    FL_F_RECTIFY = 64,     /* RAdam: rho_t > 5, the rectified update (CENTERED's bit) */
    FL_F_AX_COPY = 8       /* ASGD: mu == 1, ax = p (FIRST's bit) */
};

enum { FL_F32 = 0, FL_F64 = 1 };

#define FL_NCOEF 12
#define FL_NSTATE 3

typedef struct {
    int kind;
    int flags;
    double c[FL_NCOEF];
} fl_hyper;

typedef struct {
    void *p;                   /* the parameter, updated in place */
    const void *g;             /* its gradient */
    void *s[FL_NSTATE];        /* state buffers, NULL where the kind/flags use none */
    ptrdiff_t n;               /* elements */
    int dtype;                 /* FL_F32 or FL_F64; every array of the item has it */
    int h;                     /* index of its fl_hyper */
} fl_item;

/* Apply every item's update. Arrays of at least FL_PAR_MIN elements are split across
 * threads, and many small arrays are shared out whole, when the step holds at least
 * FL_PAR_MIN elements; every element is computed the same way on any thread count.
 * Returns 0, or -1 when out of memory for the work list (then nothing is written). */
int fl_optim_run(const fl_hyper *hy, const fl_item *items, ptrdiff_t nitems);

/* Which arrays a kind reads under the given flags: bit k (k < FL_NSTATE) for state
 * buffer s[k], FL_NEED_GRAD for the gradient; -1 for an unknown kind. The Python entry
 * points check every item against it before any kernel runs (a NULL or missing buffer
 * would be dereferenced). */
#define FL_NEED_GRAD 8
int fl_optim_needs(int kind, int flags);

/* 1 when all n arrays (of the given dtypes and sizes) hold only finite values. */
int fl_optim_allfinite(const void *const *arrays, const ptrdiff_t *sizes, const int *dtypes,
                       ptrdiff_t n);

void fl_optim_set_threads(int n);
int fl_optim_get_threads(void);
int fl_optim_openmp(void);

/* SIMD levels (same numbering as fl_schedule.h), chosen at run time */
int fl_optim_simd_supported(void);
int fl_optim_simd_get(void);
int fl_optim_simd_set(int level);

#define FL_PAR_MIN ((ptrdiff_t)1 << 16)

#endif
