/* The optimizer kernels, compiled once per (SIMD level, element type) by fl_optim.c.
 *
 * Included with FL_T (float or double), FL_SQRT (sqrtf or sqrt) and FL_SUF(name)
 * defined. Each kernel updates elements [lo, hi) of one item and mirrors its numpy
 * twin in fastlr/reference/kernels.py operation for operation: the coefficients are
 * cast once to FL_T and every +, *, / and sqrt rounds to FL_T exactly as numpy does,
 * so the two agree bit for bit. The order of operations is torch.optim's for-loop
 * path (foreach=False), without its fused multiply-adds.
 *
 * A loop-invariant flag becomes a select inside the loop (the vectoriser turns it
 * into a blend: -fno-trapping-math lets both sides be computed); a state buffer that
 * may be absent is a compile-time parameter of an always-inline body instead, so
 * every loop that runs is a straight vectorisable pass.
 */

#define FL_ARR(k) ((FL_T *)it->s[k] + lo)

/* torch's lerp(a, b, w) without the FMA: a + w*(b - a) for |w| < 0.5, else
 * b - (b - a)*(1 - w); `small` and `omw` = 1 - w are computed once per call */
static inline FL_T FL_SUF(lerp1)(FL_T a, FL_T b, FL_T w, FL_T omw, int small)
{
    return small ? a + w * (b - a) : b - (b - a) * omw;
}

/* SGD. c = {wd, momentum, 1 - dampening, -lr}; flags MAXIMIZE, L2, MOMENTUM, FIRST,
 * NESTEROV; s[0] = momentum buffer.
 *   g = -g (maximize);  g = g + wd*p (L2)
 *   buf = g (first) or buf*momentum + (1-dampening)*g;  g = g + momentum*buf
 *   (nesterov) or buf;  p = p + (-lr)*g */
static inline __attribute__((always_inline)) void
FL_SUF(sgd_impl)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi,
                 const int with_momentum)
{
    FL_T *restrict p = (FL_T *)it->p + lo;
    const FL_T *restrict g = (const FL_T *)it->g + lo;
    const ptrdiff_t n = hi - lo;
    const int maximize = (h->flags & FL_F_MAXIMIZE) != 0, l2 = (h->flags & FL_F_L2) != 0;
    const int first = (h->flags & FL_F_FIRST) != 0, nesterov = (h->flags & FL_F_NESTEROV) != 0;
    const FL_T wd = (FL_T)h->c[0], mom = (FL_T)h->c[1], damp1 = (FL_T)h->c[2];
    const FL_T nlr = (FL_T)h->c[3];
    ptrdiff_t i;
    if (!with_momentum) {
        for (i = 0; i < n; i++) {
            FL_T gi = maximize ? -g[i] : g[i];
            gi = l2 ? gi + wd * p[i] : gi;
            p[i] = p[i] + nlr * gi;
        }
    } else {
        FL_T *restrict b = FL_ARR(0);
        for (i = 0; i < n; i++) {
            FL_T gi = maximize ? -g[i] : g[i], bi;
            gi = l2 ? gi + wd * p[i] : gi;
            bi = first ? gi : b[i] * mom + damp1 * gi;
            b[i] = bi;
            gi = nesterov ? gi + mom * bi : bi;
            p[i] = p[i] + nlr * gi;
        }
    }
}

static void FL_SUF(sgd)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi)
{
    if (h->flags & FL_F_MOMENTUM)
        FL_SUF(sgd_impl)(h, it, lo, hi, 1);
    else
        FL_SUF(sgd_impl)(h, it, lo, hi, 0);
}

/* Adam / AdamW. c = {1 - lr*wd, wd, 1 - beta1, beta2, 1 - beta2, sqrt(1 - beta2^t),
 * eps, -lr/(1 - beta1^t)}; flags MAXIMIZE, DECAY, L2, AMSGRAD; s = m, v, vmax.
 *   g = -g;  p = p*(1 - lr*wd) (decoupled) | g = g + wd*p (L2)
 *   m = lerp(m, g, 1 - beta1);  v = v*beta2;  v = v + ((1 - beta2)*g)*g
 *   vmax = max(vmax, v) and use vmax (amsgrad)
 *   p = p + (-lr/bc1 * m) / (sqrt(v)/sqrt(bc2) + eps) */
