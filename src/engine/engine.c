#include "upset/engine.h"

#include "upset/clock.h"

#include "layer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int tensor_alloc(tensor_t *t, tensor_kind_t kind, int frac, int64_t n, upset_err_t *err)
{
    t->kind = kind;
    t->frac = frac;
    t->scale = ldexp(1.0, -frac);
    t->n = n;
    /* whole cache lines: the float decoder's 512-bit adds onto its outputs */
    if (kind == TENSOR_FIXED)
        t->fixed = upset_calloc_lines((size_t)n, sizeof *t->fixed, err);
    else
        t->real = upset_calloc_lines((size_t)n, sizeof *t->real, err);
    return (t->fixed || t->real) ? 0 : -1;
}

static void tensor_free(tensor_t *t)
{
    free(t->fixed);
    free(t->real);
    t->fixed = NULL;
    t->real = NULL;
}

/* Layer i's output is read by layer i + 1 alone. */
static int read_by_next_only(const model_t *m, int i)
{
    for (int k = i + 2; k < m->n_layers; k++)
        for (int j = 0; j < m->layers[k].n_inputs; j++)
            if (m->layers[k].inputs[j] == i)
                return 0;
    return i + 1 < m->n_layers;
}

/* Batch norm l feeds quantizer l + 1 and nothing else. */
static int fusable(const engine_t *e, int l)
{
    const model_t *m = e->model;
    if (l + 1 >= m->n_layers || m->layers[l].kind != LAYER_BATCHNORM)
        return 0;
    const layer_t *Q = &m->layers[l + 1];
    return Q->kind == LAYER_ACTIVATION && (Q->act == ACT_QRELU || Q->act == ACT_QBITS) &&
           Q->n_inputs == 1 && Q->inputs[0] == l && e->out[l + 1].kind == TENSOR_FIXED &&
           e->only_next[l];
}

/* Every fixed-point value (sums, aligned biases, a delta's difference of two) must fit
 * int64: a bound on each fixed tensor's magnitude in bits, max(X + a, b), where X is the
 * bits of the exact input's largest code (known per run; exact_input holds it to
 * input_bits_most). NO_BITS: no such term (far below anything added to it). Flipped weight
 * and bias codes are inside their quantizers' bounds, so faults are covered. */
enum { NO_BITS = -1000, MOST_BITS = 62 };
typedef struct {
    int a, b;
} magnitude_t;

static int bits_of(int64_t v) { return v ? 64 - __builtin_clzll((unsigned long long)v) : 0; }

static magnitude_t grown(magnitude_t m, int bits)
{
    return (magnitude_t){m.a + bits, m.b + bits};
}

static magnitude_t larger(magnitude_t m, magnitude_t n)
{
    return (magnitude_t){m.a > n.a ? m.a : n.a, m.b > n.b ? m.b : n.b};
}

