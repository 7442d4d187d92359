/* `binfi`: BinFI (Chen et al., SC'19) applied to weight codes. Within one weight a
 * flip of a more significant bit moves the value further (two's complement: bit
 * position p moves it by 2^p, the sign bit most), so BinFI assumes the SDC outcome
 * is monotone in the position and binary-searches for the boundary: a sensitive
 * flip implies every more significant bit is sensitive, a benign flip implies every
 * less significant bit is benign. Items are weights; finish() expands them to one
 * record per bit, marking which bits were actually flipped and which are implied. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "upset/bitspace.h"

#define BINFI_MAX_BITS 32

/* One searched weight (the checkpointed work record; not written to the results). */
typedef struct {
    int64_t first_bit; /* global index of the weight's MSB */
    int32_t bits;
    int32_t boundary; /* least significant position found sensitive, -1: none */
    int32_t n_flips;
    int32_t flipped[BINFI_MAX_BITS]; /* search step (1-based) at which each position was
                                        flipped, 0 = not flipped */
    double error[BINFI_MAX_BITS];
    int64_t n_changed[BINFI_MAX_BITS];
    int8_t measured_sensitive[BINFI_MAX_BITS];
} weight_record_t;

static const results_column_t WEIGHT_COLUMNS[] = {
    RESULTS_COLUMN(weight_record_t, first_bit, RESULTS_INT64, "1", "global index of the MSB"),
};
static const results_table_t WEIGHT_TABLE = {"weights", sizeof(weight_record_t), WEIGHT_COLUMNS,
                                             1};

#define BINFI_COLUMNS(X)                                                                      \
    X(int64_t, bit, RESULTS_INT64, "1", "global bit index")                                   \
    X(int32_t, layer, RESULTS_INT32, "1", "layer index in the model")                         \
    X(int64_t, weight, RESULTS_INT64, "1", "flat C-order index into the layer's kernel")      \
    X(int32_t, bit_pos, RESULTS_INT32, "1", "bit position in the weight code, 0 = MSB (sign)") \
    X(int64_t, flip_order, RESULTS_INT64, "1",                                                \
      "position in the injection sequence (weights in order, search steps within a weight); " \
      "-1 when the bit was not flipped")                                                      \
    X(int8_t, flipped, RESULTS_INT8, "1", "1 when the bit was actually injected")             \
    X(int8_t, sensitive, RESULTS_INT8, "1",                                                   \
      "measured when flipped, otherwise implied by the monotonicity assumption")              \
    X(double, error, RESULTS_FLOAT64, "1",                                                    \
      "task error increase (delta EMD or extra mispredicts) when flipped, else NaN")         \
    X(int64_t, n_changed, RESULTS_INT64, "samples", "samples whose output changed, -1 if not flipped")

#define AS_FIELD(ctype, name, type, unit, desc) ctype name;
#define AS_COLUMN(ctype, name, type, unit, desc)                                              \
    RESULTS_COLUMN(binfi_bit_t, name, type, unit, desc),

typedef struct {
    BINFI_COLUMNS(AS_FIELD)
} binfi_bit_t;

static const results_column_t BINFI_COLUMNS_TABLE[] = {BINFI_COLUMNS(AS_COLUMN)};
static const results_table_t BINFI_TABLE = {
    "bits", sizeof(binfi_bit_t), BINFI_COLUMNS_TABLE,
    sizeof BINFI_COLUMNS_TABLE / sizeof *BINFI_COLUMNS_TABLE};

static int binfi_plan(run_ctx_t *r, upset_err_t *err)
{
    const model_t *m = &r->model;
    int64_t n = 0;
    for (int l = 0; l < m->n_layers; l++) {
        if (!m->layers[l].faultable)
            continue;
        if (m->layers[l].kq.bits > BINFI_MAX_BITS)
            return upset_fail(err, "%s: layer %s has %d-bit weights; binfi handles up to %d",
                              m->path, m->layers[l].name, m->layers[l].kq.bits, BINFI_MAX_BITS);
        n += m->layers[l].n_weights;
    }
    r->items = upset_calloc((size_t)n, sizeof *r->items, err);
    if (!r->items)
        return -1;
    for (int l = 0; l < m->n_layers; l++)
        for (int64_t w = 0; m->layers[l].faultable && w < m->layers[l].n_weights; w++)
            r->items[r->n_items++] = m->layers[l].bit_first + w * m->layers[l].kq.bits;
    r->table = &WEIGHT_TABLE;
    return 0;
}