static inline __attribute__((always_inline)) void
FL_SUF(adam_impl)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi,
                  const int amsgrad)
{
    FL_T *restrict p = (FL_T *)it->p + lo;
    const FL_T *restrict g = (const FL_T *)it->g + lo;
    FL_T *restrict m = FL_ARR(0), *restrict v = FL_ARR(1);
    FL_T *restrict vm = amsgrad ? FL_ARR(2) : NULL;
    const ptrdiff_t n = hi - lo;
    const int maximize = (h->flags & FL_F_MAXIMIZE) != 0, l2 = (h->flags & FL_F_L2) != 0;
    const int decay_on = (h->flags & FL_F_DECAY) != 0;
    const FL_T decay = (FL_T)h->c[0], wd = (FL_T)h->c[1], w1 = (FL_T)h->c[2];
    const FL_T b2 = (FL_T)h->c[3], c2 = (FL_T)h->c[4], bc2s = (FL_T)h->c[5];
    const FL_T eps = (FL_T)h->c[6], nstep = (FL_T)h->c[7];
    const FL_T omw1 = (FL_T)1 - w1;
    const int small1 = (w1 < 0 ? -w1 : w1) < (FL_T)0.5;
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        FL_T gi = maximize ? -g[i] : g[i], pi = p[i], mi, vi, den;
        pi = decay_on ? pi * decay : pi;
        gi = l2 ? gi + wd * pi : gi;
        mi = FL_SUF(lerp1)(m[i], gi, w1, omw1, small1);
        vi = v[i] * b2;
        vi = vi + (c2 * gi) * gi;
        m[i] = mi;
        v[i] = vi;
        if (amsgrad) {
            FL_T ui = vm[i];
            ui = (ui > vi || ui != ui) ? ui : vi;   /* np.maximum, NaN-propagating */
            vm[i] = ui;
            vi = ui;
        }
        den = FL_SQRT(vi) / bc2s + eps;
        p[i] = pi + (nstep * mi) / den;
    }
}

static void FL_SUF(adam)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi)
{
    if (h->flags & FL_F_AMSGRAD)
        FL_SUF(adam_impl)(h, it, lo, hi, 1);
    else
        FL_SUF(adam_impl)(h, it, lo, hi, 0);
}

/* RMSprop. c = {wd, alpha, 1 - alpha, eps, momentum, -lr}; flags MAXIMIZE, L2,
 * CENTERED, MOMENTUM; s = square_avg, grad_avg, momentum_buffer.
 *   g = -g;  g = g + wd*p;  sq = sq*alpha;  sq = sq + ((1 - alpha)*g)*g
 *   centered: ga = lerp(ga, g, 1 - alpha); avg = sqrt(sq - ga*ga), else sqrt(sq)
 *   avg = avg + eps
 *   momentum: buf = buf*momentum + g/avg; p = p + (-lr)*buf, else p = p + (-lr*g)/avg */
static inline __attribute__((always_inline)) void
FL_SUF(rmsprop_impl)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi,
                     const int centered, const int with_momentum)
{
    FL_T *restrict p = (FL_T *)it->p + lo;
    const FL_T *restrict g = (const FL_T *)it->g + lo;
    FL_T *restrict sq = FL_ARR(0);
    FL_T *restrict ga = centered ? FL_ARR(1) : NULL;
    FL_T *restrict b = with_momentum ? FL_ARR(2) : NULL;
    const ptrdiff_t n = hi - lo;
    const int maximize = (h->flags & FL_F_MAXIMIZE) != 0, l2 = (h->flags & FL_F_L2) != 0;
    const FL_T wd = (FL_T)h->c[0], alpha = (FL_T)h->c[1], ca = (FL_T)h->c[2];
    const FL_T eps = (FL_T)h->c[3], mom = (FL_T)h->c[4], nlr = (FL_T)h->c[5];
    const FL_T omca = (FL_T)1 - ca;
    const int smalla = (ca < 0 ? -ca : ca) < (FL_T)0.5;
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        FL_T gi = maximize ? -g[i] : g[i], si, avg;
        gi = l2 ? gi + wd * p[i] : gi;
        si = sq[i] * alpha;
        si = si + (ca * gi) * gi;
        sq[i] = si;
        if (centered) {
            FL_T ai = FL_SUF(lerp1)(ga[i], gi, ca, omca, smalla);
            ga[i] = ai;
            avg = FL_SQRT(si - ai * ai);
        } else {
            avg = FL_SQRT(si);
        }
        avg = avg + eps;
        if (with_momentum) {
            FL_T bi = b[i] * mom + gi / avg;
            b[i] = bi;
            p[i] = p[i] + nlr * bi;
        } else {
            p[i] = p[i] + (nlr * gi) / avg;
        }
    }
}