static int check_magnitudes(engine_t *e, upset_err_t *err)
{
    const model_t *m = e->model;
    magnitude_t *mag = upset_calloc((size_t)m->n_layers, sizeof *mag, err);
    if (!mag)
        return -1;
    int rc = 0, input_most = MOST_BITS;
    for (int i = 0; i < m->n_layers && !rc; i++) {
        const layer_t *L = &m->layers[i];
        const tensor_t *out = &e->out[i];
        if (out->kind != TENSOR_FIXED)
            continue;
        magnitude_t in = {NO_BITS, NO_BITS}; /* the inputs', aligned to out's frac */
        for (int k = 0; k < L->n_inputs; k++) {
            const int s = L->inputs[k];
            const magnitude_t src = s < 0 ? (magnitude_t){0, NO_BITS} : mag[s];
            const int frac = s < 0 ? e->input_frac : e->out[s].frac;
            const int merge = L->kind == LAYER_ADD || L->kind == LAYER_CONCATENATE;
            const int align = merge ? out->frac - frac : 0;
            in = larger(in, grown(src, align));
        }
        const layer_diff_t d = layer_diff(L);
        if (d == DIFF_QUANT) {
            mag[i] = (magnitude_t){NO_BITS, bits_of(quant_code_bound(&L->aq))};
        } else if (d == DIFF_LINEAR) {
            const fixed_align_t al = fixed_align(L, engine_layer_input(e, i), out);
            const int64_t bias = L->use_bias ? quant_code_bound(&L->bq) : 0;
            if (al.shift_prod > MOST_BITS || al.shift_bias > MOST_BITS)
                rc = upset_fail(err, "layer %s: aligning its sums and bias needs shifts of %d and "
                                     "%d bits, beyond int64",
                                L->name, al.shift_prod, al.shift_bias);
            const magnitude_t sums = grown(in, bits_of(layer_weight_bound(L)) +
                                                   bits_of(L->n_weights / L->cout) + al.shift_prod);
            mag[i] = grown(larger(sums, (magnitude_t){NO_BITS, bits_of(bias) + al.shift_bias}), 1);
        } else {
            mag[i] = grown(in, L->kind == LAYER_ADD ? bits_of(L->n_inputs) : 0);
        }
        if (!rc && mag[i].b > MOST_BITS)
            rc = upset_fail(err, "layer %s: its fixed-point values may reach 2^%d, beyond int64 "
                                 "(its quantizers' precisions lie too far apart)",
                            L->name, mag[i].b);
        if (MOST_BITS - mag[i].a < input_most)
            input_most = MOST_BITS - mag[i].a;
    }
    if (!rc && input_most < 1 && e->input_fixed.fixed)
        rc = upset_fail(err, "layer %s: its fixed-point values may exceed int64 for any input",
                        m->layers[0].name);
    e->input_bits_most = input_most;
    free(mag);
    return rc;
}

int engine_create(engine_t *e, const model_t *m, int input_frac, upset_err_t *err)
{
    memset(e, 0, sizeof *e);
    e->model = m;
    e->input_frac = input_frac;
    e->n_layers = m->n_layers;
    e->out = upset_calloc((size_t)m->n_layers, sizeof *e->out, err);
    e->fuse = upset_calloc((size_t)m->n_layers, 1, err);
    e->unwritten = upset_calloc((size_t)m->n_layers, 1, err);
    e->alias = upset_calloc((size_t)m->n_layers, 1, err);
    e->only_next = upset_calloc((size_t)m->n_layers, 1, err);
    if (!e->out || !e->fuse || !e->unwritten || !e->alias || !e->only_next || tensor_alloc(&e->input, TENSOR_REAL, 0, shape_size(m->input), err))
        goto fail;
    for (int i = 0; i < m->n_layers; i++) {
        const layer_t *L = &m->layers[i];
        /* each layer's type follows from its inputs' (static typing: buffers once) */
        const int src = L->inputs[0];
        tensor_kind_t in_kind[UPSET_MAX_INPUTS], kind;
        int in_frac[UPSET_MAX_INPUTS], frac;
        for (int k = 0; k < L->n_inputs; k++) {
            const int s = L->inputs[k];
            in_kind[k] = s < 0 ? TENSOR_REAL : e->out[s].kind;
            in_frac[k] = s < 0 ? (input_frac >= 0 ? input_frac : 0) : e->out[s].frac;
        }
        layer_out_type(L, in_kind, in_frac, input_frac >= 0 && i == 0, &kind, &frac);
        if (frac > 60 || frac < -60) {
            upset_fail(err, "layer %s: fixed-point precision %d bits is outside -60..60", L->name,
                       frac);
            goto fail;
        }
        if ((L->kind == LAYER_FLATTEN || L->kind == LAYER_RESHAPE) && L->n_inputs == 1 &&
            src >= 0 && kind == e->out[src].kind && frac == e->out[src].frac &&
            shape_size(L->out) == e->out[src].n) {
            e->out[i] = e->out[src];
            e->alias[i] = 1;
        } else if (tensor_alloc(&e->out[i], kind, frac, shape_size(L->out), err)) {
            goto fail;
        }
    }
    for (int i = 0; i < m->n_layers; i++)
        e->only_next[i] = (unsigned char)read_by_next_only(m, i);
    for (int i = 0; i < m->n_layers; i++)
        e->fuse[i] = (unsigned char)fusable(e, i);
    /* a quantized first layer reads the input as exact integers (converted per run) */
    if (input_frac >= 0 && e->out[0].kind == TENSOR_FIXED &&
        m->layers[0].kind != LAYER_QUANT_INPUT &&
        tensor_alloc(&e->input_fixed, TENSOR_FIXED, input_frac, e->input.n, err))
        goto fail;
    if (check_magnitudes(e, err))
        goto fail;
    return 0;
fail:
    engine_free(e);
    return -1;
}