static int binfi_work(void *ctx, int64_t first, int64_t count, void *records, upset_err_t *err)
{
    run_ctx_t *r = ctx;
    weight_record_t *rec = records;
    for (int64_t k = 0; k < count; k++) {
        weight_record_t *w = &rec[k];
        bitaddr_t a;
        memset(w, 0, sizeof *w);
        w->first_bit = r->items[first + k];
        bitspace_locate(&r->model, w->first_bit, &a);
        w->bits = r->model.layers[a.layer].kq.bits;
        w->boundary = -1;
        int lo = 0, hi = w->bits - 1;
        while (lo <= hi) {
            int mid = lo + (hi - lo) / 2;
            int64_t bit = w->first_bit + mid;
            fault_result_t f;
            if (injector_eval(&r->inj, &bit, 1, &f, err))
                return -1;
            w->flipped[mid] = ++w->n_flips;
            w->error[mid] = run_error(r, &f);
            w->n_changed[mid] = f.n_changed;
            w->measured_sensitive[mid] = (int8_t)run_sensitive(r, &f);
            if (w->measured_sensitive[mid]) {
                w->boundary = mid;
                lo = mid + 1; /* more significant positions are implied sensitive */
            } else {
                hi = mid - 1; /* less significant positions are implied benign */
            }
        }
    }
    return 0;
}

static int binfi_finish(run_ctx_t *r, upset_err_t *err)
{
    const weight_record_t *rec = r->records;
    int64_t nbits = 0, flips = 0, implied_sens = 0, measured_sens = 0;
    for (int64_t i = 0; i < r->n_items; i++)
        nbits += rec[i].bits;
    binfi_bit_t *out = upset_calloc((size_t)nbits, sizeof *out, err);
    if (!out)
        return -1;
    int64_t k = 0;
    for (int64_t i = 0; i < r->n_items; i++) {
        const weight_record_t *w = &rec[i];
        bitaddr_t a;
        bitspace_locate(&r->model, w->first_bit, &a);
        for (int p = 0; p < w->bits; p++, k++) {
            binfi_bit_t *b = &out[k];
            b->bit = w->first_bit + p;
            b->layer = a.layer;
            b->weight = a.weight;
            b->bit_pos = p;
            b->flipped = w->flipped[p] != 0;
            b->flip_order = b->flipped ? flips + w->flipped[p] - 1 : -1;
            b->sensitive = b->flipped ? w->measured_sensitive[p] : (int8_t)(p <= w->boundary);
            b->error = b->flipped ? w->error[p] : NAN;
            b->n_changed = b->flipped ? w->n_changed[p] : -1;
            measured_sens += b->flipped && b->sensitive;
            implied_sens += b->sensitive;
        }
        flips += w->n_flips;
    }
    if (!r->c.quiet)
        printf("binfi: %lld weights, %lld of %lld bits flipped (%.1f%%); sensitive: %lld "
               "measured, %lld measured + implied\n",
               (long long)r->n_items, (long long)flips, (long long)nbits,
               nbits ? 100.0 * flips / nbits : 0.0, (long long)measured_sens,
               (long long)implied_sens);
    r->out_table = &BINFI_TABLE;
    r->out_records = out;
    r->out_n = nbits;
    r->extra[r->n_extra++] = RESULTS_ATTR_I64("n_flipped", flips);
    r->extra[r->n_extra++] = RESULTS_ATTR_I64("n_sensitive_measured", measured_sens);
    r->extra[r->n_extra++] = RESULTS_ATTR_I64("n_sensitive_implied", implied_sens);
    return 0;
}

const campaign_kind_ops_t KIND_BINFI = {CAMPAIGN_BINFI, binfi_plan, binfi_work, binfi_finish,
                                        NULL, 0};