static void FL_SUF(rmsprop)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi)
{
    int c = (h->flags & FL_F_CENTERED) != 0, m = (h->flags & FL_F_MOMENTUM) != 0;
    if (c && m) FL_SUF(rmsprop_impl)(h, it, lo, hi, 1, 1);
    else if (c) FL_SUF(rmsprop_impl)(h, it, lo, hi, 1, 0);
    else if (m) FL_SUF(rmsprop_impl)(h, it, lo, hi, 0, 1);
    else FL_SUF(rmsprop_impl)(h, it, lo, hi, 0, 0);
}

/* Adagrad. c = {wd, eps, -lr/(1 + (t-1)*lr_decay)}; flags MAXIMIZE, L2; s = sum.
 *   g = -g;  g = g + wd*p;  sum = sum + g*g;  p = p + (-clr*g)/(sqrt(sum) + eps) */
static void FL_SUF(adagrad)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi)
{
    FL_T *restrict p = (FL_T *)it->p + lo;
    const FL_T *restrict g = (const FL_T *)it->g + lo;
    FL_T *restrict s = FL_ARR(0);
    const ptrdiff_t n = hi - lo;
    const int maximize = (h->flags & FL_F_MAXIMIZE) != 0, l2 = (h->flags & FL_F_L2) != 0;
    const FL_T wd = (FL_T)h->c[0], eps = (FL_T)h->c[1], nclr = (FL_T)h->c[2];
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        FL_T gi = maximize ? -g[i] : g[i], si;
        gi = l2 ? gi + wd * p[i] : gi;
        si = s[i] + gi * gi;
        s[i] = si;
        p[i] = p[i] + (nclr * gi) / (FL_SQRT(si) + eps);
    }
}

/* Lion (Chen et al. 2023). c = {1 - lr*wd, beta1, 1 - beta1, -lr, beta2, 1 - beta2};
 * flags DECAY; s = m.
 *   p = p*(1 - lr*wd);  p = p + (-lr)*sign(m*beta1 + (1 - beta1)*g)
 *   m = m*beta2 + (1 - beta2)*g
 * sign is numpy's: +0 for either zero, NaN for NaN. */
static void FL_SUF(lion)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi)
{
    FL_T *restrict p = (FL_T *)it->p + lo;
    const FL_T *restrict g = (const FL_T *)it->g + lo;
    FL_T *restrict m = FL_ARR(0);
    const ptrdiff_t n = hi - lo;
    const int decay_on = (h->flags & FL_F_DECAY) != 0;
    const FL_T decay = (FL_T)h->c[0], b1 = (FL_T)h->c[1], c1 = (FL_T)h->c[2];
    const FL_T nlr = (FL_T)h->c[3], b2 = (FL_T)h->c[4], c2 = (FL_T)h->c[5];
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        FL_T pi = p[i], gi = g[i], mi = m[i], ci, u;
        pi = decay_on ? pi * decay : pi;
        ci = mi * b1 + c1 * gi;
        u = ci > 0 ? (FL_T)1 : (ci < 0 ? (FL_T)-1 : (ci == ci ? (FL_T)0 : ci));
        p[i] = pi + nlr * u;
        m[i] = mi * b2 + c2 * gi;
    }
}