void engine_free(engine_t *e)
{
    tensor_free(&e->input);
    tensor_free(&e->input_fixed);
    for (int i = 0; e->out && i < e->n_layers; i++)
        if (!e->alias || !e->alias[i]) /* an alias's buffer is its input's */
            tensor_free(&e->out[i]);
    free(e->out);
    free(e->fuse);
    free(e->unwritten);
    free(e->alias);
    free(e->only_next);
    e->out = NULL;
    e->fuse = e->unwritten = e->alias = e->only_next = NULL;
}

const tensor_t *engine_output(const engine_t *e)
{
    return &e->out[e->n_layers - 1];
}

void engine_set_input(engine_t *e, const double *x)
{
    memcpy(e->input.real, x, (size_t)e->input.n * sizeof *x);
}

int engine_run(engine_t *e, const double *x, upset_err_t *err)
{
    engine_set_input(e, x);
    return engine_run_layers(e, 0, e->n_layers - 1, err);
}

/* The first layer may read real inputs as exact integers at input_frac. */
static int exact_input(engine_t *e, upset_err_t *err)
{
    const double scale = ldexp(1.0, e->input_frac); /* x * 2^frac is exact, as ldexp */
    int64_t most = 0;
    for (int64_t i = 0; i < e->input.n; i++) {
        double v = e->input.real[i] * scale;
        if (!(fabs(v) <= 9e15) || (double)(int64_t)v != v) /* NaN, huge or not an integer */
            return upset_fail(err, "input value %g is not a multiple of 2^-%d", e->input.real[i],
                              e->input_frac);
        e->input_fixed.fixed[i] = (int64_t)v;
        most = fabs(v) > (double)most ? (int64_t)fabs(v) : most;
    }
    if (bits_of(most) > e->input_bits_most)
        return upset_fail(err, "input value %g is too large for the model's int64 arithmetic "
                               "(inputs must stay below %g)",
                          (double)most * ldexp(1.0, -e->input_frac),
                          ldexp(1.0, e->input_bits_most - e->input_frac));
    e->input_bound = most;
    return 0;
}

const tensor_t *engine_layer_input(const engine_t *e, int l)
{
    const int src = e->model->layers[l].inputs[0];
    if (src >= 0)
        return &e->out[src];
    return e->input_fixed.fixed ? &e->input_fixed : &e->input;
}

tensor_t *engine_layer_input_mut(engine_t *e, int l)
{
    return (tensor_t *)engine_layer_input(e, l);
}

/* A quantized conv2d or dense layer on exact integers: the narrow kernels may run it. */
static int is_narrow(const engine_t *e, int i)
{
    const layer_t *L = &e->model->layers[i];
    return (L->kind == LAYER_CONV2D || L->kind == LAYER_DENSE) && L->n_inputs == 1 &&
           e->out[i].kind == TENSOR_FIXED;
}

/* Layer k is a convolution on exact integers whose one input is layer src's output, in its
 * shape. */
static int reads_codes(const engine_t *e, int k, int src)
{
    const layer_t *N = &e->model->layers[k], *S = &e->model->layers[src];
    return N->kind == LAYER_CONV2D && is_narrow(e, k) && N->inputs[0] == src &&
           e->out[src].kind == TENSOR_FIXED && N->in.h == S->out.h && N->in.w == S->out.w &&
           N->in.c == S->out.c;
}

/* The largest code magnitude layer i reads: its input's quantizer's; -1 when its input
 * is not a quantizer's codes. */
static int64_t input_code_bound(const engine_t *e, int i)
{
    const int src = e->model->layers[i].inputs[0];
    if (src < 0)
        return e->input_fixed.fixed ? e->input_bound : -1;
    if (e->out[src].kind != TENSOR_FIXED)
        return -1;
    const layer_t *S = &e->model->layers[src];
    if (!layer_is_quantizer(S))
        return -1;
    return quant_code_bound(&S->aq);
}

