/* `upset protect --check`: the planner's first-order prediction beside what a multibit
 * campaign measured, so a plan is judged by an independent sampled run (on held-out
 * inputs when the campaign's data differ from the oracle's).
 *
 * Prediction, from the campaign's own settings: each trial draws K distinct cells
 * uniformly from the n faultable bits (K = multibit.flips, or Poisson with mean
 * cross_section x flux x exposure x n, capped at n); a cell fails the trial when it lands
 * on an unprotected bit the oracle found sensitive (for stuck-at-v, one whose stored bit
 * is not v already). So, with s such bits,
 *   P(failure) = 1 - E_K[ prod_{i<K} (n - s - i) / (n - i) ],
 *   E[error]   = E[K] / n * (sum of the oracle errors of the unprotected bits it changes).
 * Both ignore interactions between the cells of one trial, which is what the comparison
 * shows. Measured: the share of trials whose error exceeds the fault-free one (Wilson 95 %)
 * and the mean error per trial (mean +- 1.96 standard errors). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protect_int.h"
#include "upset/bitranking.h"
#include "upset/bitspace.h"
#include "upset/campaign.h"
#include "upset/faultdraw.h"
#include "upset/fileutil.h"
#include "upset/results.h"
#include "upset/task.h"
#include "upset/stats.h"
#include "upset/fnv.h"

typedef struct {
    const char *path;
    char protection[64];
    int64_t n_protected, trials, exceeding;
    double area;
    double mean_cells, p_fail, e_error;    /* predicted */
    double m_fail, m_lo, m_hi;             /* measured share, Wilson 95 % */
    double m_error, m_error_lo, m_error_hi; /* measured mean error, normal 95 % */
    int same_inputs;
} check_row_t;

/* E over the campaign's K of prod_{i<K} (n - s - i)/(n - i), and E[K]. */
static void no_hit_probability(const campaign_t *c, int64_t n, int64_t s, double *p_none,
                               double *mean_k)
{
    const double lambda = c->multibit.cross_section * c->multibit.flux * c->multibit.exposure *
                          (double)n;
    if (!(c->multibit.cross_section > 0)) { /* a fixed number of cells */
        double q = 1;
        for (int64_t i = 0; i < c->multibit.flips && q > 0; i++)
            q *= (double)(n - s - i) / (double)(n - i);
        *p_none = q > 0 ? q : 0;
        *mean_k = (double)c->multibit.flips;
        return;
    }
    double sum = 0, ek = 0, q = 1, tail = 1; /* tail: Poisson mass not yet visited */
    for (int64_t k = 0; k <= n; k++) {
        double pmf = exp(-lambda + (double)k * log(lambda) - lgamma((double)k + 1));
        if (k == n)
            pmf = tail > 0 ? tail : 0; /* K is capped at n: the rest of the mass */
        sum += pmf * q;
        ek += pmf * (double)k;
        tail -= pmf;
        if ((double)k > lambda && pmf < 1e-18)
            break;
        q = q > 0 ? q * (double)(n - s - k) / (double)(n - k) : 0;
        if (q < 0)
            q = 0;
    }
    *p_none = sum;
    *mean_k = ek;
}

/* The mask the campaign protected, rebuilt from its stored settings. */
static int campaign_mask(const protect_oracle_t *o, const campaign_t *c, const char *path,
                         unsigned char *mask, int64_t *n_prot, upset_err_t *err)
{
    const protection_t p = c->multibit.protection;
    memset(mask, 0, (size_t)o->n);
    *n_prot = 0;
    if (p == PROTECT_LIST) {
        /* the list as it is now: refused when it changed since the campaign ran */
        if (campaign_inputs_verify(path, c, err))
            return -1;
        int64_t *bits = NULL, nb = 0;
        if (bit_ranking_read(c->multibit.protect_list, o->n, &bits, &nb, err)) {
            upset_err_append(err, "(the protect_list of %s)", path);
            return -1;
        }
        for (int64_t i = 0; i < nb; i++) {
            *n_prot += !mask[bits[i]];
            mask[bits[i]] = 1;
        }
        free(bits);
        return 0;
    }
    if (p != PROTECT_NONE && p != PROTECT_ALL) { /* chosen by an oracle: it must be this one */
        char *dck = NULL;
        int rc = results_read_attr_string(c->multibit.oracle, "data_checksum_fnv1a64", &dck, err);
        if (!rc && strcmp(dck, o->data_checksum))
            rc = upset_fail(err, "%s protected bits chosen by %s, measured on other inputs than "
                                 "%s; give that oracle with --oracle",
                            path, c->multibit.oracle, o->path);
        free(dck);
        if (rc)
            return -1;
    }
    return protection_mask(p, c->multibit.protect_percent, o->n, o->err_b, o->sens, mask, n_prot,
                           err);
}

