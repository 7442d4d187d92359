/* Single-bit campaigns: `oracle` (every bit of a range / layer subset) and
 * `guided` (bits in the order of a ranking, up to a budget, with the
 * cumulative error curve). One record per flipped bit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "upset/bitranking.h"
#include "upset/bitspace.h"
#include "upset/rng.h"

#define BIT_COLUMNS(X)                                                                        \
    X(int64_t, bit, RESULTS_INT64, "1", "global bit index (faultable layers in order, C-order " \
                                        "kernels, MSB first)")                               \
    X(int32_t, layer, RESULTS_INT32, "1", "layer index in the model")                         \
    X(int64_t, weight, RESULTS_INT64, "1", "flat C-order index into the layer's kernel")      \
    X(int32_t, bit_pos, RESULTS_INT32, "1", "bit position in the weight code, 0 = MSB (sign)") \
    FAULT_COLUMNS(X)                                                                          \
    X(int8_t, sensitive, RESULTS_INT8, "1",                                                   \
      "1 when the task error exceeds the fault-free error")                                   \
    X(double, cumulative_error, RESULTS_FLOAT64, "1",                                         \
      "sum of the task error increase over this and every earlier record (guided order)")

#define AS_FIELD(ctype, name, type, unit, desc) ctype name;
#define AS_COLUMN(ctype, name, type, unit, desc)                                              \
    RESULTS_COLUMN(bit_record_t, name, type, unit, desc),

typedef struct {
    BIT_COLUMNS(AS_FIELD)
} bit_record_t;

static const results_column_t BIT_COLUMNS_TABLE[] = {BIT_COLUMNS(AS_COLUMN)};
static const results_table_t BIT_TABLE = {"bits", sizeof(bit_record_t), BIT_COLUMNS_TABLE,
                                          sizeof BIT_COLUMNS_TABLE / sizeof *BIT_COLUMNS_TABLE};

static int layer_selected(const run_ctx_t *r, int layer)
{
    const campaign_strlist_t *names = &r->c.oracle.layers;
    if (names->n == 0)
        return 1;
    for (int i = 0; i < names->n; i++)
        if (!strcmp(names->v[i], r->model.layers[layer].name))
            return 1;
    return 0;
}

/* The oracle's work order: within a layer, the bits of the weights that feed one output
 * (a dense layer's column, a convolution's output channel; a bias code feeds its own)
 * together, each weight's bits still in a row. A dense flip changes one output, so the
 * flips that follow land on the same output and, often, the same value: the injector's
 * memo of the rest of the network (inject.c) then finds them. In bit order one output's
 * weights lie cout apart, and the memo had long forgotten a value when it came again
 * (ECON-T Large's dense layer: 6 % of its changed flips found in the memo, against 44 %).
 * Results do not depend on the order; oracle_finish puts the records back in bit order. */
typedef struct {
    int64_t layer, output, bit;
} work_key_t;

static int by_work_key(const void *a, const void *b)
{
    const work_key_t *x = a, *y = b;
    return x->layer != y->layer     ? (x->layer > y->layer) - (x->layer < y->layer)
           : x->output != y->output ? (x->output > y->output) - (x->output < y->output)
                                    : (x->bit > y->bit) - (x->bit < y->bit);
}

static int order_by_output(const model_t *m, int64_t *items, int64_t n, upset_err_t *err)
{
    work_key_t *k = upset_calloc((size_t)n, sizeof *k, err);
    if (!k)
        return -1;
    for (int64_t i = 0; i < n; i++) {
        bitaddr_t a;
        bitspace_locate(m, items[i], &a);
        const layer_t *L = &m->layers[a.layer];
        k[i].layer = a.layer;
        k[i].output = a.weight < L->n_weights ? a.weight % L->cout : a.weight - L->n_weights;
        k[i].bit = items[i];
    }
    qsort(k, (size_t)n, sizeof *k, by_work_key);
    for (int64_t i = 0; i < n; i++)
        items[i] = k[i].bit;
    free(k);
    return 0;
}

