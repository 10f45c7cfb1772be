/* The block evaluator, compiled once per SIMD level by fl_schedule.c.
 *
 * Included with FL_SUF(name) defined to give every function a level suffix. Each
 * formula mirrors the _value() of its Python class in fastlr/reference, operation for
 * operation (the compiled and the reference backend must agree to 1e-12 of the peak;
 * they differ only where libm's cos is replaced by fl_cospi01).
 */

/* lo and hi bound the block's steps (lo <= t[i] <= hi): composites decide from them
 * which children to run, and pass their children the shifted bounds, so the bounds
 * are computed once per block (for values(n), never: the block is a range) */
static void FL_SUF(eval)(const fl_program *P, int node, const double *t, double *out,
                         ptrdiff_t n, double lo, double hi, double *scratch);

/* number of entries of sorted a[0..na) that are <= x (Python's bisect_right) */
static ptrdiff_t FL_SUF(bisect_right)(const double *a, ptrdiff_t na, double x)
{
    ptrdiff_t lo = 0, hi = na;
    while (lo < hi) {
        ptrdiff_t mid = lo + (hi - lo) / 2;
        if (x < a[mid]) hi = mid; else lo = mid + 1;
    }
    return lo;
}

static double FL_SUF(onecycle)(const double *p, int flag, double t)
{
    double total = p[0], pct_start = p[1];
    int three = (flag & 2) != 0, cosine = (flag & 1) == 0;
    double ends[3];
    int nphase = three ? 3 : 2, i;
    double start = 0.0;
    ends[0] = pct_start * total - 1.0;
    if (three) {
        ends[1] = 2.0 * pct_start * total - 2.0;
        ends[2] = total - 1.0;
    } else {
        ends[1] = total - 1.0;
    }
    if (t >= total - 1.0)
        return p[2 + nphase];
    for (i = 0; i < nphase; i++) {
        double end = ends[i];
        if (t <= end || i == nphase - 1) {
            double pct = end > start ? (t - start) / (end - start) : 1.0;
            double a = p[2 + i], b = p[3 + i];
            if (cosine)
                return b + (a - b) / 2.0 * (fl_cospi01(pct) + 1.0);
            return (b - a) * pct + a;
        }
        start = end;
    }
    return p[2 + nphase]; /* unreachable */
}

/* S(k), the start of SGDR cycle k when m != 1 */
static double FL_SUF(cycle_start)(double c, double m, double k)
{
    return c * (pow(m, k) - 1.0) / (m - 1.0);
}

/* The SGDR cycle of step t when m != 1: the largest i with S(i) <= t, found exactly as
 * restart_cycle() in fastlr/reference/schedules.py (doubling, then bisection; both
 * loops bounded: at most 62 doublings and about 63 halvings). */
static void FL_SUF(restart_cycle)(const double *p, double t, double *i, double *start,
                                  double *next, double *length)
{
    double c = p[1], m = p[2], lo = 0.0, hi = 1.0;
    while (FL_SUF(cycle_start)(c, m, hi) <= t && hi < 4611686018427387904.0 /* 2^62 */) {
        lo = hi;
        hi = 2.0 * hi;
    }
    while (hi - lo > 1.0) {
        double mid = floor((lo + hi) / 2.0);
        if (!(lo < mid && mid < hi)) break;   /* past 2^53 cycles: no float in between */
        if (FL_SUF(cycle_start)(c, m, mid) <= t) lo = mid; else hi = mid;
    }
    *i = lo;
    *start = FL_SUF(cycle_start)(c, m, lo);
    *next = FL_SUF(cycle_start)(c, m, lo + 1.0);
    *length = c * pow(m, lo);
}

/* the amplitude above final_lr of cycle i: timm's peak decay or keras' m_mul */
static double FL_SUF(restart_amp)(int amplitude_mode, double lr, double fin, double decay,
                                  double i)
{
    return amplitude_mode ? (lr - fin) * pow(decay, i) : lr * pow(decay, i) - fin;
}

