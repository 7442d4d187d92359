/* Top-k Hessian eigenpairs by power iteration with deflation, and Hutchinson's
 * trace estimator, on any Hessian-vector product operator. Random vectors come
 * from the counter-based generator, so every rank draws the same ones. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "upset/rng.h"
#include "upset/sensitivity.h"

/* rng streams: one per eigenpair start vector, one per Rademacher vector */
#define STREAM_EIGEN 0x45494745ull /* "EIGE" */
#define STREAM_TRACE 0x54524143ull /* "TRAC" */

static double vdot(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Removes from v its components along the first k rows of vecs (modified
 * Gram-Schmidt, applied twice so the result is orthogonal to working precision). */
static void orthogonalize(double *v, const double *vecs, int k, int64_t n)
{
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < k; j++) {
            const double *e = vecs + (int64_t)j * n;
            double c = vdot(v, e, n);
            for (int64_t i = 0; i < n; i++)
                v[i] -= c * e[i];
        }
}

/* v /= ||v||; returns the norm (v unchanged when it is 0). */
static double normalize(double *v, int64_t n)
{
    double s = sqrt(vdot(v, v, n));
    if (s > 0)
        for (int64_t i = 0; i < n; i++)
            v[i] /= s;
    return s;
}

/* Cyclic Jacobi on a symmetric k x k matrix A (destroyed): eigenvalues on A's
 * diagonal, eigenvectors in the columns of Q. */
static void jacobi(double *A, double *Q, int k)
{
    for (int i = 0; i < k * k; i++)
        Q[i] = i % (k + 1) == 0;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int p = 0; p < k; p++) {
            diag += A[p * k + p] * A[p * k + p];
            for (int q = p + 1; q < k; q++)
                off += A[p * k + q] * A[p * k + q];
        }
        if (off <= 1e-32 * diag)
            return;
        for (int p = 0; p < k; p++)
            for (int q = p + 1; q < k; q++) {
                double apq = A[p * k + q];
                if (apq == 0)
                    continue;
                double th = (A[q * k + q] - A[p * k + p]) / (2 * apq);
                double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int i = 0; i < k; i++) {
                    double aip = A[i * k + p], aiq = A[i * k + q];
                    A[i * k + p] = c * aip - s * aiq;
                    A[i * k + q] = s * aip + c * aiq;
                }
                for (int i = 0; i < k; i++) {
                    double api = A[p * k + i], aqi = A[q * k + i];
                    A[p * k + i] = c * api - s * aqi;
                    A[q * k + i] = s * api + c * aqi;
                }
                for (int i = 0; i < k; i++) {
                    double qip = Q[i * k + p], qiq = Q[i * k + q];
                    Q[i * k + p] = c * qip - s * qiq;
                    Q[i * k + q] = s * qip + c * qiq;
                }
            }
    }
}

/* Rayleigh-Ritz on the span of the k vectors (rows of V, with HV = H V): rotates
 * both to the Ritz vectors, sorted by |lambda| descending. The pairs found one by
 * one each carry a trace of the earlier pairs' errors; this resolves the mixing
 * inside the span, leaving only what lies outside it. */
static int rayleigh_ritz(double *V, double *HV, int k, int64_t n, double *lambda,
                         upset_err_t *err)
{
    double *T = upset_calloc((size_t)k * k, sizeof *T, err);
    double *Q = upset_calloc((size_t)k * k, sizeof *Q, err);
    double *row = upset_calloc((size_t)k, sizeof *row, err);
    double *hrow = upset_calloc((size_t)k, sizeof *hrow, err);
    int *ord = upset_calloc((size_t)k, sizeof *ord, err);
    int rc = T && Q && row && hrow && ord ? 0 : -1;
    if (!rc) {
        for (int i = 0; i < k; i++)
            for (int j = 0; j <= i; j++) {
                double t = 0.5 * (vdot(V + (int64_t)i * n, HV + (int64_t)j * n, n) +
                                  vdot(V + (int64_t)j * n, HV + (int64_t)i * n, n));
                T[i * k + j] = T[j * k + i] = t;
            }
        jacobi(T, Q, k);
        for (int i = 0; i < k; i++)
            ord[i] = i;
        for (int i = 1; i < k; i++) /* insertion sort by |lambda| descending, stable */
            for (int j = i; j > 0 && fabs(T[ord[j] * (k + 1)]) > fabs(T[ord[j - 1] * (k + 1)]);
                 j--) {
                int t = ord[j];
                ord[j] = ord[j - 1];
                ord[j - 1] = t;
            }
        for (int64_t e = 0; e < n; e++) { /* V <- Q^T V, column by column */
            for (int i = 0; i < k; i++) {
                row[i] = V[(int64_t)i * n + e];
                hrow[i] = HV[(int64_t)i * n + e];
            }
            for (int m = 0; m < k; m++) {
                double a = 0, b = 0;
                for (int i = 0; i < k; i++) {
                    a += Q[i * k + ord[m]] * row[i];
                    b += Q[i * k + ord[m]] * hrow[i];
                }
                V[(int64_t)m * n + e] = a;
                HV[(int64_t)m * n + e] = b;
            }
        }
        for (int m = 0; m < k; m++)
            lambda[m] = T[ord[m] * (k + 1)];
    }
    free(T);
    free(Q);
    free(row);
    free(hrow);
    free(ord);
    return rc;
}