/* Schedule-free SGD (Defazio et al. 2024). c = {wd, c_{t+1}, lr*(momentum*(1 - c) - 1),
 * -lr}; flags L2, FIRST; s = z. p holds y.
 *   z = y (first);  g = g + wd*y;  y = lerp(y, z, c);  y = y + coef*g;  z = z + (-lr)*g */
static void FL_SUF(sfsgd)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi)
{
    FL_T *restrict y = (FL_T *)it->p + lo;
    const FL_T *restrict g = (const FL_T *)it->g + lo;
    FL_T *restrict z = FL_ARR(0);
    const ptrdiff_t n = hi - lo;
    const int l2 = (h->flags & FL_F_L2) != 0, first = (h->flags & FL_F_FIRST) != 0;
    const FL_T wd = (FL_T)h->c[0], ck = (FL_T)h->c[1], coef = (FL_T)h->c[2];
    const FL_T nlr = (FL_T)h->c[3], omck = (FL_T)1 - ck;
    const int smallc = (ck < 0 ? -ck : ck) < (FL_T)0.5;
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        FL_T yi = y[i], zi = first ? yi : z[i], gi = g[i];
        gi = l2 ? gi + wd * yi : gi;
        yi = FL_SUF(lerp1)(yi, zi, ck, omck, smallc);
        y[i] = yi + coef * gi;
        z[i] = zi + nlr * gi;
    }
}

/* Schedule-free AdamW. c = {beta2, 1 - beta2, eps, wd, c_{t+1},
 * lr_t*(beta1*(1 - c) - 1), -lr_t, bc2}; flags L2, FIRST; s = z, v. p holds y.
 * bc2 = 1 - beta2**t (schedulefree >= 1.3), or 1 for the paper form (v/1 is exact).
 *   z = y (first);  v = v*beta2;  v = v + ((1 - beta2)*g)*g;  u = g/(sqrt(v/bc2) + eps)
 *   u = u + wd*y;  y = lerp(y, z, c);  y = y + coef*u;  z = z + (-lr_t)*u */
static void FL_SUF(sfadamw)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi)
{
    FL_T *restrict y = (FL_T *)it->p + lo;
    const FL_T *restrict g = (const FL_T *)it->g + lo;
    FL_T *restrict z = FL_ARR(0), *restrict v = FL_ARR(1);
    const ptrdiff_t n = hi - lo;
    const int l2 = (h->flags & FL_F_L2) != 0, first = (h->flags & FL_F_FIRST) != 0;
    const FL_T b2 = (FL_T)h->c[0], c2 = (FL_T)h->c[1], eps = (FL_T)h->c[2];
    const FL_T wd = (FL_T)h->c[3], ck = (FL_T)h->c[4], coef = (FL_T)h->c[5];
    const FL_T nlr = (FL_T)h->c[6], bc2 = (FL_T)h->c[7], omck = (FL_T)1 - ck;
    const int smallc = (ck < 0 ? -ck : ck) < (FL_T)0.5;
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        FL_T yi = y[i], zi = first ? yi : z[i], gi = g[i], vi, u;
        vi = v[i] * b2;
        vi = vi + (c2 * gi) * gi;
        v[i] = vi;
        u = gi / (FL_SQRT(vi / bc2) + eps);
        u = l2 ? u + wd * yi : u;
        yi = FL_SUF(lerp1)(yi, zi, ck, omck, smallc);
        y[i] = yi + coef * u;
        z[i] = zi + nlr * u;
    }
}

/* p = lerp(p, s[0], w); c = {w}. Moves schedule-free params between y and x. */
static void FL_SUF(lerp)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi)
{
    FL_T *restrict a = (FL_T *)it->p + lo;
    const FL_T *restrict b = FL_ARR(0);
    const ptrdiff_t n = hi - lo;
    const FL_T w = (FL_T)h->c[0], omw = (FL_T)1 - w;
    const int small = (w < 0 ? -w : w) < (FL_T)0.5;
    ptrdiff_t i;
    for (i = 0; i < n; i++)
        a[i] = FL_SUF(lerp1)(a[i], b[i], w, omw, small);
}

/* ---- the rest of torch.optim's elementwise family ------------------------------------ */