static int check_one(const protect_oracle_t *o, const protect_area_t *ar, const char *path,
                     check_row_t *row, upset_err_t *err)
{
    char *kind = NULL, *yaml = NULL, *mck = NULL, *dck = NULL;
    void *exceeds = NULL, *errs = NULL;
    int64_t ne = 0, nr = 0, base = 0;
    unsigned char *mask = calloc((size_t)o->n, 1);
    campaign_t c;
    campaign_defaults(&c);
    const task_ops_t *task = task_ops(o->m.task);
    const fnv_hex_t want = fnv_hex(o->m.checksum);
    int rc = mask ? 0 : upset_fail(err, "out of memory");
    rc = rc || results_read_attr_string(path, "kind", &kind, err);
    if (!rc && strcmp(kind, "multibit"))
        rc = upset_fail(err, "%s: a '%s' campaign; --check needs multibit results", path, kind);
    rc = rc || results_read_attr_string(path, "campaign_yaml", &yaml, err) ||
         results_read_attr_string(path, "model_checksum_fnv1a64", &mck, err) ||
         results_read_attr_string(path, "data_checksum_fnv1a64", &dck, err) ||
         campaign_load_yaml_string(&c, yaml, strlen(yaml), path, err);
    if (!rc && strcmp(mck, want.s))
        rc = upset_fail(err, "%s was run on another model than the oracle %s", path, o->path);
    if (!rc && c.include_bias != o->m.include_bias)
        rc = upset_fail(err, "%s %s bias bits and the oracle %s %s: not one fault space", path,
                        c.include_bias ? "includes" : "leaves out", o->path,
                        o->m.include_bias ? "includes them" : "does not");
    const fault_model_t fm = c.multibit.fault_model;
    if (!rc && fm != FAULT_FLIP && fm != FAULT_STUCK_AT_0 && fm != FAULT_STUCK_AT_1)
        rc = upset_fail(err, "%s: fault_model %s: the first-order prediction covers flip and "
                             "stuck_at_0/1 (one cell, one bit)",
                        path, fault_model_name(fm));
    rc = rc || campaign_mask(o, &c, path, mask, &row->n_protected, err) ||
         results_read_column(path, "trials", "exceeds", RESULTS_INT8, &exceeds, &ne, err) ||
         results_read_column(path, "trials", task->error_column, RESULTS_FLOAT64, &errs, &nr,
                             err) ||
         (task->baseline_attr && results_read_attr_int64(path, task->baseline_attr, &base, err));
    if (!rc && (ne != nr || ne == 0))
        rc = upset_fail(err, "%s: no trials, or columns of different lengths", path);
    if (!rc) {
        int64_t s = 0;
        double sum_err = 0;
        for (int64_t b = 0; b < o->n; b++) {
            if (mask[b])
                continue;
            if (fm != FAULT_FLIP) { /* stuck at v changes only a bit that holds !v */
                bitaddr_t a;
                bitspace_locate(&o->m, b, &a);
                if (bitspace_bit_value(&o->m, a) == (fm == FAULT_STUCK_AT_1))
                    continue;
            }
            s += o->sens[b];
            sum_err += o->err_b[b];
        }
        double p_none, mean_k;
        no_hit_probability(&c, o->n, s, &p_none, &mean_k);
        row->path = path;
        snprintf(row->protection, sizeof row->protection, "%s", protection_name(c.multibit.protection));
        row->area = protect_area(ar, o->n, mask);
        row->mean_cells = mean_k;
        row->p_fail = 1 - p_none;
        row->e_error = mean_k / (double)o->n * sum_err;
        row->trials = ne;
        row->exceeding = 0;
        double m = 0, m2 = 0;
        for (int64_t t = 0; t < ne; t++) {
            const double e = ((double *)errs)[t] - (double)base;
            row->exceeding += ((int8_t *)exceeds)[t] != 0;
            m += e;
            m2 += e * e;
        }
        m /= (double)ne;
        const double var = ne > 1 ? (m2 - (double)ne * m * m) / (double)(ne - 1) : 0;
        const double half = 1.96 * sqrt(var > 0 ? var / (double)ne : 0);
        row->m_error = m;
        row->m_error_lo = m - half;
        row->m_error_hi = m + half;
        row->m_fail = (double)row->exceeding / (double)ne;
        wilson_interval(row->exceeding, ne, 0.95, &row->m_lo, &row->m_hi);
        row->same_inputs = !strcmp(dck, o->data_checksum);
    }
    campaign_free(&c);
    free(kind);
    free(yaml);
    free(mck);
    free(dck);
    free(exceeds);
    free(errs);
    free(mask);
    return rc ? -1 : 0;
}

