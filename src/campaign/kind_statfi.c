/* `statfi`: statistical fault injection after Ruospo et al. (DATE 2023) applied to
 * weight codes. The population is split into strata, one per (layer, bit position),
 * each of N = the layer's weight count; each stratum gets Leveugle's sample size
 * n = N / (1 + e^2 (N-1) / (t^2 p (1-p))) and n weights drawn at random; the drawn
 * bits are flipped one at a time, MSB strata first, down to the LSB.
 *   data_unaware: p = statfi.p (0.5, the worst case) in every stratum.
 *   data_aware:   p is estimated per stratum from the weights themselves: the share of
 *                 the layer's weights whose flip at that position throws the value
 *                 outside the layer's fault-free range [min, max] (the flips that
 *                 matter, as the exponent flips do in the original float analysis),
 *                 smoothed as (count + 1/2) / (N + 1) so no stratum gets p = 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "upset/bitspace.h"
#include "upset/rng.h"
#include "upset/stats.h"

#define STATFI_COLUMNS(X)                                                                     \
    X(int64_t, bit, RESULTS_INT64, "1", "global bit index")                                   \
    X(int32_t, layer, RESULTS_INT32, "1", "layer index in the model")                         \
    X(int64_t, weight, RESULTS_INT64, "1", "flat C-order index into the layer's kernel")      \
    X(int32_t, bit_pos, RESULTS_INT32, "1", "bit position in the weight code, 0 = MSB (sign)") \
    X(int32_t, stratum, RESULTS_INT32, "1", "stratum index (see the strata_* attributes)")    \
    FAULT_COLUMNS(X)                                                                          \
    X(int8_t, sensitive, RESULTS_INT8, "1", "1 when the task error exceeds the fault-free error")

#define AS_FIELD(ctype, name, type, unit, desc) ctype name;
#define AS_COLUMN(ctype, name, type, unit, desc)                                              \
    RESULTS_COLUMN(statfi_record_t, name, type, unit, desc),

typedef struct {
    STATFI_COLUMNS(AS_FIELD)
} statfi_record_t;

static const results_column_t STATFI_COLUMNS_TABLE[] = {STATFI_COLUMNS(AS_COLUMN)};
static const results_table_t STATFI_TABLE = {
    "bits", sizeof(statfi_record_t), STATFI_COLUMNS_TABLE,
    sizeof STATFI_COLUMNS_TABLE / sizeof *STATFI_COLUMNS_TABLE};

/* Per-stratum tables, one block (run_free frees kind_state with free()). */
typedef struct {
    int n;
    int64_t *layer, *pos, *N, *n_sample, *n_sensitive;
    double *p;
    int32_t *item_stratum; /* per item */
} statfi_state_t;

/* Share of the layer's weights whose flip at `pos` leaves its fault-free range (of
 * values: kernel_code is on one grid, model.h). */
static double out_of_range_share(const layer_t *L, int pos)
{
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    for (int64_t w = 0; w < L->n_weights; w++) {
        lo = L->kernel_code[w] < lo ? L->kernel_code[w] : lo;
        hi = L->kernel_code[w] > hi ? L->kernel_code[w] : hi;
    }
    int64_t count = 0;
    for (int64_t w = 0; w < L->n_weights; w++) {
        const int32_t f = layer_weight_int(
            L, w, code_flip_bit(layer_weight_code(L, w), L->kq.bits, L->kq.keep_negative, pos));
        count += f < lo || f > hi;
    }
    return (count + 0.5) / ((double)L->n_weights + 1.0);
}