/* weight decay in one coefficient: p = p*(1 - lr*wd) (DECAY) or g = g + wd*p (L2) */
#define FL_WD(pi, gi, wdc, decay_on, l2)            \
    do {                                            \
        (pi) = (decay_on) ? (pi) * (wdc) : (pi);    \
        (gi) = (l2) ? (gi) + (wdc) * (pi) : (gi);   \
    } while (0)

/* NAdam. c = {1 - lr*wd | wd, 1 - beta1, beta2, 1 - beta2, 1 - beta2^t, eps,
 * -lr*(1 - mu_t)/(1 - P_t), -lr*mu_{t+1}/(1 - P_t*mu_{t+1})}; flags MAXIMIZE, DECAY, L2;
 * s = m, v.
 *   g = -g;  decay or L2;  m = lerp(m, g, 1 - beta1);  v = v*beta2 + ((1 - beta2)*g)*g
 *   d = sqrt(v / bc2) + eps;  p = p + (cg*g)/d;  p = p + (cm*m)/d */
static void FL_SUF(nadam)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi)
{
    FL_T *restrict p = (FL_T *)it->p + lo;
    const FL_T *restrict g = (const FL_T *)it->g + lo;
    FL_T *restrict m = FL_ARR(0), *restrict v = FL_ARR(1);
    const ptrdiff_t n = hi - lo;
    const int maximize = (h->flags & FL_F_MAXIMIZE) != 0, l2 = (h->flags & FL_F_L2) != 0;
    const int decay_on = (h->flags & FL_F_DECAY) != 0;
    const FL_T wdc = (FL_T)h->c[0], w1 = (FL_T)h->c[1], b2 = (FL_T)h->c[2];
    const FL_T c2 = (FL_T)h->c[3], bc2 = (FL_T)h->c[4], eps = (FL_T)h->c[5];
    const FL_T cg = (FL_T)h->c[6], cm = (FL_T)h->c[7];
    const FL_T omw1 = (FL_T)1 - w1;
    const int small1 = (w1 < 0 ? -w1 : w1) < (FL_T)0.5;
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        FL_T gi = maximize ? -g[i] : g[i], pi = p[i], mi, vi, den;
        FL_WD(pi, gi, wdc, decay_on, l2);
        mi = FL_SUF(lerp1)(m[i], gi, w1, omw1, small1);
        vi = v[i] * b2;
        vi = vi + (c2 * gi) * gi;
        m[i] = mi;
        v[i] = vi;
        den = FL_SQRT(vi / bc2) + eps;
        pi = pi + (cg * gi) / den;
        p[i] = pi + (cm * mi) / den;
    }
}

/* RAdam. c = {1 - lr*wd | wd, 1 - beta1, beta2, 1 - beta2, 1 - beta1^t, lr,
 * sqrt(1 - beta2^t), eps, rect}; flags MAXIMIZE, DECAY, L2, RECTIFY; s = m, v.
 *   g = -g;  decay or L2;  m = lerp(m, g, 1 - beta1);  v = v*beta2 + ((1 - beta2)*g)*g
 *   u = (m / bc1)*lr;  rectified: u = (u*((1/(sqrt(v) + eps))*sqrt(bc2)))*rect;  p = p - u */
static void FL_SUF(radam)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi)
{
    FL_T *restrict p = (FL_T *)it->p + lo;
    const FL_T *restrict g = (const FL_T *)it->g + lo;
    FL_T *restrict m = FL_ARR(0), *restrict v = FL_ARR(1);
    const ptrdiff_t n = hi - lo;
    const int maximize = (h->flags & FL_F_MAXIMIZE) != 0, l2 = (h->flags & FL_F_L2) != 0;
    const int decay_on = (h->flags & FL_F_DECAY) != 0, rectify = (h->flags & FL_F_RECTIFY) != 0;
    const FL_T wdc = (FL_T)h->c[0], w1 = (FL_T)h->c[1], b2 = (FL_T)h->c[2];
    const FL_T c2 = (FL_T)h->c[3], bc1 = (FL_T)h->c[4], lr = (FL_T)h->c[5];
    const FL_T bc2s = (FL_T)h->c[6], eps = (FL_T)h->c[7], rect = (FL_T)h->c[8];
    const FL_T omw1 = (FL_T)1 - w1;
    const int small1 = (w1 < 0 ? -w1 : w1) < (FL_T)0.5;
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        FL_T gi = maximize ? -g[i] : g[i], pi = p[i], mi, vi, u, r;
        FL_WD(pi, gi, wdc, decay_on, l2);
        mi = FL_SUF(lerp1)(m[i], gi, w1, omw1, small1);
        vi = v[i] * b2;
        vi = vi + (c2 * gi) * gi;
        m[i] = mi;
        v[i] = vi;
        u = (mi / bc1) * lr;
        r = ((FL_T)1 / (FL_SQRT(vi) + eps)) * bc2s;
        u = rectify ? (u * r) * rect : u;
        p[i] = pi - u;
    }
}