static void FL_SUF(restarts)(const double *p, int flag, const double *t, double *out,
                             ptrdiff_t n)
{
    double lr = p[0], c = p[1], m = p[2], fin = p[3], decay = p[4], limit = p[5], kd = p[6];
    double i = -1.0, start = INFINITY, next = -INFINITY, length = 1.0, amp = 0.0;
    int amplitude_mode = flag == 1;
    ptrdiff_t j;
    for (j = 0; j < n; j++) {
        /* neighbouring steps share a cycle, so its start, length and peak are cached:
         * with m == 1 the cycle is floor(t/c) (the spec's rule, recomputed per step);
         * otherwise it is the one whose [start, next) holds t, so a cached cycle is
         * reused only when it is the exact answer */
        if (m == 1.0) {
            double k = floor(t[j] / c);
            if (k != i) {
                i = k;
                start = k * c;
                length = c;
                amp = FL_SUF(restart_amp)(amplitude_mode, lr, fin, decay, i);
            }
        } else if (!(t[j] >= start && t[j] < next)) {
            FL_SUF(restart_cycle)(p, t[j], &i, &start, &next, &length);
            amp = FL_SUF(restart_amp)(amplitude_mode, lr, fin, decay, i);
        }
        /* x is in [0, 1) in exact arithmetic; the clamp only absorbs rounding (m near 1) */
        out[j] = i >= limit ? fin : fin + amp
               * (0.5 * (1.0 + fl_cospi01(fl_min(fl_max(fl_k_ratio(t[j] - start, length, kd),
                                                       0.0), 1.0))));
    }
}

/* WarmupStableDecay with timm's options: flag = decay | stable << 3 (the Python order of
 * _WSD_DECAY and _WSD_STABLE), p = lr, W, S, D, final, tau, stable power, decay param */
static void FL_SUF(wsd_timm)(const double *p, int flag, const double *t, double *out,
                             ptrdiff_t n)
{
    double lr = p[0], W = p[1], stable_end = p[1] + p[2], D = p[3], fin = p[4];
    double tau = p[5], sp = p[6], dp = p[7], decay_end = stable_end + D;
    int dk = flag & 7, sk = flag >> 3;
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        double x = t[i], top, q, f;
        if (x < W) {
            out[i] = lr * (x / W);
            continue;
        }
        top = sk == 0 ? lr : fl_max(lr * pow(1.0 + (x - W) / tau, -sp), fin);
        if (x < stable_end) {
            out[i] = top;
            continue;
        }
        if (x >= decay_end) {
            out[i] = fin;
            continue;
        }
        q = (x - stable_end) / D;
        switch (dk) {
        case 0: f = 1.0 - q; break;
        case 1: f = 0.5 * (1.0 + fl_cospi01(q)); break;
        case 2: f = 1.0 - sqrt(q); break;
        case 3: f = 1.0 - pow(q, dp); break;
        default: f = (pow(dp, q) - dp) / (1.0 - dp);
        }
        out[i] = fin + (top - fin) * f;
    }
}