int protect_check(const protect_oracle_t *o, const protect_area_t *ar,
                  const char *const *results, int n_results, const char *out_dir,
                  upset_err_t *err)
{
    check_row_t *rows = upset_calloc((size_t)n_results, sizeof *rows, err);
    if (!rows)
        return -1;
    int rc = 0;
    for (int i = 0; i < n_results && !rc; i++)
        rc = check_one(o, ar, results[i], &rows[i], err);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = rc ? NULL : open_memstream(&buf, &len);
    if (!rc && !f)
        rc = upset_fail(err, "out of memory");
    if (!rc) {
        const char *unit = task_ops(o->m.task)->unit;
        printf("prediction (first order, from %s) beside measurement, per trial; %s\n", o->path,
               unit);
        printf("  %-40s %-24s %9s %10s %10s %9s %25s %12s %27s\n", "campaign", "protection",
               "protected", "area", "cells", "predicted", "measured failure (95%)",
               "pred. error", "measured error (95%)");
        fprintf(f, "results,protection,n_protected,area_bit_cells,inputs,trials,mean_cells,"
                   "predicted_failure,measured_failure,measured_failure_lo,"
                   "measured_failure_hi,predicted_error,measured_error,measured_error_lo,"
                   "measured_error_hi\n");
        for (int i = 0; i < n_results; i++) {
            const check_row_t *r = &rows[i];
            printf("  %-40s %-24s %9lld %10.6g %10.4g %8.4f%% %8.4f%% [%6.4f, %6.4f]%% %12.4g "
                   "%10.4g [%.3g, %.3g]%s\n",
                   r->path, r->protection, (long long)r->n_protected, r->area, r->mean_cells, 100 * r->p_fail, 100 * r->m_fail, 100 * r->m_lo,
                   100 * r->m_hi, r->e_error, r->m_error, r->m_error_lo, r->m_error_hi,
                   r->same_inputs ? " (oracle's inputs)" : " (held-out inputs)");
            fprintf(f, "%s,%s,%lld,%.10g,%s,%lld,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,"
                       "%.10g,%.10g\n",
                    r->path, r->protection, (long long)r->n_protected, r->area,
                    r->same_inputs ? "oracle" : "held_out", (long long)r->trials, r->mean_cells,
                    r->p_fail, r->m_fail, r->m_lo, r->m_hi, r->e_error, r->m_error,
                    r->m_error_lo, r->m_error_hi);
        }
        fclose(f);
        if (out_dir) {
            char path[4200], tmp[4300];
            snprintf(path, sizeof path, "%s/check.csv", out_dir);
            snprintf(tmp, sizeof tmp, "%s.tmp", path);
            rc = file_mkdirs(out_dir, err) || file_write_all(tmp, buf, len, err);
            if (!rc && rename(tmp, path) != 0)
                rc = upset_fail(err, "%s: cannot rename to %s", tmp, path);
            if (rc)
                unlink(tmp);
            else
                printf("written: %s\n", path);
        }
    }
    free(buf);
    free(rows);
    return rc ? -1 : 0;
}
