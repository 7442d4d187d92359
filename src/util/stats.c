/* Normal quantile, Leveugle sample size, Wilson interval (include/upset/stats.h).
 *
 * The quantile starts from Acklam's rational approximation (relative error about
 * 1e-9) and takes one Halley step on Phi(x) - p, with Phi from libm's erfc, which
 * brings it to the last few bits of a double. Only the lower half is computed
 * directly: for p > 0.5, 1 - p is exact (Sterbenz) and x(p) = -x(1 - p), so the
 * upper tail keeps full relative precision too. */
#include "upset/stats.h"

#include <math.h>

/* Acklam's coefficients: central region numerator (a) and denominator (b),
 * tail region numerator (c) and denominator (d). */
static const double qa[6] = {-3.969683028665376e+01, 2.209460984245205e+02,
                             -2.759285104469687e+02, 1.383577518672690e+02,
                             -3.066479806614716e+01, 2.506628277459239e+00};
static const double qb[5] = {-5.447609879822406e+01, 1.615858368580409e+02,
                             -1.556989798598866e+02, 6.680131188771972e+01,
                             -1.328068155288572e+01};
static const double qc[6] = {-7.784894002430293e-03, -3.223964580411365e-01,
                             -2.400758277161838e+00, -2.549732539343734e+00,
                             4.374664141464968e+00, 2.938163982698783e+00};
static const double qd[4] = {7.784695709041462e-03, 3.224671290700398e-01,
                             2.445134137142996e+00, 3.754408661907416e+00};

#define P_LOW 0.02425 /* below it the tail formula applies */
#define SQRT_2PI 2.50662827463100050242
#define SQRT2 1.41421356237309504880

/* Acklam's first guess for p in (0, 0.5]. */
static double acklam_lower(double p)
{
    if (p < P_LOW) {
        double q = sqrt(-2.0 * log(p));
        return (((((qc[0] * q + qc[1]) * q + qc[2]) * q + qc[3]) * q + qc[4]) * q + qc[5]) /
               ((((qd[0] * q + qd[1]) * q + qd[2]) * q + qd[3]) * q + 1.0);
    }
    double q = p - 0.5, r = q * q;
    return (((((qa[0] * r + qa[1]) * r + qa[2]) * r + qa[3]) * r + qa[4]) * r + qa[5]) * q /
           (((((qb[0] * r + qb[1]) * r + qb[2]) * r + qb[3]) * r + qb[4]) * r + 1.0);
}

double normal_quantile(double p)
{
    if (isnan(p) || p < 0.0 || p > 1.0)
        return NAN;
    if (p == 0.0)
        return -INFINITY;
    if (p == 1.0)
        return INFINITY;
    if (p > 0.5)
        return -normal_quantile(1.0 - p);
    double x = acklam_lower(p);
    /* Halley step: f(x) = Phi(x) - p, f' = phi(x), f'' = -x phi(x). */
    double e = 0.5 * erfc(-x / SQRT2) - p;
    double u = e * SQRT_2PI * exp(0.5 * x * x);
    if (isfinite(u))
        x -= u / (1.0 + 0.5 * x * u);
    return x;
}

double normal_critical(double confidence)
{
    if (!(confidence > 0.0 && confidence < 1.0))
        return NAN;
    return -normal_quantile(0.5 * (1.0 - confidence));
}

double leveugle_sample_size(double N, double confidence, double margin, double p)
{
    if (!(N >= 1.0) || !(margin > 0.0) || !(p > 0.0 && p < 1.0))
        return NAN;
    double t = normal_critical(confidence);
    if (isnan(t))
        return NAN;
    return N / (1.0 + margin * margin * (N - 1.0) / (t * t * p * (1.0 - p)));
}

int64_t leveugle_sample_count(int64_t N, double confidence, double margin, double p)
{
    double n = leveugle_sample_size((double)N, confidence, margin, p);
    if (isnan(n))
        return -1;
    /* A formula value like 9604.0000000001 is 9604 up to rounding. */
    double up = ceil(n - 1e-9 * n);
    if (up < 1.0)
        up = 1.0;
    return up > (double)N ? N : (int64_t)up;
}

int wilson_interval(int64_t successes, int64_t n, double confidence, double *lo, double *hi)
{
    double z = normal_critical(confidence);
    if (n < 0 || successes < 0 || successes > n || isnan(z)) {
        *lo = *hi = NAN;
        return -1;
    }
    if (n == 0) {
        *lo = 0.0;
        *hi = 1.0;
        return 0;
    }
    double nn = (double)n, ph = (double)successes / nn, z2 = z * z;
    double denom = 1.0 + z2 / nn;
    double center = (ph + z2 / (2.0 * nn)) / denom;
    double half = z / denom * sqrt(ph * (1.0 - ph) / nn + z2 / (4.0 * nn * nn));
    *lo = successes == 0 ? 0.0 : fmax(0.0, center - half);
    *hi = successes == n ? 1.0 : fmin(1.0, center + half);
    return 0;
}
