/* Means over samples of the loss, its gradient and Hessian-vector products, summed
 * chunk by chunk in a fixed order so that a split over any number of ranks gives
 * the same bits (the MPI reduction in src/cli_rank.c gathers chunk rows and adds
 * them with sens_combine, as the serial path below does). */
#include <stdlib.h>
#include <string.h>

#include "upset/sensitivity.h"

int64_t sens_chunk_count(int64_t n) { return n < SENS_MAX_CHUNKS ? n : SENS_MAX_CHUNKS; }

int64_t sens_chunk_begin(int64_t n, int64_t c)
{
    int64_t k = sens_chunk_count(n);
    return k ? c * n / k : 0;
}

int64_t sens_row_len(const sens_net_t *net, unsigned want)
{
    return ((want & SENS_WANT_LOSS) ? 1 : 0) + ((want & SENS_WANT_GRAD) ? net->n_params : 0) +
           ((want & SENS_WANT_HVP) ? net->n_params : 0);
}

int sens_chunk_sums(sens_net_t *net, const dataset_t *d, int64_t n, int64_t c0, int64_t c1,
                    unsigned want, const double *v, double *rows, upset_err_t *err)
{
    if (n > d->n)
        return upset_fail(err, "%lld samples asked for, the data has %lld", (long long)n,
                          (long long)d->n);
    if (net->loss == SENS_LOSS_XENT && !d->label)
        return upset_fail(err, "cross-entropy needs labels; the data has none");
    if (net->loss == SENS_LOSS_TELESCOPE && !d->cells)
        return upset_fail(err, "the telescope loss needs input cells; the data has none");
    if ((want & SENS_WANT_HVP) && !v)
        return upset_fail(err, "a Hessian-vector product needs a vector");
    const int64_t len = sens_row_len(net, want);
    memset(rows, 0, (size_t)((c1 - c0) * len) * sizeof *rows);
    for (int64_t c = c0; c < c1; c++) {
        double *row = rows + (c - c0) * len, *p = row;
        double *loss = (want & SENS_WANT_LOSS) ? p++ : NULL;
        double *g = (want & SENS_WANT_GRAD) ? p : NULL;
        double *hv = (want & SENS_WANT_HVP) ? p + (g ? net->n_params : 0) : NULL;
        for (int64_t i = sens_chunk_begin(n, c); i < sens_chunk_begin(n, c + 1); i++) {
            const double *cells = d->cells ? d->cells + i * HGCAL_CELLS : NULL;
            int label = d->label ? d->label[i] : -1;
            upset_err_t e1 = {{0}};
            if (sens_sample(net, d->x + i * net->in_size, cells, label, v, loss, g, hv, &e1))
                return upset_fail(err, "sample %lld: %.3900s", (long long)i, e1.msg);
        }
    }
    return 0;
}

void sens_combine(const double *rows, int64_t n_chunks, int64_t row_len, int64_t n,
                  double *out)
{
    memset(out, 0, (size_t)row_len * sizeof *out);
    for (int64_t c = 0; c < n_chunks; c++)
        for (int64_t j = 0; j < row_len; j++)
            out[j] += rows[c * row_len + j];
    for (int64_t j = 0; j < row_len; j++)
        out[j] /= (double)n;
}

int sens_eval(sens_net_t *net, const dataset_t *d, int64_t n, unsigned want, const double *v,
              double *out, upset_err_t *err)
{
    if (n <= 0)
        return upset_fail(err, "no samples");
    const int64_t k = sens_chunk_count(n), len = sens_row_len(net, want);
    double *rows = upset_calloc((size_t)(k * len), sizeof *rows, err);
    if (!rows)
        return -1;
    int rc = sens_chunk_sums(net, d, n, 0, k, want, v, rows, err);
    if (!rc)
        sens_combine(rows, k, len, n, out);
    free(rows);
    return rc;
}

int sens_serial_hvp(void *ctx, const double *v, double *hv, upset_err_t *err)
{
    sens_serial_t *s = ctx;
    return sens_eval(s->net, s->data, s->n, SENS_WANT_HVP, v, hv, err);
}
