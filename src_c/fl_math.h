/* Small branch-free math helpers that gcc can vectorise.
 *
 * libm's cos() is a scalar call, so a loop over it never vectorises. Schedules only
 * need cos(pi * x) for x in [0, 1]: fold to w = min(x, 1 - x) in [0, 1/2] (exact),
 * then use the Taylor polynomial of cos(pi w) for w <= 1/4 and of sin(pi (1/2 - w))
 * (1/2 - w is exact there) above. Both truncation errors are below 5e-17; the result
 * is within a few ulp of cos(pi x) (tests/test_engine.py checks 4e-16), and exact at
 * x = 0, 1/2 and 1, so a schedule holds exactly its final value.
 */
#ifndef FL_MATH_H
#define FL_MATH_H

#include <math.h>

#if defined(__GNUC__)
#define FL_INLINE static inline __attribute__((always_inline))
#else
#define FL_INLINE static inline
#endif

/* cos(pi * x) for 0 <= x <= 1 (any finite x gives a finite, meaningless value) */
FL_INLINE double fl_cospi01(double x)
{
    int upper = x > 0.5;
    double w = upper ? 1.0 - x : x;
    double c, s, z, y;
    /* cos(pi w) = sum (-1)^k pi^(2k) w^(2k) / (2k)!, k = 0..8 */
    z = w * w;
    c = 4.303069587032947e-06;
    c = c * z - 0.0001046381049248457;
    c = c * z + 0.0019295743094039231;
    c = c * z - 0.02580689139001406;
    c = c * z + 0.2353306303588932;
    c = c * z - 1.3352627688545895;
    c = c * z + 4.0587121264167685;
    c = c * z - 4.934802200544679;
    c = c * z + 1.0;
    /* sin(pi y) = sum (-1)^k pi^(2k+1) y^(2k+1) / (2k+1)!, k = 0..7 */
    y = 0.5 - w;
    z = y * y;
    s = -2.1915353447830217e-05;
    s = s * z + 0.00046630280576761255;
    s = s * z - 0.0073704309457143504;
    s = s * z + 0.08214588661112823;
    s = s * z - 0.5992645293207921;
    s = s * z + 2.5501640398773455;
    s = s * z - 5.16771278004997;
    s = s * z + 3.141592653589793;
    s = y * s;
    c = w <= 0.25 ? c : s;
    return upper ? -c : c;
}

FL_INLINE double fl_min(double a, double b) { return a < b ? a : b; }
FL_INLINE double fl_max(double a, double b) { return a > b ? a : b; }

/* cos(pi * x) for any finite x >= 0: folded exactly into [0, 1] (fmod is exact) */
FL_INLINE double fl_cospi_any(double x)
{
    double y = fmod(x, 2.0);
    return fl_cospi01(y > 1.0 ? 2.0 - y : y);
}

/* elapsed / length, or timm's k_decay form elapsed^k / length^k */
FL_INLINE double fl_k_ratio(double elapsed, double length, double k)
{
    return k == 1.0 ? elapsed / length : pow(elapsed, k) / pow(length, k);
}

/* counter-based noise (fastlr/reference/algebra.py, noise_factor): splitmix64 of
 * (seed, step, k) gives the k-th uniform of a step; the same in Python bit for bit */
#define FL_GOLDEN 0x9E3779B97F4A7C15ULL
#define FL_NOISE_TRIES 64

FL_INLINE unsigned long long fl_mix64(unsigned long long z)
{
    z += FL_GOLDEN;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

FL_INLINE double fl_uniform(unsigned long long seed, unsigned long long step,
                            unsigned long long k)
{
    unsigned long long h = fl_mix64(fl_mix64(fl_mix64(seed) ^ step) ^ k);
    return (double)(h >> 11) * 1.1102230246251565e-16;   /* 2^-53 */
}

/* kind 1: uniform on [-pct, pct); kind 0: normal(0, sd) truncated to |n| < pct, by
 * rejection from a normal (wide window) or a uniform (narrow window), each attempt
 * accepted with probability >= 0.6 */
static inline double fl_noise(int kind, double pct, double sd, unsigned long long seed,
                              unsigned long long step)
{
    int j;
    if (kind == 1) return pct * (2.0 * fl_uniform(seed, step, 0) - 1.0);
    for (j = 0; j < FL_NOISE_TRIES; j++) {
        double u1 = fl_uniform(seed, step, 2 * (unsigned long long)j);
        double u2 = fl_uniform(seed, step, 2 * (unsigned long long)j + 1);
        double nz;
        if (pct > sd) {
            nz = sd * (sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * 3.141592653589793 * u2));
            if (fabs(nz) < pct) return nz;
        } else {
            nz = pct * (2.0 * u1 - 1.0);
            if (u2 < exp(-0.5 * (nz / sd) * (nz / sd))) return nz;
        }
    }
    return 0.0;
}

#endif