static void FL_SUF(leaf)(const fl_node *nd, const double *restrict t, double *restrict out,
                         ptrdiff_t n)
{
    const double *p = nd->p;
    ptrdiff_t i;
    switch (nd->kind) {
    case FL_CONSTANT:
        for (i = 0; i < n; i++) out[i] = p[0];
        break;
    case FL_LINEAR: {
        double s = p[0], e = p[1], T = p[2];
        for (i = 0; i < n; i++)
            out[i] = t[i] >= T ? e : s + (e - s) * (t[i] / T);
        break;
    }
    case FL_STEP:
        for (i = 0; i < n; i++) out[i] = p[0] * pow(p[2], floor(t[i] / p[1]));
        break;
    case FL_MULTISTEP:
        for (i = 0; i < n; i++)
            out[i] = p[0] * pow(p[1], (double)FL_SUF(bisect_right)(nd->a, nd->na, t[i]));
        break;
    case FL_EXPONENTIAL: {
        double lr = p[0], g = p[1], d = p[2], fin = p[3];
        if (lr == 0.0) {                /* 0 stays 0 (0 * an overflowed growth is NaN) */
            for (i = 0; i < n; i++) out[i] = 0.0;
            break;
        }
        for (i = 0; i < n; i++) {
            double e = t[i] / d, val;
            if (nd->flag) e = floor(e);
            val = lr * pow(g, e);
            if (fin == fin) {
                if (g < 1.0) val = val > fin ? val : fin;
                else if (g > 1.0) val = val < fin ? val : fin;
            }
            out[i] = val;
        }
        break;
    }
    case FL_POLYNOMIAL: {
        double lr = p[0], T = p[1], fin = p[2], pw = p[3], k = p[4];
        if (nd->flag || k != 1.0) {     /* keras' cycle, timm's k_decay */
            for (i = 0; i < n; i++) {
                double len = nd->flag ? T * fl_max(1.0, ceil(t[i] / T)) : T;
                double x = nd->flag ? t[i] : fl_min(t[i], T);
                out[i] = (lr - fin) * pow(1.0 - fl_k_ratio(x, len, k), pw) + fin;
            }
            break;
        }
        for (i = 0; i < n; i++)
            out[i] = (lr - fin) * pow(1.0 - fl_min(t[i], T) / T, pw) + fin;
        break;
    }
    case FL_COSINE: {
        double lr = p[0], T = p[1], fin = p[2], e = p[3], nc = p[4], k = p[5];
        if (e != 1.0 || nc != 0.5 || k != 1.0) {   /* optax exponent, HF cycles, timm k */
            for (i = 0; i < n; i++) {
                double c = 0.5 * (1.0 + fl_cospi_any(2.0 * nc * fl_k_ratio(fl_min(t[i], T), T, k)));
                if (e != 1.0) c = pow(c, e);
                out[i] = fin + (lr - fin) * c;
            }
            break;
        }
        for (i = 0; i < n; i++)
            out[i] = fin + (lr - fin) * (0.5 * (1.0 + fl_cospi01(fl_min(t[i], T) / T)));
        break;
    }
    case FL_RESTARTS:
        FL_SUF(restarts)(p, nd->flag, t, out, n);
        break;
    case FL_INVSQRT: {
        double lr = p[0], W = p[1], tau = p[2];
        if (nd->flag) {                 /* transformers' timescale */
            for (i = 0; i < n; i++) out[i] = lr * sqrt(tau / (fl_max(t[i], W) - W + tau));
            break;
        }
        for (i = 0; i < n; i++) out[i] = lr * sqrt(W / fl_max(t[i], W));
        break;
    }
    case FL_INVTIME: {
        double lr = p[0], r = p[1], d = p[2];
        for (i = 0; i < n; i++) {
            double e = t[i] / d;
            if (nd->flag) e = floor(e);
            out[i] = lr / (1.0 + r * e);
        }
        break;
    }
    case FL_CYCLIC: {
        double base = p[0], top = p[1], total = p[2] + p[3], g = p[4];
        double ratio = p[2] / total;
        for (i = 0; i < n; i++) {
            double cycle = floor(1.0 + t[i] / total);
            double x = 1.0 + t[i] / total - cycle;
            double f = x <= ratio ? x / ratio : (x - 1.0) / (ratio - 1.0);
            double scale = nd->flag == 0 ? 1.0
                         : nd->flag == 1 ? 1.0 / pow(2.0, cycle - 1.0)
                         : pow(g, t[i]);
            out[i] = base + (top - base) * f * scale;
        }
        break;
    }
    case FL_ONECYCLE:
        for (i = 0; i < n; i++) out[i] = FL_SUF(onecycle)(p, nd->flag, t[i]);
        break;
    case FL_WSD: {
        double lr = p[0], W = p[1], stable_end = p[1] + p[2], D = p[3], fin = p[4];
        double decay_end = stable_end + D;
        if (nd->flag > 2) {             /* timm's decays and decaying stable phases */
            FL_SUF(wsd_timm)(p, nd->flag, t, out, n);
            break;
        }
        /* one loop per decay shape, so that each one vectorises */
#define FL_WSD_LOOP(F)                                                           \
        for (i = 0; i < n; i++) {                                                \
            double x = t[i], q = (x - stable_end) / D, val = fin + (lr - fin) * (F); \
            val = x >= decay_end ? fin : val;                                    \
            val = x < stable_end ? lr : val;                                     \
            out[i] = x < W ? lr * (x / W) : val;                                 \
        }
        if (nd->flag == 0) { FL_WSD_LOOP(1.0 - q) }
        else if (nd->flag == 1) { FL_WSD_LOOP(0.5 * (1.0 + fl_cospi01(q))) }
        else { FL_WSD_LOOP(1.0 - sqrt(fl_max(q, 0.0))) }
#undef FL_WSD_LOOP
        break;
    }
    case FL_PWCONST:
        for (i = 0; i < n; i++) out[i] = nd->b[FL_SUF(bisect_right)(nd->a, nd->na, t[i])];
        break;
    case FL_TANH: {
        double lr = p[0], T = p[1], fin = p[2], lb = p[3], ub = p[4];
        for (i = 0; i < n; i++) {
            double x = t[i] / T;
            out[i] = t[i] >= T ? fin
                   : fin + (lr - fin) * (0.5 * (1.0 - tanh(lb * (1.0 - x) + ub * x)));
        }
        break;
    }
    case FL_PWLINEAR: {
        const double *s = nd->a, *y = nd->b;
        ptrdiff_t last = nd->na - 1;
        for (i = 0; i < n; i++) {
            double x = t[i];
            if (x <= s[0]) out[i] = y[0];
            else if (x >= s[last]) out[i] = y[last];
            else {
                ptrdiff_t k = FL_SUF(bisect_right)(s, nd->na, x);
                out[i] = y[k - 1] + (y[k] - y[k - 1]) * ((x - s[k - 1]) / (s[k] - s[k - 1]));
            }
        }
        break;
    }
    default:
        for (i = 0; i < n; i++) out[i] = 0.0; /* never built: the builder rejects it */
    }
}

