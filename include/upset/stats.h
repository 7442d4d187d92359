/* Statistics for statistical fault injection: the normal quantile, Leveugle et
 * al.'s sample size (DATE 2009) and the Wilson score interval for a proportion
 * estimated from a sample of injections. */
#ifndef UPSET_STATS_H
#define UPSET_STATS_H

#include <stdint.h>

/* Inverse of the standard normal CDF: the x with Phi(x) = p, for p in (0, 1);
 * -inf at 0, +inf at 1, NaN outside [0, 1]. Relative error near 1e-15. */
double normal_quantile(double p);

/* The two-sided critical value t for a confidence level in (0, 1):
 * P(|Z| <= t) = confidence, e.g. 1.959963984540054 for 0.95; NaN outside. */
double normal_critical(double confidence);

/* Leveugle's sample size for a population of N faults:
 *   n = N / (1 + e^2 (N - 1) / (t^2 p (1 - p)))
 * with e the error margin, t = normal_critical(confidence) and p the estimated
 * proportion of faults that cause a failure (0.5 is the worst case). Unrounded;
 * NaN when N < 1, confidence or p not in (0, 1) or margin <= 0. */
double leveugle_sample_size(double N, double confidence, double margin, double p);

/* The same rounded up to a whole number of injections (at most N); -1 on bad input. */
int64_t leveugle_sample_count(int64_t N, double confidence, double margin, double p);

/* Wilson score interval for `successes` out of n at the given two-sided
 * confidence. n == 0 gives [0, 1]. Returns 0, or -1 (lo = hi = NaN) when
 * successes is outside [0, n] or confidence is not in (0, 1). */
int wilson_interval(int64_t successes, int64_t n, double confidence, double *lo, double *hi);

#endif