static int oracle_plan(run_ctx_t *r, upset_err_t *err)
{
    const model_t *m = &r->model;
    const campaign_strlist_t *names = &r->c.oracle.layers;
    for (int i = 0; i < names->n; i++) {
        int found = 0;
        for (int l = 0; l < m->n_layers; l++)
            found |= m->layers[l].faultable && !strcmp(names->v[i], m->layers[l].name);
        char where[1100];
        if (!found)
            return upset_fail(err, "%s: oracle.layers: '%s' is not a faultable layer of %s",
                              campaign_key_where(&r->c, "oracle.layers", where, sizeof where),
                              names->v[i], m->path);
    }
    int64_t first = r->c.oracle.first_bit;
    int64_t count = r->c.oracle.bit_count ? r->c.oracle.bit_count : m->n_fault_bits - first;
    if (first >= m->n_fault_bits || count > m->n_fault_bits - first) { /* no first + count */
        /* the key at fault, where the file gave it */
        const char *key = first >= m->n_fault_bits ? "oracle.first_bit" : "oracle.bit_count";
        char where[1100];
        return upset_fail(err,
                          "%s: %s: first_bit %lld and bit_count %lld exceed the %lld "
                          "faultable bits of %s",
                          campaign_key_where(&r->c, key, where, sizeof where), key,
                          (long long)first, (long long)count, (long long)m->n_fault_bits,
                          m->path);
    }
    r->items = upset_calloc((size_t)count, sizeof *r->items, err);
    if (!r->items)
        return -1;
    r->n_items = 0;
    for (int64_t b = first; b < first + count; b++) {
        bitaddr_t a;
        bitspace_locate(m, b, &a);
        if (layer_selected(r, a.layer))
            r->items[r->n_items++] = b;
    }
    if (!r->n_items)
        return upset_fail(err, "%s: oracle: the bit range and layers select no bit", r->c.source);
    r->table = &BIT_TABLE;
    return order_by_output(m, r->items, r->n_items, err);
}

/* Bits in MSB->LSB order: every weight's bit 0, then every weight's bit 1, ...;
 * weights of narrower layers simply run out of positions first. Within a position, a
 * layer's kernel codes come before its bias codes (when the fault space has them). */
static void order_msb_lsb(const model_t *m, int64_t *out)
{
    int64_t n = 0;
    for (int pos = 0; pos < 32; pos++)
        for (int l = 0; l < m->n_layers; l++) {
            const layer_t *L = &m->layers[l];
            if (!L->faultable)
                continue;
            for (int64_t w = 0; pos < L->kq.bits && w < L->n_weights; w++)
                out[n++] = L->bit_first + w * L->kq.bits + pos;
            const int64_t bias_first = L->bit_first + L->n_weights * L->kq.bits;
            for (int64_t c = 0; L->n_bias_bits && pos < L->bq.bits && c < L->cout; c++)
                out[n++] = bias_first + c * L->bq.bits + pos;
        }
}

