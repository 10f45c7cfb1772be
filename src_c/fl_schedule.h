/* The schedule engine: a schedule tree flattened into nodes, evaluated block by block.
 *
 * Python (src_c/_schedule.pyx) flattens a schedule's _spec() tree into an fl_program.
 * Evaluation walks the tree once per block of up to FL_BLOCK steps: a leaf fills the
 * block with one tight loop (vectorised where the formula allows), a composite node
 * rewrites the steps into its children's local clocks and selects or scales their
 * outputs. So nesting costs a few passes over a block, never a call per step.
 */
#ifndef FL_SCHEDULE_H
#define FL_SCHEDULE_H

#include <stddef.h>

#define FL_BLOCK 512

enum fl_kind {
    FL_CONSTANT, FL_LINEAR, FL_STEP, FL_MULTISTEP, FL_EXPONENTIAL, FL_POLYNOMIAL,
    FL_COSINE, FL_RESTARTS, FL_INVSQRT, FL_INVTIME, FL_CYCLIC, FL_ONECYCLE, FL_WSD,
    FL_PWCONST, FL_PWLINEAR, FL_WARMUP, FL_SEQUENCE, FL_SCALED,
    FL_PRODUCT, FL_SWA, FL_TANH, FL_NOISE, FL_NKINDS
};

#define FL_NPARAM 8

typedef struct {
    int kind;
    int flag;              /* mode, staircase, anneal: see the kind's formula */
    int nkids;             /* children are prog->kids[kid0 .. kid0 + nkids) */
    int kid0;
    double p[FL_NPARAM];   /* scalar parameters, in the order of the Python _spec() */
    const double *a;       /* first variable-length array (boundaries, milestones) */
    const double *b;       /* second one (values) */
    ptrdiff_t na, nb;
} fl_node;

typedef struct {
    fl_node *nodes;        /* nodes[0] is the root */
    int *kids;
    double *data;          /* storage behind every node's a and b */
    int depth;             /* longest root-to-leaf path, in nodes */
} fl_program;

/* SIMD levels (fl_simd.h), chosen at run time */
int fl_simd_supported(void);      /* the best level this CPU and build can run */
int fl_simd_get(void);
int fl_simd_set(int level);       /* capped at fl_simd_supported(); returns the level set */

/* steps live in [0, 2^53] (fastlr/_validate.py MAX_STEP) */
#define FL_MAX_STEP 9007199254740992.0

/* Values at arbitrary steps. Returns -1, or the index of the first step outside
 * [0, FL_MAX_STEP] or NaN (then nothing is written). */
ptrdiff_t fl_eval_points(const fl_program *P, const double *t, double *out, ptrdiff_t n);
/* Values at steps start, start + 1, ..., start + n - 1. */
void fl_eval_range(const fl_program *P, double start, double *out, ptrdiff_t n);
double fl_eval_scalar(const fl_program *P, double t);
/* Evaluate one node (used while building, for a warmup's peak). */
double fl_eval_node_scalar(const fl_program *P, int node, double t);

int fl_openmp(void);
/* threads for the parallel paths (from fastlr/_threads.py; 1 = serial) */
void fl_schedule_set_threads(int n);
int fl_schedule_get_threads(void);
/* large calls left to run serially because threads lately lost to one thread */
int fl_schedule_backoff(void);

#endif