static void FL_SUF(minmax)(const double *t, ptrdiff_t n, double *lo, double *hi)
{
    double a = t[0], b = t[0];
    ptrdiff_t i;
    for (i = 1; i < n; i++) {
        a = fl_min(a, t[i]);
        b = fl_max(b, t[i]);
    }
    *lo = a;
    *hi = b;
}

static void FL_SUF(warmup)(const fl_program *P, const fl_node *nd, const double *restrict t,
                           double *restrict out, ptrdiff_t n, double lo, double hi,
                           double *scratch)
{
    /* shift is W on the local clock, 0 on the global one (timm's warmup_prefix=False) */
    double W = nd->p[0], start = nd->p[1], peak = nd->p[2], shift = nd->p[3];
    double *local = scratch, *kid = scratch + n, *deeper = scratch + 2 * n;
    int child = P->kids[nd->kid0];
    ptrdiff_t i;
    if (lo >= W) {                      /* the whole block is past the warmup */
        for (i = 0; i < n; i++) local[i] = t[i] - shift;
        FL_SUF(eval)(P, child, local, out, n, lo - shift, hi - shift, kid);
        return;
    }
    switch (nd->flag) {                 /* one loop per mode, so that each vectorises */
    case 0:
        for (i = 0; i < n; i++) out[i] = start + (peak - start) * (t[i] / W);
        break;
    case 1:   /* start * (peak/start)^x without the ratio, which can overflow */
        for (i = 0; i < n; i++) {
            double x = t[i] / W;
            out[i] = pow(start, 1.0 - x) * pow(peak, x);
        }
        break;
    case 2:
        for (i = 0; i < n; i++)
            out[i] = start + (peak - start) * (0.5 * (1.0 - fl_cospi01(t[i] / W)));
        break;
    default:                            /* '1-sqrt' */
        for (i = 0; i < n; i++)
            out[i] = start + (peak - start) * (1.0 - sqrt(fl_max(1.0 - t[i] / W, 0.0)));
    }
    if (hi >= W) {                      /* the block straddles the end of the warmup */
        for (i = 0; i < n; i++) local[i] = fl_max(t[i] - shift, 0.0);
        FL_SUF(eval)(P, child, local, kid, n, fl_max(lo - shift, 0.0), hi - shift, deeper);
        for (i = 0; i < n; i++) out[i] = t[i] < W ? out[i] : kid[i];
    }
}