int sens_eigen(sens_hvp_fn hvp, void *ctx, int64_t n, int k, const sens_eigen_opts_t *o,
               double *lambda, double *vecs, double *resid, int64_t *iters, upset_err_t *err)
{
    if (k < 1 || k > n)
        return upset_fail(err, "eigen_k = %d must lie in [1, %lld] (the number of parameters)",
                          k, (long long)n);
    if (o->max_iter < 1 || !(o->tol > 0))
        return upset_fail(err, "eigen: max_iter must be >= 1 and tol > 0");
    double *v = upset_calloc((size_t)n, sizeof *v, err);
    double *w = upset_calloc((size_t)n, sizeof *w, err);
    double *hvs = upset_calloc((size_t)k * (size_t)n, sizeof *hvs, err);
    int rc = v && w && hvs ? 0 : -1;
    for (int j = 0; !rc && j < k; j++) {
        double *hv = hvs + (int64_t)j * n;
        rng_t r = rng_make(o->seed, STREAM_EIGEN + (uint64_t)j);
        for (int64_t i = 0; i < n; i++)
            v[i] = 2.0 * rng_uniform(&r) - 1.0;
        orthogonalize(v, vecs, j, n);
        normalize(v, n);
        double lam = 0, res = INFINITY;
        int64_t it;
        for (it = 1;; it++) {
            if ((rc = hvp(ctx, v, hv, err)) != 0)
                break;
            lam = vdot(v, hv, n);
            /* residual of the deflated operator: H v less its parts along the pairs
             * found (their own errors are not this pair's to fix) */
            double r2 = 0;
            for (int64_t i = 0; i < n; i++)
                r2 += (hv[i] - lam * v[i]) * (hv[i] - lam * v[i]);
            for (int q = 0; q < j; q++) {
                double c = vdot(vecs + (int64_t)q * n, hv, n);
                r2 -= c * c;
            }
            r2 = r2 > 0 ? r2 : 0;
            res = r2 == 0 ? 0 : lam != 0 ? sqrt(r2) / fabs(lam) : INFINITY;
            if (o->progress)
                o->progress(o->progress_ctx, "eigen", j, it, lam, res);
            if (res <= o->tol || it >= o->max_iter)
                break;
            /* the next iterate: H v, deflated (kept orthogonal to the pairs found) */
            memcpy(w, hv, (size_t)n * sizeof *w);
            orthogonalize(w, vecs, j, n);
            if (normalize(w, n) == 0) /* H v lies in the span found: keep (v, H v) */
                break;
            memcpy(v, w, (size_t)n * sizeof *v);
        }
        iters[j] = it;
        memcpy(vecs + (int64_t)j * n, v, (size_t)n * sizeof *v);
    }
    if (!rc)
        rc = rayleigh_ritz(vecs, hvs, k, n, lambda, err);
    for (int j = 0; !rc && j < k; j++) { /* residuals of the final pairs against H itself */
        const double *x = vecs + (int64_t)j * n, *hx = hvs + (int64_t)j * n;
        double r2 = 0;
        for (int64_t i = 0; i < n; i++)
            r2 += (hx[i] - lambda[j] * x[i]) * (hx[i] - lambda[j] * x[i]);
        resid[j] = r2 == 0 ? 0 : lambda[j] != 0 ? sqrt(r2) / fabs(lambda[j]) : INFINITY;
    }
    free(v);
    free(w);
    free(hvs);
    return rc;
}

int sens_hutchinson(sens_hvp_fn hvp, void *ctx, int64_t n, int n_blocks, const int64_t *off,
                    const sens_trace_opts_t *o, double *block_trace, double *total,
                    int64_t *iters, upset_err_t *err)
{
    if (o->max_iter < 1 || !(o->tol > 0))
        return upset_fail(err, "trace: max_iter must be >= 1 and tol > 0");
    double *v = upset_calloc((size_t)n, sizeof *v, err);
    double *hv = upset_calloc((size_t)n, sizeof *hv, err);
    double *sum = upset_calloc((size_t)n_blocks, sizeof *sum, err);
    int rc = v && hv && sum ? 0 : -1;
    double prev = 0;
    int64_t m = 0;
    while (!rc && m < o->max_iter) {
        m++;
        rng_t r = rng_make(o->seed, STREAM_TRACE + (uint64_t)m);
        for (int64_t i = 0; i < n; i++)
            v[i] = (rng_next(&r) >> 63) ? 1.0 : -1.0;
        if ((rc = hvp(ctx, v, hv, err)) != 0)
            break;
        double mean = 0;
        for (int b = 0; b < n_blocks; b++) {
            int64_t len = off[b + 1] - off[b];
            sum[b] += vdot(v + off[b], hv + off[b], len);
            mean += sum[b];
        }
        mean /= (double)m;
        double change = m > 1 ? fabs(mean - prev) / fabs(prev) : INFINITY;
        if (o->progress)
            o->progress(o->progress_ctx, "trace", 0, m, mean, change);
        if (m > 1 && fabs(mean - prev) < o->tol * fabs(prev))
            break;
        prev = mean;
    }
    if (!rc) {
        *total = 0;
        for (int b = 0; b < n_blocks; b++) {
            block_trace[b] = sum[b] / (double)m;
            *total += block_trace[b];
        }
        *iters = m;
    }
    free(v);
    free(hv);
    free(sum);
    return rc;
}
