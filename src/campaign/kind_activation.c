/* `activation`: transient upsets in the registers between layers, for comparison with
 * weight upsets (as PyTorchFI and TensorFI inject into activations). A register is the
 * output of a quantizer (the input quantizer or a quantized_relu / quantized_bits
 * activation) of the faulted part: hls4ml stores exactly these codes between layers,
 * with the quantizer's width. Trial t draws, from its own random stream, one sample and
 * one bit of one such code uniformly; the sample runs fault-free, the bit flips in that
 * sample's code only (one inference), the layers after it re-run, and the sample is
 * scored against its own fault-free result. Weights are never touched.
 *
 * Activation bits are numbered like weight bits: register layers in model order, codes
 * in (h, w, c) C order, bits MSB first (0 = the sign bit of a signed code). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "upset/econt.h"
#include "upset/rng.h"
#include "upset/stats.h"

#define ACT_COLUMNS(X)                                                                        \
    X(int64_t, trial, RESULTS_INT64, "1", "trial index (its random stream)")                  \
    X(int64_t, sample, RESULTS_INT64, "1", "sample's position in the campaign's data")        \
    X(int64_t, act_bit, RESULTS_INT64, "1", "global activation bit (register layers in "      \
                                            "order, C-order codes, MSB first)")              \
    X(int32_t, layer, RESULTS_INT32, "1", "layer index in the model (the register's writer)") \
    X(int64_t, element, RESULTS_INT64, "1", "flat (h, w, c) index into the layer's output")   \
    X(int32_t, bit_pos, RESULTS_INT32, "1", "bit position in the code, 0 = MSB")              \
    X(double, emd, RESULTS_FLOAT64, "1", "autoencoders: the sample's EMD with the bit flipped") \
    X(double, delta_emd, RESULTS_FLOAT64, "1", "autoencoders: emd - the sample's fault-free EMD") \
    X(int8_t, mispredicted, RESULTS_INT8, "1", "classifiers: 1 when the faulty prediction is wrong") \
    X(int8_t, changed, RESULTS_INT8, "1", "1 when the network output differs from fault-free") \
    X(int8_t, exceeds, RESULTS_INT8, "1",                                                     \
      "1 when the sample's task error exceeds its fault-free error")

#define AS_FIELD(ctype, name, type, unit, desc) ctype name;
#define AS_COLUMN(ctype, name, type, unit, desc)                                              \
    RESULTS_COLUMN(act_record_t, name, type, unit, desc),

typedef struct {
    ACT_COLUMNS(AS_FIELD)
    double error; /* the task's per-sample error (sample_cmp_t), summarised, not stored */
} act_record_t;

static const results_column_t ACT_COLUMNS_TABLE[] = {ACT_COLUMNS(AS_COLUMN)};
static const results_table_t ACT_TABLE = {"trials", sizeof(act_record_t), ACT_COLUMNS_TABLE,
                                          sizeof ACT_COLUMNS_TABLE / sizeof *ACT_COLUMNS_TABLE};

/* The activation fault space: each register layer's first global bit. */
typedef struct {
    int n;          /* register layers */
    int *layer;     /* (n) model layer index */
    int64_t *first; /* (n + 1) first global activation bit; first[n] = total */
    evaluator_t ev; /* on the campaign's (unflipped) model */
    double *clean;  /* the fault-free final output of the current sample; NULL until the
                       evaluator exists */
} act_state_t;

/* The stream of trial draws differs from the multibit one in its seed. */
#define ACT_SEED_SALT UINT64_C(0xa0761d6478bd642f)

static int is_register(const layer_t *L)
{
    return L->part != PART_DECODER && layer_is_quantizer(L);
}

static int selected(const campaign_strlist_t *names, const char *name)
{
    if (names->n == 0)
        return 1;
    for (int i = 0; i < names->n; i++)
        if (!strcmp(names->v[i], name))
            return 1;
    return 0;
}