static void FL_SUF(sequence)(const fl_program *P, const fl_node *nd, const double *restrict t,
                             double *restrict out, ptrdiff_t n, double lo, double hi,
                             double *scratch)
{
    const double *b = nd->a;
    double *local = scratch, *kid = scratch + n, *deeper = scratch + 2 * n;
    ptrdiff_t nb = nd->na, first, last, seg, i;
    first = FL_SUF(bisect_right)(b, nb, lo);
    last = FL_SUF(bisect_right)(b, nb, hi);
    if (first == last) {                /* the whole block is in one segment */
        double origin = first ? b[first - 1] : 0.0;
        for (i = 0; i < n; i++) local[i] = t[i] - origin;
        FL_SUF(eval)(P, P->kids[nd->kid0 + first], local, out, n, lo - origin, hi - origin,
                     kid);
        return;
    }
    for (seg = first; seg <= last; seg++) {
        double origin = seg ? b[seg - 1] : 0.0;
        double end = seg < nb ? b[seg] : INFINITY;
        if (!(end > origin) && seg) continue;   /* an empty segment (repeated boundary) */
        for (i = 0; i < n; i++) local[i] = fl_max(t[i] - origin, 0.0);
        FL_SUF(eval)(P, P->kids[nd->kid0 + seg], local, kid, n, fl_max(lo - origin, 0.0),
                     fl_max(hi - origin, 0.0), deeper);
        for (i = 0; i < n; i++)
            out[i] = (t[i] >= origin || seg == 0) && t[i] < end ? kid[i] : out[i];
    }
}

/* the product of the children, multiplied in order (fastlr/reference/algebra.py) */
static void FL_SUF(product)(const fl_program *P, const fl_node *nd, const double *restrict t,
                            double *restrict out, ptrdiff_t n, double lo, double hi,
                            double *scratch)
{
    double *kid = scratch, *deeper = scratch + n;
    ptrdiff_t i;
    int k;
    FL_SUF(eval)(P, P->kids[nd->kid0], t, out, n, lo, hi, kid);
    for (k = 1; k < nd->nkids; k++) {
        FL_SUF(eval)(P, P->kids[nd->kid0 + k], t, kid, n, lo, hi, deeper);
        for (i = 0; i < n; i++) out[i] = out[i] * kid[i];
    }
}

/* SWALR: the child until start, then an anneal from its value there (p[3], filled by
 * the builder) to swa_lr */
static void FL_SUF(swa)(const fl_program *P, const fl_node *nd, const double *restrict t,
                        double *restrict out, ptrdiff_t n, double lo, double hi,
                        double *scratch)
{
    double swa = nd->p[0], S = nd->p[1], A = nd->p[2], L = nd->p[3];
    double *kid = scratch, *deeper = scratch + n;
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        double x = A == 0.0 ? 1.0 : fl_min((t[i] - S) / A, 1.0);
        double f = nd->flag == 0 ? 0.5 * (1.0 - fl_cospi01(fl_max(x, 0.0))) : x;
        out[i] = swa + (L - swa) * (1.0 - f);
    }
    if (lo < S) {                       /* some steps are still on the main schedule */
        FL_SUF(eval)(P, P->kids[nd->kid0], t, kid, n, lo, hi, deeper);
        for (i = 0; i < n; i++) out[i] = t[i] < S ? kid[i] : out[i];
    }
}