/* Adamax. c = {wd, 1 - beta1, beta2, eps, -lr/(1 - beta1^t)}; flags MAXIMIZE, L2;
 * s = m, u.
 *   g = -g;  g = g + wd*p;  m = lerp(m, g, 1 - beta1);  u = max(u*beta2, |g| + eps)
 *   (np.maximum: NaN-propagating);  p = p + (nclr*m)/u */
static void FL_SUF(adamax)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi)
{
    FL_T *restrict p = (FL_T *)it->p + lo;
    const FL_T *restrict g = (const FL_T *)it->g + lo;
    FL_T *restrict m = FL_ARR(0), *restrict u = FL_ARR(1);
    const ptrdiff_t n = hi - lo;
    const int maximize = (h->flags & FL_F_MAXIMIZE) != 0, l2 = (h->flags & FL_F_L2) != 0;
    const FL_T wd = (FL_T)h->c[0], w1 = (FL_T)h->c[1], b2 = (FL_T)h->c[2];
    const FL_T eps = (FL_T)h->c[3], nclr = (FL_T)h->c[4];
    const FL_T omw1 = (FL_T)1 - w1;
    const int small1 = (w1 < 0 ? -w1 : w1) < (FL_T)0.5;
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        FL_T gi = maximize ? -g[i] : g[i], mi, ui, ai;
        gi = l2 ? gi + wd * p[i] : gi;
        mi = FL_SUF(lerp1)(m[i], gi, w1, omw1, small1);
        ui = u[i] * b2;
        ai = (gi < 0 ? -gi : gi) + eps;
        ui = (ui > ai || ui != ui) ? ui : ai;
        m[i] = mi;
        u[i] = ui;
        p[i] = p[i] + (nclr * mi) / ui;
    }
}

/* Adadelta. c = {wd, rho, 1 - rho, eps, -lr}; flags MAXIMIZE, L2; s = square_avg, acc_delta.
 *   g = -g;  g = g + wd*p;  s = s*rho + ((1 - rho)*g)*g
 *   delta = (sqrt(a + eps)/sqrt(s + eps))*g;  a = a*rho + ((1 - rho)*delta)*delta
 *   p = p + (-lr)*delta */
static void FL_SUF(adadelta)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi)
{
    FL_T *restrict p = (FL_T *)it->p + lo;
    const FL_T *restrict g = (const FL_T *)it->g + lo;
    FL_T *restrict sq = FL_ARR(0), *restrict acc = FL_ARR(1);
    const ptrdiff_t n = hi - lo;
    const int maximize = (h->flags & FL_F_MAXIMIZE) != 0, l2 = (h->flags & FL_F_L2) != 0;
    const FL_T wd = (FL_T)h->c[0], rho = (FL_T)h->c[1], crho = (FL_T)h->c[2];
    const FL_T eps = (FL_T)h->c[3], nlr = (FL_T)h->c[4];
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        FL_T gi = maximize ? -g[i] : g[i], si, ai, d;
        gi = l2 ? gi + wd * p[i] : gi;
        si = sq[i] * rho;
        si = si + (crho * gi) * gi;
        ai = acc[i];
        d = (FL_SQRT(ai + eps) / FL_SQRT(si + eps)) * gi;
        ai = ai * rho;
        ai = ai + (crho * d) * d;
        sq[i] = si;
        acc[i] = ai;
        p[i] = p[i] + nlr * d;
    }
}