static int act_plan(run_ctx_t *r, upset_err_t *err)
{
    const model_t *m = &r->model;
    const campaign_strlist_t *names = &r->c.activation.layers;
    for (int i = 0; i < names->n; i++) {
        int found = 0;
        for (int l = 0; l < m->n_layers; l++)
            found |= is_register(&m->layers[l]) && !strcmp(names->v[i], m->layers[l].name);
        char where[1100];
        if (!found)
            return upset_fail(err, "%s: activation.layers: '%s' is not a quantized activation "
                                   "of %s (`upset info` lists the layers; registers are the "
                                   "input quantizer and quantized_relu/quantized_bits "
                                   "activations outside the decoder)",
                              campaign_key_where(&r->c, "activation.layers", where, sizeof where),
                              names->v[i], r->c.model);
    }
    act_state_t *s = upset_calloc(1, sizeof *s, err);
    if (!s)
        return -1;
    r->kind_state = s; /* act_release frees what it holds */
    int n = 0;
    for (int l = 0; l < m->n_layers; l++)
        n += is_register(&m->layers[l]) && selected(names, m->layers[l].name);
    if (n == 0)
        return upset_fail(err, "%s: %s has no quantized activations to fault (the input "
                               "quantizer and quantized_relu/quantized_bits activations)",
                          r->c.source, r->c.model);
    s->layer = upset_calloc((size_t)n, sizeof *s->layer, err);
    s->first = upset_calloc((size_t)n + 1, sizeof *s->first, err);
    if (!s->layer || !s->first)
        return -1;
    int64_t total = 0;
    for (int l = 0; l < m->n_layers; l++) {
        const layer_t *L = &m->layers[l];
        if (!is_register(L) || !selected(names, L->name))
            continue;
        s->layer[s->n] = l;
        s->first[s->n++] = total;
        total += shape_size(L->out) * L->aq.bits;
    }
    s->first[s->n] = total;
    r->n_items = r->c.activation.trials;
    if (run_items_fit(r, "activation.trials", r->n_items, ACT_TABLE.record_size, err))
        return -1;
    r->items = calloc((size_t)r->n_items, sizeof *r->items);
    if (!r->items)
        return upset_fail(err, "%s: activation.trials = %lld: out of memory", r->c.source,
                          (long long)r->n_items);
    for (int64_t t = 0; t < r->n_items; t++)
        r->items[t] = t;
    r->table = &ACT_TABLE;
    return 0;
}

/* The evaluator is made on first use (after the injector's baseline, which it reads). */
static int act_evaluator(run_ctx_t *r, act_state_t *s, upset_err_t *err)
{
    if (s->clean)
        return 0;
    int zero = r->c.emd_zero_sum == CAMPAIGN_EMD_ZERO_REFERENCE ? ECONT_ZERO_REFERENCE
                                                                : ECONT_ZERO_UNIFORM;
    if (evaluator_create(&s->ev, &r->model, &r->data, zero, err))
        return -1;
    s->clean = upset_calloc((size_t)engine_output(&s->ev.engine)->n, sizeof *s->clean, err);
    return s->clean ? 0 : -1;
}

static int act_work(void *ctx, int64_t first, int64_t count, void *records, upset_err_t *err)
{
    run_ctx_t *r = ctx;
    act_state_t *s = r->kind_state;
    act_record_t *rec = records;
    if (act_evaluator(r, s, err))
        return -1;
    engine_t *e = &s->ev.engine;
    const int last = r->model.n_layers - 1;
    const tensor_t *out = engine_output(e);
    for (int64_t k = 0; k < count; k++) {
        const int64_t t = r->items[first + k];
        rng_t g = rng_make(r->c.seed ^ ACT_SEED_SALT, (uint64_t)t);
        const int64_t i = (int64_t)rng_below(&g, (uint64_t)r->data.n);
        const int64_t b = (int64_t)rng_below(&g, (uint64_t)s->first[s->n]);
        int j = 0;
        while (b >= s->first[j + 1])
            j++;
        const int l = s->layer[j];
        const layer_t *L = &r->model.layers[l];
        const int64_t element = (b - s->first[j]) / L->aq.bits;
        const int pos = (int)((b - s->first[j]) % L->aq.bits);
        sample_result_t clean, faulty;
        if (evaluator_sample(&s->ev, i, &clean, err))
            return -1;
        for (int64_t o = 0; o < out->n; o++)
            s->clean[o] = tensor_value(out, o);
        /* the register holds the code (value * 2^frac); signed codes are two's complement */
        int64_t *code = &e->out[l].fixed[element];
        const int is_signed = quant_signed(&L->aq);
        *code = code_flip_bit((int32_t)*code, L->aq.bits, is_signed, pos);
        if ((l < last && engine_run_layers(e, l + 1, last, err)) ||
            evaluator_score(&s->ev, i, &faulty, err))
            return -1;
        int changed = 0;
        for (int64_t o = 0; o < out->n && !changed; o++)
            changed = tensor_value(out, o) != s->clean[o];
        act_record_t *a = &rec[k];
        memset(a, 0, sizeof *a);
        a->trial = t;
        a->sample = i;
        a->act_bit = b;
        a->layer = l;
        a->element = element;
        a->bit_pos = pos;
        a->changed = (int8_t)changed;
        const int label = r->data.label ? r->data.label[i] : clean.pred;
        sample_cmp_t cmp;
        task_ops(r->model.task)->compare(&faulty, &clean, label, &cmp);
        a->mispredicted = (int8_t)cmp.mispredicted;
        a->exceeds = (int8_t)cmp.exceeds;
        a->error = cmp.error;
        a->emd = faulty.emd;
        a->delta_emd = faulty.emd - clean.emd;
    }
    return 0;
}