/* timm's lr noise: child * (1 + n(seed, floor(t))) on [start, end) */
static void FL_SUF(noise)(const fl_program *P, const fl_node *nd, const double *restrict t,
                          double *restrict out, ptrdiff_t n, double lo, double hi,
                          double *scratch)
{
    double start = nd->p[0], end = nd->p[1], pct = nd->p[2], sd = nd->p[3];
    unsigned long long seed = ((unsigned long long)nd->p[4] << 32)
                            | (unsigned long long)nd->p[5];
    ptrdiff_t i;
    FL_SUF(eval)(P, P->kids[nd->kid0], t, out, n, lo, hi, scratch);
    if (hi < start || lo >= end) return;
    for (i = 0; i < n; i++)
        if (t[i] >= start && t[i] < end)
            out[i] = out[i] * (1.0 + fl_noise(nd->flag, pct, sd, seed,
                                              (unsigned long long)t[i]));
}

static void FL_SUF(eval)(const fl_program *P, int node, const double *t, double *out,
                         ptrdiff_t n, double lo, double hi, double *scratch)
{
    const fl_node *nd = &P->nodes[node];
    ptrdiff_t i;
    switch (nd->kind) {
    case FL_WARMUP:
        if (nd->p[0] > 0.0) {
            FL_SUF(warmup)(P, nd, t, out, n, lo, hi, scratch);
        } else {
            FL_SUF(eval)(P, P->kids[nd->kid0], t, out, n, lo, hi, scratch);
        }
        break;
    case FL_SEQUENCE:
        FL_SUF(sequence)(P, nd, t, out, n, lo, hi, scratch);
        break;
    case FL_SCALED:
        FL_SUF(eval)(P, P->kids[nd->kid0], t, out, n, lo, hi, scratch);
        for (i = 0; i < n; i++) out[i] = nd->p[0] * out[i];
        break;
    case FL_PRODUCT:
        FL_SUF(product)(P, nd, t, out, n, lo, hi, scratch);
        break;
    case FL_SWA:
        FL_SUF(swa)(P, nd, t, out, n, lo, hi, scratch);
        break;
    case FL_NOISE:
        FL_SUF(noise)(P, nd, t, out, n, lo, hi, scratch);
        break;
    default:
        FL_SUF(leaf)(nd, t, out, n);
    }
}

/* steps start .. start + n - 1, in blocks; tb and scratch belong to the caller's thread */
static void FL_SUF(range)(const fl_program *P, double start, double *out, ptrdiff_t n,
                          double *tb, double *scratch)
{
    ptrdiff_t j, i;
    for (j = 0; j < n; j += FL_BLOCK) {
        ptrdiff_t m = n - j < FL_BLOCK ? n - j : FL_BLOCK;
        for (i = 0; i < m; i++) tb[i] = start + (double)(j + i);
        FL_SUF(eval)(P, 0, tb, out + j, m, tb[0], tb[m - 1], scratch);
    }
}

static void FL_SUF(points)(const fl_program *P, const double *t, double *out, ptrdiff_t n,
                           double *scratch)
{
    ptrdiff_t j;
    for (j = 0; j < n; j += FL_BLOCK) {
        ptrdiff_t m = n - j < FL_BLOCK ? n - j : FL_BLOCK;
        double lo, hi;
        FL_SUF(minmax)(t + j, m, &lo, &hi);
        FL_SUF(eval)(P, 0, t + j, out + j, m, lo, hi, scratch);
    }
}