/* ASGD. c = {wd, 1 - lambd*eta, -eta, mu}; flags MAXIMIZE, L2, AX_COPY; s = ax.
 *   g = -g;  g = g + wd*p;  p = p*(1 - lambd*eta);  p = p + (-eta)*g
 *   ax = p (AX_COPY: mu == 1) or ax = ax + (p - ax)*mu */
static void FL_SUF(asgd)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi)
{
    FL_T *restrict p = (FL_T *)it->p + lo;
    const FL_T *restrict g = (const FL_T *)it->g + lo;
    FL_T *restrict ax = FL_ARR(0);
    const ptrdiff_t n = hi - lo;
    const int maximize = (h->flags & FL_F_MAXIMIZE) != 0, l2 = (h->flags & FL_F_L2) != 0;
    const int copy = (h->flags & FL_F_AX_COPY) != 0;
    const FL_T wd = (FL_T)h->c[0], decay = (FL_T)h->c[1], neta = (FL_T)h->c[2];
    const FL_T mu = (FL_T)h->c[3];
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        FL_T gi = maximize ? -g[i] : g[i], pi = p[i], ai = ax[i];
        gi = l2 ? gi + wd * pi : gi;
        pi = pi * decay;
        pi = pi + neta * gi;
        p[i] = pi;
        ax[i] = copy ? pi : ai + (pi - ai) * mu;
    }
}

/* Rprop. c = {etaminus, etaplus, step_size_min, step_size_max}; flags MAXIMIZE;
 * s = prev, step_size.
 *   g = -g;  s = sign(g*prev);  f = etaplus (s > 0), etaminus (s < 0), 1 (s == 0), NaN
 *   step_size = min if below, max if above (NaN stays);  g = 0 where s < 0
 *   p = p - sign(g)*step_size (numpy's sign: +0 for either zero, NaN for NaN);  prev = g
 * Written as plain selects on the product (its sign is the sign's), so the loop has no
 * control flow and vectorises. */
static void FL_SUF(rprop)(const fl_hyper *h, const fl_item *it, ptrdiff_t lo, ptrdiff_t hi)
{
    FL_T *restrict p = (FL_T *)it->p + lo;
    const FL_T *restrict g = (const FL_T *)it->g + lo;
    FL_T *restrict prev = FL_ARR(0), *restrict size = FL_ARR(1);
    const ptrdiff_t n = hi - lo;
    const int maximize = (h->flags & FL_F_MAXIMIZE) != 0;
    const FL_T em = (FL_T)h->c[0], ep = (FL_T)h->c[1];
    const FL_T smin = (FL_T)h->c[2], smax = (FL_T)h->c[3];
    const FL_T one = (FL_T)1, zero = (FL_T)0;
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        FL_T gi = maximize ? -g[i] : g[i], pr, f, z, sg;
        pr = gi * prev[i];
        f = pr > 0 ? ep : one;
        f = pr < 0 ? em : f;
        f = pr != pr ? pr : f;
        z = size[i] * f;
        z = z < smin ? smin : z;          /* a NaN fails both tests and stays */
        z = z > smax ? smax : z;
        size[i] = z;
        gi = pr < 0 ? zero : gi;
        sg = gi > 0 ? one : zero;
        sg = gi < 0 ? -one : sg;
        sg = gi != gi ? gi : sg;
        p[i] = p[i] - sg * z;
        prev[i] = gi;
    }
}

#undef FL_WD

static const fl_kernel FL_SUF(table)[FL_K_NKINDS] = {
    FL_SUF(sgd), FL_SUF(adam), FL_SUF(rmsprop), FL_SUF(adagrad), FL_SUF(lion),
    FL_SUF(sfsgd), FL_SUF(sfadamw), FL_SUF(lerp),
    FL_SUF(nadam), FL_SUF(radam), FL_SUF(adamax), FL_SUF(adadelta), FL_SUF(asgd),
    FL_SUF(rprop)
};

#undef FL_ARR