static int run_layers(engine_t *e, int first, int last, int lean, upset_err_t *err);

int engine_run_layers(engine_t *e, int first, int last, upset_err_t *err)
{
    return run_layers(e, first, last, 0, err);
}

int engine_run_lean(engine_t *e, int first, upset_err_t *err)
{
    return run_layers(e, first, e->n_layers - 1, 1, err);
}

void engine_wrote(engine_t *e, int l)
{
    if (l >= 0) {
        e->unwritten[l] = 0;
        return;
    }
    int64_t most = 0; /* the exact input's new bound */
    for (int64_t i = 0; e->input_fixed.fixed && i < e->input_fixed.n; i++) {
        const int64_t v = e->input_fixed.fixed[i] < 0 ? -e->input_fixed.fixed[i] : e->input_fixed.fixed[i];
        most = v > most ? v : most;
    }
    e->input_bound = most;
}

/* lean: intermediate outputs that only the fused kernels read may be left unwritten (and
 * flagged so: a later run that starts after one recomputes it). */
static int run_layers(engine_t *e, int first, int last, int lean, upset_err_t *err)
{
    while (first > 0 && e->model->layers[first].inputs[0] >= 0 &&
           e->unwritten[e->model->layers[first].inputs[0]])
        first = e->model->layers[first].inputs[0];
    if (first == 0 && e->input_fixed.fixed && exact_input(e, err))
        return -1;
    int ready_for = -1; /* the layer whose int16 input the one before wrote */
    int timed = -1;      /* the layer the clock runs for (layer_wall) */
    double t0 = 0;
    for (int i = first; i <= last; i++) {
        const layer_t *L = &e->model->layers[i];
        if (e->layer_wall) {
            const double t = clock_wall_s();
            if (timed >= 0)
                e->layer_wall[timed] += t - t0;
            timed = i, t0 = t;
        }
        e->unwritten[i] = 0;
        if (i < last && e->fuse[i] &&
            batchnorm_quantize(L, &e->model->layers[i + 1], engine_layer_input(e, i),
                               &e->out[i + 1]) == 0) {
            e->unwritten[i++] = 1;
            continue;
        }
        if (is_narrow(e, i)) {
            /* the layer with its batch norm and quantizer on each row as it is written, and
             * with them the next convolution's int16 input */
            narrow_fusion_t f = {0};
            f.input_ready = ready_for == i;
            f.input_bound = input_code_bound(e, i);
            /* in a graph the batch norm after L may read another layer */
            if (i + 2 <= last && e->fuse[i + 1] && e->model->layers[i + 1].inputs[0] == i) {
                f.bn = &e->model->layers[i + 1];
                f.q = &e->model->layers[i + 2];
                f.codes = &e->out[i + 2];
                f.lean_out = lean && e->only_next[i];
                if (i + 3 <= last && reads_codes(e, i + 3, i + 2)) {
                    f.next = &e->model->layers[i + 3];
                    f.lean_codes = lean && e->only_next[i + 2];
                }
            }
            ready_for = -1;
            if (narrow_linear_fused(L, engine_layer_input(e, i), &e->out[i], &f) == 0) {
                e->unwritten[i] = (unsigned char)f.out_skipped;
                if (f.codes_done) {
                    e->unwritten[i + 1] = 1;
                    e->unwritten[i + 2] = (unsigned char)f.codes_skipped;
                    i += 2;
                    ready_for = f.next_ready ? i + 1 : -1;
                }
                continue;
            }
            if (f.input_ready) /* its input may exist only as that copy: no int64 path */
                return upset_fail(err, "layer %s: out of memory", L->name);
        }
        ready_for = -1;
        if (L->n_inputs > 1) {
            const tensor_t *ins[UPSET_MAX_INPUTS];
            for (int k = 0; k < L->n_inputs; k++)
                ins[k] = &e->out[L->inputs[k]];
            if (layer_merge(L, ins, &e->out[i], err))
                return -1;
        } else if (layer_forward(L, engine_layer_input(e, i), &e->out[i], err)) {
            return -1;
        }
    }
    if (e->layer_wall && timed >= 0)
        e->layer_wall[timed] += clock_wall_s() - t0;
    return 0;
}