static int guided_plan(run_ctx_t *r, upset_err_t *err)
{
    const model_t *m = &r->model;
    int64_t n = m->n_fault_bits;
    int64_t *order = NULL;
    if (r->c.guided.order == GUIDED_ORDER_RANKING) {
        if (bit_ranking_read(r->c.guided.ranking, n, &order, &n, err))
            return -1;
    } else {
        order = upset_calloc((size_t)n, sizeof *order, err);
        if (!order)
            return -1;
        if (r->c.guided.order == GUIDED_ORDER_MSB_LSB) {
            order_msb_lsb(m, order);
        } else { /* random: Fisher-Yates from the campaign seed */
            rng_t g = rng_make(r->c.seed, 0x5eed);
            for (int64_t i = 0; i < n; i++)
                order[i] = i;
            for (int64_t i = n - 1; i > 0; i--) {
                int64_t j = (int64_t)rng_below(&g, (uint64_t)i + 1);
                int64_t t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
    }
    if (r->c.guided.budget > 0 && r->c.guided.budget < n)
        n = r->c.guided.budget;
    r->items = order;
    r->n_items = n;
    r->table = &BIT_TABLE;
    return 0;
}

static int bit_work(void *ctx, int64_t first, int64_t count, void *records, upset_err_t *err)
{
    run_ctx_t *r = ctx;
    bit_record_t *rec = records;
    fault_result_t *res = run_eval_bits(r, first, count, err);
    if (!res)
        return -1;
    for (int64_t k = 0; k < count; k++) {
        int64_t bit = r->items[first + k];
        bitaddr_t a;
        const fault_result_t f = res[k];
        bitspace_locate(&r->model, bit, &a); /* in range: injector_eval_singles checked */
        memset(&rec[k], 0, sizeof rec[k]);
        rec[k].bit = bit;
        rec[k].layer = a.layer;
        rec[k].weight = a.weight;
        rec[k].bit_pos = a.bit;
        rec[k].mean_emd = f.mean_emd;
        rec[k].delta_emd = f.delta_emd;
        rec[k].mispredicts = f.mispredicts;
        rec[k].n_changed = f.n_changed;
        rec[k].sensitive = (int8_t)run_sensitive(r, &f);
    }
    free(res);
    return 0;
}

/* Headline figures and the cumulative error column. */
static int bit_finish(run_ctx_t *r, upset_err_t *err)
{
    (void)err;
    bit_record_t *rec = r->records;
    const task_ops_t *task = task_ops(r->model.task);
    double total = 0, msb = 0, cumulative = 0;
    int64_t sensitive = 0;
    for (int64_t i = 0; i < r->n_items; i++) {
        fault_result_t f = {rec[i].mean_emd, rec[i].delta_emd, rec[i].mispredicts,
                            rec[i].n_changed};
        double e = run_error(r, &f);
        cumulative += e;
        rec[i].cumulative_error = cumulative;
        total += e;
        msb += rec[i].bit_pos == 0 ? e : 0;
        sensitive += rec[i].sensitive;
    }
    if (!r->c.quiet) {
        const fault_result_t clean = {r->inj.base_mean_emd, 0, r->inj.base_mispredicts, 0};
        task->print_clean(&clean, r->data.n);
        printf("bits flipped: %lld; sensitive: %lld (%.2f%%)\n", (long long)r->n_items,
               (long long)sensitive, 100.0 * sensitive / r->n_items);
        printf("total %s: %.6g; share in the MSB (sign) bits: %.2f%%\n",
               task->unit, total,
               total != 0 ? 100.0 * msb / total : 0.0);
    }
    r->extra[r->n_extra++] = RESULTS_ATTR_I64("n_sensitive", sensitive);
    r->extra[r->n_extra++] = RESULTS_ATTR_F64("total_error", total);
    r->extra[r->n_extra++] = RESULTS_ATTR_F64("msb_error_share", total != 0 ? msb / total : 0);
    return 0;
}

static int by_bit(const void *a, const void *b)
{
    const bit_record_t *x = a, *y = b;
    return (x->bit > y->bit) - (x->bit < y->bit);
}

/* The records in bit order (they were computed in oracle_plan's), then bit_finish. */
static int oracle_finish(run_ctx_t *r, upset_err_t *err)
{
    qsort(r->records, (size_t)r->n_items, sizeof(bit_record_t), by_bit);
    return bit_finish(r, err);
}

const campaign_kind_ops_t KIND_ORACLE = {CAMPAIGN_ORACLE, oracle_plan, bit_work, oracle_finish,
                                         NULL, INJECTOR_BLOCK};
const campaign_kind_ops_t KIND_GUIDED = {CAMPAIGN_GUIDED, guided_plan, bit_work, bit_finish,
                                         NULL, INJECTOR_BLOCK};