static int statfi_plan(run_ctx_t *r, upset_err_t *err)
{
    const model_t *m = &r->model;
    int n_strata = 0, max_bits = 0;
    for (int l = 0; l < m->n_layers; l++)
        if (m->layers[l].faultable) {
            n_strata += m->layers[l].kq.bits;
            max_bits = m->layers[l].kq.bits > max_bits ? m->layers[l].kq.bits : max_bits;
        }
    size_t ns = (size_t)n_strata;
    size_t bytes = sizeof(statfi_state_t) + ns * (5 * sizeof(int64_t) + sizeof(double)) +
                   (size_t)m->n_fault_bits * sizeof(int32_t);
    statfi_state_t *s = upset_calloc(1, bytes, err);
    if (!s)
        return -1;
    r->kind_state = s;
    int64_t *p64 = (int64_t *)(s + 1);
    s->layer = p64;
    s->pos = p64 + ns;
    s->N = p64 + 2 * ns;
    s->n_sample = p64 + 3 * ns;
    s->n_sensitive = p64 + 4 * ns;
    s->p = (double *)(p64 + 5 * ns);
    s->item_stratum = (int32_t *)(s->p + ns);

    int64_t total = 0;
    for (int pos = 0; pos < max_bits; pos++) /* MSB strata first */
        for (int l = 0; l < m->n_layers; l++) {
            const layer_t *L = &m->layers[l];
            if (!L->faultable || pos >= L->kq.bits)
                continue;
            double p = r->c.statfi.mode == STATFI_DATA_AWARE ? out_of_range_share(L, pos)
                                                              : r->c.statfi.p;
            int64_t n = leveugle_sample_count(L->n_weights, r->c.statfi.confidence,
                                              r->c.statfi.margin, p);
            if (n < 1)
                n = 1;
            s->layer[s->n] = l;
            s->pos[s->n] = pos;
            s->N[s->n] = L->n_weights;
            s->n_sample[s->n] = n;
            s->p[s->n] = p;
            s->n++;
            total += n;
        }
    r->items = upset_calloc((size_t)total, sizeof *r->items, err);
    unsigned char *mark = upset_calloc((size_t)m->n_fault_bits, 1, err);
    int64_t *pick = upset_calloc((size_t)m->n_fault_bits, sizeof *pick, err);
    if (!r->items || !mark || !pick) {
        free(mark);
        free(pick);
        return -1;
    }
    for (int k = 0; k < s->n; k++) {
        const layer_t *L = &m->layers[s->layer[k]];
        rng_t g = rng_make(r->c.seed, 0x57A7F1000000ull + (uint64_t)k);
        rng_distinct(&g, L->n_weights, s->n_sample[k], pick, mark);
        for (int64_t i = 0; i < s->n_sample[k]; i++) {
            s->item_stratum[r->n_items] = k;
            r->items[r->n_items++] = L->bit_first + pick[i] * L->kq.bits + s->pos[k];
        }
    }
    free(mark);
    free(pick);
    r->table = &STATFI_TABLE;
    return 0;
}

static int statfi_work(void *ctx, int64_t first, int64_t count, void *records,
                       upset_err_t *err)
{
    run_ctx_t *r = ctx;
    statfi_state_t *s = r->kind_state;
    statfi_record_t *rec = records;
    /* a stratum's bits share a layer: taken in blocks over each sample (inject.h) */
    fault_result_t *res = run_eval_bits(r, first, count, err);
    if (!res)
        return -1;
    for (int64_t k = 0; k < count; k++) {
        int64_t bit = r->items[first + k];
        bitaddr_t a;
        const fault_result_t f = res[k];
        bitspace_locate(&r->model, bit, &a);
        memset(&rec[k], 0, sizeof rec[k]);
        rec[k].bit = bit;
        rec[k].layer = a.layer;
        rec[k].weight = a.weight;
        rec[k].bit_pos = a.bit;
        rec[k].stratum = s->item_stratum[first + k];
        rec[k].mean_emd = f.mean_emd;
        rec[k].delta_emd = f.delta_emd;
        rec[k].mispredicts = f.mispredicts;
        rec[k].n_changed = f.n_changed;
        rec[k].sensitive = (int8_t)run_sensitive(r, &f);
    }
    free(res);
    return 0;
}

static int statfi_finish(run_ctx_t *r, upset_err_t *err)
{
    (void)err;
    statfi_state_t *s = r->kind_state;
    const statfi_record_t *rec = r->records;
    for (int64_t i = 0; i < r->n_items; i++)
        s->n_sensitive[rec[i].stratum] += rec[i].sensitive;
    double est = 0;
    for (int k = 0; k < s->n; k++)
        est += (double)s->N[k] * s->n_sensitive[k] / s->n_sample[k];
    if (!r->c.quiet)
        printf("statfi (%s): %d strata, %lld of %lld bits injected (%.1f%%); estimated sensitive "
               "bits: %.0f (%.2f%%)\n",
               statfi_mode_name(r->c.statfi.mode), s->n, (long long)r->n_items,
               (long long)r->model.n_fault_bits, 100.0 * r->n_items / r->model.n_fault_bits, est,
               100.0 * est / r->model.n_fault_bits);
    r->extra[r->n_extra++] = RESULTS_ATTR_STR("statfi_mode", statfi_mode_name(r->c.statfi.mode));
    r->extra[r->n_extra++] = RESULTS_ATTR_I64V("strata_layer", s->layer, s->n);
    r->extra[r->n_extra++] = RESULTS_ATTR_I64V("strata_bit_pos", s->pos, s->n);
    r->extra[r->n_extra++] = RESULTS_ATTR_I64V("strata_population", s->N, s->n);
    r->extra[r->n_extra++] = RESULTS_ATTR_I64V("strata_sample", s->n_sample, s->n);
    r->extra[r->n_extra++] = RESULTS_ATTR_I64V("strata_sensitive", s->n_sensitive, s->n);
    r->extra[r->n_extra++] = RESULTS_ATTR_F64V("strata_p", s->p, s->n);
    r->extra[r->n_extra++] = RESULTS_ATTR_F64("estimated_sensitive_bits", est);
    return 0;
}

const campaign_kind_ops_t KIND_STATFI = {CAMPAIGN_STATFI, statfi_plan, statfi_work,
                                         statfi_finish, NULL, INJECTOR_BLOCK};