static int act_finish(run_ctx_t *r, upset_err_t *err)
{
    (void)err;
    act_state_t *s = r->kind_state;
    const act_record_t *rec = r->records;
    const char *unit = task_ops(r->model.task)->sample_unit;
    int64_t exceed = 0, changed = 0;
    double sum = 0;
    for (int64_t i = 0; i < r->n_items; i++) {
        exceed += rec[i].exceeds;
        changed += rec[i].changed;
        sum += rec[i].error;
    }
    double lo, hi;
    wilson_interval(exceed, r->n_items, 0.95, &lo, &hi);
    const double rate = (double)exceed / (double)r->n_items;
    if (!r->c.quiet) {
        printf("activation upsets: %lld trials over %lld register bits x %lld samples; error "
               "above the sample's fault-free one in %lld (%.3f%%, 95%% Wilson [%.3f%%, "
               "%.3f%%]), output changed in %lld; mean %s per upset: %.6g\n",
               (long long)r->n_items, (long long)s->first[s->n], (long long)r->data.n,
               (long long)exceed, 100 * rate, 100 * lo, 100 * hi, (long long)changed,
               unit, sum / (double)r->n_items);
        printf("  %-22s %12s %10s %10s %22s %14s\n", "layer", "bits/sample", "trials",
               "exceeding", "share (95% Wilson)", "mean error");
        for (int j = 0; j < s->n; j++) {
            int64_t n = 0, x = 0;
            double e = 0;
            for (int64_t i = 0; i < r->n_items; i++)
                if (rec[i].layer == s->layer[j]) {
                    n++;
                    x += rec[i].exceeds;
                    e += rec[i].error;
                }
            double l2 = 0, h2 = 0;
            if (n)
                wilson_interval(x, n, 0.95, &l2, &h2);
            printf("  %-22s %12lld %10lld %10lld %6.2f%% [%5.2f, %5.2f]%% %14.6g\n",
                   r->model.layers[s->layer[j]].name, (long long)(s->first[j + 1] - s->first[j]),
                   (long long)n, (long long)x, n ? 100.0 * x / n : 0.0, 100 * l2, 100 * h2,
                   n ? e / n : 0.0);
        }
    }
    r->extra[r->n_extra++] = RESULTS_ATTR_I64("n_activation_bits", s->first[s->n]);
    r->extra[r->n_extra++] = RESULTS_ATTR_I64("n_exceeding", exceed);
    r->extra[r->n_extra++] = RESULTS_ATTR_I64("n_output_changed", changed);
    r->extra[r->n_extra++] = RESULTS_ATTR_F64("error_rate", rate);
    r->extra[r->n_extra++] = RESULTS_ATTR_F64("error_rate_wilson95_lo", lo);
    r->extra[r->n_extra++] = RESULTS_ATTR_F64("error_rate_wilson95_hi", hi);
    r->extra[r->n_extra++] = RESULTS_ATTR_F64("mean_error", sum / (double)r->n_items);
    return 0;
}

static void act_release(run_ctx_t *r)
{
    act_state_t *s = r->kind_state;
    if (!s)
        return;
    if (s->clean)
        evaluator_free(&s->ev);
    free(s->clean);
    free(s->layer);
    free(s->first);
}

const campaign_kind_ops_t KIND_ACTIVATION = {CAMPAIGN_ACTIVATION, act_plan, act_work,
                                             act_finish, act_release, 0};
