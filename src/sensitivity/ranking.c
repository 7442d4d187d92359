/* Per-parameter scores and the bit rankings built from them. */
#include <math.h>
#include <stdlib.h>

#include "upset/bitspace.h"
#include "upset/rng.h"
#include "upset/sensitivity.h"

#define STREAM_RANDOM 0x52414e44ull /* "RAND" */

void sens_score_gradient(const double *g, int64_t n, double *score)
{
    for (int64_t i = 0; i < n; i++)
        score[i] = fabs(g[i]);
}

void sens_score_hessian(rank_score_t form, int k, const double *lambda, const double *vecs,
                        const double *theta, int64_t n, double *score)
{
    for (int64_t i = 0; i < n; i++)
        score[i] = 0;
    for (int j = 0; j < k; j++) {
        const double *v = vecs + (int64_t)j * n;
        double vt = 0;
        for (int64_t i = 0; i < n; i++)
            vt += v[i] * theta[i];
        /* FKeras: |(lambda v . theta) * lambda v_i|; paper: lambda (v . theta) v_i, summed */
        double c = form == RANK_SCORE_FKERAS ? lambda[j] * lambda[j] * fabs(vt) : lambda[j] * vt;
        for (int64_t i = 0; i < n; i++)
            score[i] += form == RANK_SCORE_FKERAS ? c * fabs(v[i]) : c * v[i];
    }
    if (form == RANK_SCORE_PAPER)
        for (int64_t i = 0; i < n; i++)
            score[i] = fabs(score[i]);
}

typedef struct {
    double score;
    int64_t index;
} scored_t;

/* descending score, NaN last, ties by ascending index */
static int cmp_scored(const void *pa, const void *pb)
{
    const scored_t *a = pa, *b = pb;
    int na = isnan(a->score), nb = isnan(b->score);
    if (na != nb)
        return na - nb;
    if (!na && a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

int sens_order_params(const double *score, int64_t n, int64_t *order, upset_err_t *err)
{
    scored_t *s = upset_calloc((size_t)n, sizeof *s, err);
    if (!s)
        return -1;
    for (int64_t i = 0; i < n; i++)
        s[i] = (scored_t){score[i], i};
    qsort(s, (size_t)n, sizeof *s, cmp_scored);
    for (int64_t i = 0; i < n; i++)
        order[i] = s[i].index;
    free(s);
    return 0;
}

int sens_bit_ranking(const model_t *m, const double *score, int64_t n_params, int64_t *bits,
                     upset_err_t *err)
{
    /* each parameter's first bit and width, in theta order */
    int64_t *first = upset_calloc((size_t)n_params + 1, sizeof *first, err);
    int *width = upset_calloc((size_t)n_params + 1, sizeof *width, err);
    int64_t *order = upset_calloc((size_t)n_params + 1, sizeof *order, err);
    int rc = first && width && order ? 0 : -1;
    int64_t p = 0, total = 0;
    int maxw = 0;
    for (int l = 0; !rc && l < m->n_layers; l++) {
        const layer_t *L = &m->layers[l];
        if (!L->faultable)
            continue;
        /* the kernel's codes, then (a fault space with biases) the bias codes */
        const int w = L->kq.bits, wb = L->n_bias_bits ? L->bq.bits : 0;
        const int64_t nb = bitspace_bias_codes(L);
        if (L->n_weights * w + nb * wb != L->n_bits || p + L->n_weights + nb > n_params) {
            rc = upset_fail(err, "layer %s: %lld weights x %d bits and %lld biases x %d bits do "
                                 "not match its %lld bits or the %lld parameters",
                            L->name, (long long)L->n_weights, w, (long long)nb, wb,
                            (long long)L->n_bits, (long long)n_params);
            break;
        }
        for (int64_t i = 0; i < L->n_weights; i++, p++) {
            first[p] = L->bit_first + i * w;
            width[p] = w;
        }
        for (int64_t c = 0; c < nb; c++, p++) {
            first[p] = L->bit_first + L->n_weights * w + c * wb;
            width[p] = wb;
        }
        total += L->n_bits;
        maxw = w > maxw ? w : maxw;
        maxw = wb > maxw ? wb : maxw;
    }
    if (!rc && (p != n_params || total != m->n_fault_bits))
        rc = upset_fail(err, "%lld scores for %lld faultable weights (%lld of %lld bits)",
                        (long long)n_params, (long long)p, (long long)total,
                        (long long)m->n_fault_bits);
    if (!rc)
        rc = sens_order_params(score, n_params, order, err);
    int64_t k = 0;
    for (int pos = 0; !rc && pos < maxw; pos++)
        for (int64_t j = 0; j < n_params; j++) {
            int64_t q = order[j];
            if (pos < width[q])
                bits[k++] = first[q] + pos;
        }
    free(first);
    free(width);
    free(order);
    return rc;
}

int sens_random_ranking(const model_t *m, uint64_t seed, int64_t *bits, upset_err_t *err)
{
    (void)err;
    const int64_t n = m->n_fault_bits;
    for (int64_t i = 0; i < n; i++)
        bits[i] = i;
    rng_t r = rng_make(seed, STREAM_RANDOM);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(&r, (uint64_t)i + 1);
        int64_t t = bits[i];
        bits[i] = bits[j];
        bits[j] = t;
    }
    return 0;
}
