/* Delta re-evaluation of single flips (see delta.h for the method). Exactness: every
 * integer is an exact accumulator or quantizer code, so base + Δ·x (or + Σ Δ·W) equals
 * what the whole-tensor forward computes; float and quantizer steps run through the
 * same layer_forward_at the engine's own forwards use. */
#include "upset/delta.h"

#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "upset/kernels.h"

/* Sparse layers keep their pre-activations when they have at most this many outputs
 * per sample; larger ones (CIFAR-10's 32x32x32 maps) recompute the few outputs a
 * change touches from their stored input, which costs little and saves memory. */
enum { PRE_KEEP_MAX = 8192 };

/* A change reaching more than 1/SCATTER_MAX_SHARE of a sparse layer's inputs is handed
 * to the whole-tensor engine from that layer on (measured on CIFAR-10: the scatter's
 * per-input work is several times the dense kernels' per-MAC cost); 1/256 where the layer's
 * pre-activations are not stored, since each pixel a scatter touches is then recomputed
 * at full fan-in (CIFAR-10 conv2 from conv1 flips: more than 16 of its 4,096 inputs. 64 was
 * best when each flip fetched its sample's state from memory; since blocks and shared
 * origins, 128, 256 and 1,024 measured 4-6 % faster on conv1 flips, 32 slower). */
enum { SCATTER_MAX_SHARE = 16, SCATTER_MAX_SHARE_GATHER = 256 };

/* A large layer's whole-tensor int16 kernels run ~50 times the MACs per second of the
 * scatter's scalar loop (CIFAR-10: conv1 whole 59 us for 2.1 M MACs; a scatter of 1,024
 * inputs x 64 MACs ~100 us), so there a change goes whole as soon as its scatter would do
 * more than 1/50 of the layer's MACs; small layers (below 2^18 MACs) keep the share rule,
 * their whole pass being dominated by fixed costs. */
enum { SCATTER_MAC_RATIO = 50 };
#define SCATTER_MAC_RULE_MIN (INT64_C(1) << 18)

/* When more than 1/ELEMENTWISE_WHOLE_SHARE of a sparse layer's pre-activations change
 * (and they are stored), the elementwise layers after it run whole on the vector kernels
 * from the stored values with the changes written over them, instead of position by
 * position. */
enum { ELEMENTWISE_WHOLE_SHARE = 4 };

/* Such a change goes to the engine whole from there on when the rest of the network has
 * at most this many multiply-accumulates (CIFAR-10 after conv4: its dense layer): a few
 * microseconds, less than comparing and scattering the change. */
#define SMALL_TAIL_MACS (INT64_C(1) << 16)

/* 1 when the n changed pre-activations of sparse layer l go through the elementwise
 * layers after it whole (see ELEMENTWISE_WHOLE_SHARE). */
static int goes_whole(const delta_t *d, int l, int64_t n)
{
    return l + 1 < d->next[l] && d->in[l + 1].kind != STORE_NONE &&
           n * ELEMENTWISE_WHOLE_SHARE > d->engine->out[l].n;
}

/* 1 when scattering `live` changed inputs into sparse layer M costs more than running it
 * whole. */
static int wide_change(const delta_t *d, int M, int64_t live)
{
    const int gather = d->in[M + 1].kind == STORE_NONE;
    if (live * (gather ? SCATTER_MAX_SHARE_GATHER : SCATTER_MAX_SHARE) > d->in[M].n)
        return 1;
    const layer_t *L = &d->engine->model->layers[M];
    const int64_t macs = layer_macs(L);
    if (macs < SCATTER_MAC_RULE_MIN)
        return 0;
    const int64_t fanout = L->kind == LAYER_DENSE
                               ? L->cout
                               : (int64_t)L->kh * L->kw * L->cout / (L->stride_h * L->stride_w);
    return live * fanout * SCATTER_MAC_RATIO > macs;
}

/* ---- stores ---- */

static size_t store_elem(store_kind_t k)
{
    switch (k) {
    case STORE_I16:
        return sizeof(int16_t);
    case STORE_I32:
        return sizeof(int32_t);
    case STORE_I64:
        return sizeof(int64_t);
    case STORE_F64:
        return sizeof(double);
    default:
        return 0;
    }
}

static int64_t store_get(const store_t *s, int64_t i, int64_t k)
{
    int64_t at = i * s->n + k;
    switch (s->kind) {
    case STORE_I16:
        return ((const int16_t *)s->data)[at];
    case STORE_I32:
        return ((const int32_t *)s->data)[at];
    default:
        return ((const int64_t *)s->data)[at];
    }
}

/* dst[j] = store_get(s, i, pos[j]), with the type dispatch outside the loop. */
static void store_gather(const store_t *s, int64_t i, const int64_t *pos, int64_t n, int64_t *dst)
{
    const int64_t at = i * s->n;
    switch (s->kind) {
    case STORE_I16:
        for (int64_t j = 0; j < n; j++)
            dst[j] = ((const int16_t *)s->data)[at + pos[j]];
        return;
    case STORE_I32:
        for (int64_t j = 0; j < n; j++)
            dst[j] = ((const int32_t *)s->data)[at + pos[j]];
        return;
    default:
        for (int64_t j = 0; j < n; j++)
            dst[j] = ((const int64_t *)s->data)[at + pos[j]];
        return;
    }
}

static double store_getf(const store_t *s, int64_t i, int64_t k)
{
    return ((const double *)s->data)[i * s->n + k];
}

/* dst[j] = store_get(s, i, start + j) for j < n, the type dispatch outside the loop. */
static void store_span(const store_t *s, int64_t i, int64_t start, int64_t n, int64_t *dst)
{
    const int64_t at = i * s->n + start;
    switch (s->kind) {
    case STORE_I16:
        kernel_widen16((const int16_t *)s->data + at, n, dst);
        return;
    case STORE_I32:
        kernel_widen32((const int32_t *)s->data + at, n, dst);
        return;
    default:
        memcpy(dst, (const int64_t *)s->data + at, (size_t)n * sizeof *dst);
        return;
    }
}

static void store_row(const store_t *s, int64_t i, int64_t *dst) { store_span(s, i, 0, s->n, dst); }

static void store_save(store_t *s, int64_t i, const tensor_t *t)
{
    int64_t at = i * s->n;
    switch (s->kind) {
    case STORE_I16:
        for (int64_t k = 0; k < s->n; k++)
            ((int16_t *)s->data)[at + k] = (int16_t)t->fixed[k];
        return;
    case STORE_I32:
        for (int64_t k = 0; k < s->n; k++)
            ((int32_t *)s->data)[at + k] = (int32_t)t->fixed[k];
        return;
    case STORE_I64:
        memcpy((int64_t *)s->data + at, t->fixed, (size_t)s->n * sizeof(int64_t));
        return;
    case STORE_F64:
        memcpy((double *)s->data + at, t->real, (size_t)s->n * sizeof(double));
        return;
    default:
        return;
    }
}

static void store_load(const store_t *s, int64_t i, tensor_t *t)
{
    if (s->kind == STORE_F64)
        memcpy(t->real, (const double *)s->data + i * s->n, (size_t)s->n * sizeof(double));
    else
        store_row(s, i, t->fixed);
}

/* ---- planning ---- */

static const tensor_t *input_of(const delta_t *d, int k)
{
    return k < d->n_layers ? engine_layer_input(d->engine, k) : &d->engine->out[k - 1];
}

/* The layers the change is scattered through (scatter() follows conv2d and dense; their
 * kinds say which outputs a weight feeds, layer_feeds). */
static int is_sparse(const engine_t *e, int l)
{
    const layer_t *L = &e->model->layers[l];
    return (L->kind == LAYER_CONV2D || L->kind == LAYER_DENSE) && L->quantized &&
           L->act == ACT_LINEAR && e->out[l].kind == TENSOR_FIXED &&
           engine_layer_input(e, l)->kind == TENSOR_FIXED;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t abs64(int64_t a) { return a < 0 ? -a : a; }

/* The layer whose output layer k reads, as input_of (k == n_layers: the network's output,
 * the last layer's), -1 for the model input. In a graph model that need not be layer k - 1:
 * a cut layer may read an earlier one past layers nothing reads, and bounds taken from layer
 * k - 1 would size its store (or its int32 scatter) for the wrong values. */
static int producer(const delta_t *d, int k)
{
    return k < d->n_layers ? d->engine->model->layers[k].inputs[0] : k - 1;
}

/* A bound on |value| of every fault-free input of layer k (-1: none known), so a
 * store can be narrow: quantizer codes, the converted input, sparse pre-activations. */
static int64_t value_bound(const delta_t *d, int k, int64_t input_code_max)
{
    const model_t *m = d->engine->model;
    const int p = producer(d, k);
    if (p < 0)
        return input_code_max;
    const layer_t *P = &m->layers[p];
    if (input_of(d, k)->kind != TENSOR_FIXED)
        return -1;
    if (layer_is_quantizer(P))
        return max64(abs64(quant_code_min(&P->aq)), abs64(quant_code_max(&P->aq)));
    if (P->kind == LAYER_FLATTEN || P->kind == LAYER_RESHAPE)
        return value_bound(d, p, input_code_max);
    if (!d->sparse[p])
        return -1;
    int64_t xb = value_bound(d, p, input_code_max);
    if (xb < 0 || xb > INT32_MAX)
        return -1;
    const int sb = d->engine->out[p].frac - quant_frac(&P->bq);
    if (d->shift_prod[p] > 31 || (P->use_bias && sb > 31)) /* beyond int32: no shift overflows */
        return -1;
    int64_t most = 0;
    for (int c = 0; c < P->cout; c++) {
        int64_t s = 0;
        for (int64_t w = c; w < P->n_weights; w += P->cout)
            s += abs64(P->kernel_code[w]);
        if (xb && s > INT32_MAX / xb) /* checked before the product, which could overflow */
            return -1;
        s *= xb;
        s = s * ((int64_t)1 << d->shift_prod[p]);
        if (P->use_bias)
            s += abs64(P->bias_code[c]) * ((int64_t)1 << sb);
        most = max64(most, s);
        if (most > INT32_MAX)
            return -1;
    }
    return most;
}

/* Whether layers l.. read nothing from before l but layer l's (single) input. */
static int is_cut(const model_t *m, int l)
{
    const layer_t *L = &m->layers[l];
    if (L->n_inputs != 1)
        return 0;
    for (int k = l; k < m->n_layers; k++)
        for (int j = 0; j < m->layers[k].n_inputs; j++) {
            const int s = m->layers[k].inputs[j];
            if (s < l && s != L->inputs[0])
                return 0;
        }
    return 1;
}

/* The first layer of the chain that ends the model: it and every later layer read just
 * the layer before them, so nothing after it branches. */
static int chain_tail(const model_t *m)
{
    int t = m->n_layers - 1;
    while (t > 0 && m->layers[t].n_inputs == 1 && m->layers[t].inputs[0] == t - 1)
        t--;
    return t + 1;
}

/* max - min of the codes layer k's input can hold, for any fault (a quantizer's codes,
 * through flatten / reshape), or -1 when no quantizer bounds them. */
static int64_t input_code_span(const delta_t *d, int k)
{
    const model_t *m = d->engine->model;
    const int p = producer(d, k);
    if (p < 0 || input_of(d, k)->kind != TENSOR_FIXED)
        return -1;
    const layer_t *P = &m->layers[p];
    if (layer_is_quantizer(P))
        return (int64_t)quant_code_max(&P->aq) - quant_code_min(&P->aq);
    if (P->kind == LAYER_FLATTEN || P->kind == LAYER_RESHAPE)
        return input_code_span(d, p);
    return -1;
}

/* Whether a scatter into sparse layer k can accumulate in int32: every change of an input
 * is at most the code span, every weight code (a flip's included) at most the quantizer's
 * bound shifted, and at most fan-in of them meet at one output, so every partial sum fits
 * int32; and the fold's shift is below 32. */
static int scatter_fits_int32(const delta_t *d, int k)
{
    const layer_t *L = &d->engine->model->layers[k];
    const int64_t span = input_code_span(d, k), fan_in = L->n_weights / L->cout,
                  wmax = layer_weight_bound(L);
    if (span < 0 || d->shift_prod[k] < 0 || d->shift_prod[k] >= 32 || wmax > INT32_MAX ||
        span > INT32_MAX)
        return 0;
    return span * wmax <= INT32_MAX / (fan_in ? fan_in : 1);
}

static store_kind_t store_kind_for(const delta_t *d, int k, int64_t input_code_max)
{
    if (input_of(d, k)->kind == TENSOR_REAL)
        return STORE_F64;
    int64_t b = value_bound(d, k, input_code_max);
    if (b >= 0 && b <= INT16_MAX)
        return STORE_I16;
    if (b >= 0 && b <= INT32_MAX)
        return STORE_I32;
    return STORE_I64;
}

int delta_create(delta_t *d, engine_t *e, int64_t n_samples, int64_t input_code_max,
                 upset_err_t *err)
{
    memset(d, 0, sizeof *d);
    const model_t *m = e->model;
    const int n = m->n_layers;
    d->engine = e;
    d->n_layers = n;
    d->n_samples = n_samples;
    d->in = upset_calloc((size_t)n + 1, sizeof *d->in, err);
    d->sparse = upset_calloc((size_t)n, 1, err);
    d->next = upset_calloc((size_t)n, sizeof *d->next, err);
    d->shift_prod = upset_calloc((size_t)n, sizeof *d->shift_prod, err);
    d->acc32_ok = upset_calloc((size_t)n, 1, err);
    d->n_evals = upset_calloc((size_t)n * 3, sizeof *d->n_evals, err);
    d->n_unchanged = d->n_evals ? d->n_evals + n : NULL;
    d->n_wide = d->n_evals ? d->n_evals + 2 * n : NULL;
    unsigned char *need = upset_calloc((size_t)n + 1, 1, err), *reach = upset_calloc((size_t)n, 1, err);
    if (!d->in || !d->sparse || !d->next || !d->shift_prod || !d->acc32_ok || !d->n_evals ||
        !need || !reach)
        goto fail;
    int64_t most = shape_size(m->input), most_sparse = 1, most_pix = 1;
    d->tail_macs = upset_calloc((size_t)n + 1, sizeof *d->tail_macs, err);
    if (!d->tail_macs)
        goto fail;
    for (int l = n - 1; l >= 0; l--) /* from layer l to the end; float layers count too */
        d->tail_macs[l] = d->tail_macs[l + 1] + layer_macs(&m->layers[l]);
    for (int l = 0; l < n; l++) {
        const layer_t *L = &m->layers[l];
        d->sparse[l] = (unsigned char)is_sparse(e, l);
        int k = l + 1;
        while (k < n && layer_is_elementwise(&m->layers[k]))
            k++;
        d->next[l] = k;
        most = max64(most, shape_size(L->out));
        if (d->sparse[l]) {
            d->shift_prod[l] = e->out[l].frac - engine_layer_input(e, l)->frac - quant_frac(&L->kq);
            most_sparse = max64(most_sparse, shape_size(L->out));
            most_pix = max64(most_pix, L->cout);
            d->acc32_ok[l] = (unsigned char)scatter_fits_int32(d, l);
        }
    }
    /* the inputs of faultable layers (cached path), then what each sparse chain reads.
     * In a graph model only where the stored tensor is all the later layers need from
     * before them (a cut of the graph), and sparse propagation (which follows a chain)
     * only in the chain after the last branch */
    if (m->graph) {
        for (int l = 0; l < chain_tail(m); l++)
            d->sparse[l] = 0;
        for (int l = 1; l < n; l++)
            need[l] = m->layers[l].faultable && is_cut(m, l);
        need[n] = 1;
    }
    for (int l = 1; l < n && !m->graph; l++)
        need[l] |= m->layers[l].faultable;
    for (int l = 0; l < n; l++) {
        if (!d->sparse[l] || !(m->layers[l].faultable || reach[l]))
            continue;
        if (l == 0 && !e->input_fixed.fixed)
            continue;
        need[l] = 1;
        if (shape_size(m->layers[l].out) <= PRE_KEEP_MAX)
            need[l + 1] = 1;
        int M = d->next[l];
        need[M] = 1;
        if (M < n && d->sparse[M])
            reach[M] = 1;
    }
    for (int k = 0; k <= n; k++) {
        if (!need[k])
            continue;
        store_t *s = &d->in[k];
        s->n = input_of(d, k)->n;
        s->kind = store_kind_for(d, k, input_code_max);
        s->data = upset_calloc((size_t)(n_samples * s->n), store_elem(s->kind), err);
        if (!s->data)
            goto fail;
    }
    free(need);
    free(reach);
    need = reach = NULL;
    d->pos = upset_calloc((size_t)most, sizeof *d->pos, err);
    d->val = upset_calloc((size_t)most, sizeof *d->val, err);
    d->rval = upset_calloc((size_t)most, sizeof *d->rval, err);
    d->row = upset_calloc((size_t)most, sizeof *d->row, err);
    d->row16 = upset_calloc((size_t)most, sizeof *d->row16, err);
    d->dv = upset_calloc((size_t)most, sizeof *d->dv, err);
    d->acc = upset_calloc((size_t)most_sparse, sizeof *d->acc, err);
    d->acc32 = upset_calloc((size_t)most_sparse, sizeof *d->acc32, err);
    d->touched = upset_calloc((size_t)most_sparse, sizeof *d->touched, err);
    d->mark = upset_calloc((size_t)most_sparse, 1, err);
    d->pix = upset_calloc((size_t)most_pix, sizeof *d->pix, err);
    d->fed.pos = upset_calloc((size_t)most, sizeof *d->fed.pos, err);
    d->fed.x = upset_calloc((size_t)most, sizeof *d->fed.x, err);
    d->fed.base = upset_calloc((size_t)most, sizeof *d->fed.base, err);
    if (!d->fed.pos || !d->fed.x || !d->fed.base || !d->pos || !d->val || !d->rval || !d->row || !d->row16 || !d->dv || !d->acc || !d->acc32 || !d->touched || !d->mark || !d->pix)
        goto fail;
    return 0;
fail:
    free(need);
    free(reach);
    delta_free(d);
    return -1;
}

void delta_free(delta_t *d)
{
    for (int k = 0; d->in && k <= d->n_layers; k++)
        free(d->in[k].data);
    free(d->in);
    free(d->sparse);
    free(d->next);
    free(d->shift_prod);
    free(d->tail_macs);
    free(d->n_evals);
    free(d->pos);
    free(d->val);
    free(d->rval);
    free(d->row);
    free(d->row16);
    free(d->dv);
    free(d->acc);
    free(d->acc32);
    free(d->acc32_ok);
    free(d->touched);
    free(d->mark);
    free(d->pix);
    free(d->fed.pos);
    free(d->fed.x);
    free(d->fed.base);
    memset(d, 0, sizeof *d);
}

void delta_forget(delta_t *d) { d->fed.valid = 0; }

void delta_record(delta_t *d, int64_t i)
{
    delta_forget(d);
    for (int k = 0; k <= d->n_layers; k++)
        if (d->in[k].kind != STORE_NONE)
            store_save(&d->in[k], i, input_of(d, k));
}

int delta_capable(const delta_t *d, int l)
{
    return d->sparse[l] && d->in[l].kind != STORE_NONE;
}

int delta_load_input(delta_t *d, int l, int64_t i)
{
    if (d->in[l].kind == STORE_NONE)
        return -1;
    store_load(&d->in[l], i, engine_layer_input_mut(d->engine, l));
    engine_wrote(d->engine, d->engine->model->layers[l].inputs[0]);
    return 0;
}

int delta_input_matches(const delta_t *d, int l, int64_t i)
{
    const store_t *s = &d->in[l];
    const tensor_t *t = input_of(d, l);
    const int64_t at = i * s->n;
    switch (s->kind) {
    case STORE_NONE:
        return 0;
    case STORE_F64: /* bytewise: a changed sign of zero or a NaN counts as changed */
        return !memcmp(t->real, (const double *)s->data + at, (size_t)s->n * sizeof(double));
    case STORE_I16:
        for (int64_t k = 0; k < s->n; k++)
            if (t->fixed[k] != ((const int16_t *)s->data)[at + k])
                return 0;
        return 1;
    case STORE_I32:
        for (int64_t k = 0; k < s->n; k++)
            if (t->fixed[k] != ((const int32_t *)s->data)[at + k])
                return 0;
        return 1;
    default:
        return !memcmp(t->fixed, (const int64_t *)s->data + at, (size_t)s->n * sizeof(int64_t));
    }
}

int64_t delta_bytes_per_sample(const delta_t *d)
{
    int64_t b = 0;
    for (int k = 0; k <= d->n_layers; k++)
        b += d->in[k].n * (int64_t)store_elem(d->in[k].kind);
    return b;
}

/* ---- sparse linear layers ---- */

/* Sample i's input of sparse layer l into d->row (and its int16 copy when the narrow
 * kernels apply); *loaded: 0 not yet, 1 int64 only, 2 both. */
static void load_row(delta_t *d, int l, int64_t i, int *loaded)
{
    if (*loaded)
        return;
    store_row(&d->in[l], i, d->row);
    *loaded = narrow_input(&d->engine->model->layers[l], d->row, d->in[l].n, d->row16) ? 1 : 2;
}

/* A pre-activation of channel c of sparse layer l from its sum of x * w:
 * bias << shift_bias + sum << shift_prod. */
static int64_t pre_activation(const delta_t *d, int l, int c, int64_t sum)
{
    const layer_t *L = &d->engine->model->layers[l];
    const int sb = d->engine->out[l].frac - quant_frac(&L->bq);
    return (L->use_bias ? (int64_t)L->bias_code[c] * ((int64_t)1 << sb) : 0) +
           sum * ((int64_t)1 << d->shift_prod[l]);
}

/* Pre-activations of output pixel p of sparse layer l, channels [c0, c1), from the
 * layer's input (load_row). */
static void linear_pixel(const delta_t *d, int l, int loaded, int64_t p, int c0, int c1,
                         int64_t *out)
{
    const layer_t *L = &d->engine->model->layers[l];
    if (loaded == 2)
        narrow_pixel_sums(L, d->row16, p, c0, c1, out);
    else
        layer_pixel_sums(L, d->row, p, c0, c1, out);
    for (int c = 0; c < c1 - c0; c++)
        out[c] = pre_activation(d, l, c0 + c, out[c]);
}

/* Sample i's fault-free pre-activations of channel co of sparse layer l at n output
 * pixels, from the layer's stored input. */
static void channel_pre(delta_t *d, int l, int64_t i, int co, const int64_t *pix, int64_t n,
                        int64_t *out)
{
    const layer_t *L = &d->engine->model->layers[l];
    int loaded = 0;
    load_row(d, l, i, &loaded);
    if (loaded == 2)
        narrow_channel_sums(L, d->row16, co, pix, n, out);
    else
        for (int64_t t = 0; t < n; t++)
            layer_pixel_sums(L, d->row, pix[t], co, co + 1, out + t);
    const int64_t bias = pre_activation(d, l, co, 0), sp = (int64_t)1 << d->shift_prod[l];
    for (int64_t t = 0; t < n; t++) /* pre_activation with its terms computed once */
        out[t] = bias + out[t] * sp;
}

/* The outputs of sparse layer a.layer that weight a.weight feeds in sample i, the inputs it
 * meets there (a zero input changes nothing and is left out) and their fault-free
 * pre-activations, into d->fed. */
static void fed_outputs(delta_t *d, bitaddr_t a, int64_t i)
{
    const layer_t *L = &d->engine->model->layers[a.layer];
    const store_t *x = &d->in[a.layer];
    const int cout = L->cout, co = (int)(a.weight % cout);
    int64_t *pos = d->fed.pos, *xv = d->fed.x, *base = d->fed.base, n = 0;
    /* the fed outputs and the inputs they read there (in dv) */
    const int64_t m = layer_feeds(L, a.weight, pos, d->dv);
    if (m == 1) { /* one fed output (every dense weight): read in place, nothing to gather */
        xv[0] = store_get(x, i, d->dv[0]);
        n = xv[0] != 0;
    } else {
        store_gather(x, i, d->dv, m, xv);
        for (int64_t j = 0; j < m; j++) { /* keep the nonzero inputs (branch-free) */
            const int64_t v = xv[j];
            pos[n] = pos[j];
            xv[n] = v;
            n += v != 0;
        }
    }
    if (d->in[a.layer + 1].kind != STORE_NONE) { /* stored: gathered at once */
        store_gather(&d->in[a.layer + 1], i, pos, n, base);
    } else if (n) { /* else the fed pixels' sums, together */
        for (int64_t j = 0; j < n; j++)
            d->touched[j] = pos[j] / cout;
        channel_pre(d, a.layer, i, co, d->touched, n, base);
    }
    d->fed.valid = 1;
    d->fed.layer = a.layer;
    d->fed.weight = a.weight;
    d->fed.sample = i;
    d->fed.n = n;
}

/* The outputs of sparse layer l that the flipped weight feeds: new pre-activations in
 * pos/val. Returns their count. */
static int64_t origin(delta_t *d, bitaddr_t a, int64_t i)
{
    const layer_t *L = &d->engine->model->layers[a.layer];
    if (!d->fed.valid || d->fed.layer != a.layer || d->fed.weight != a.weight ||
        d->fed.sample != i)
        fed_outputs(d, a, i);
    const int64_t dc =
        (int64_t)layer_weight_int(L, a.weight, bitspace_flipped_code(d->engine->model, a)) -
        L->kernel_code[a.weight];
    const int64_t sp = (int64_t)1 << d->shift_prod[a.layer], n = d->fed.n;
    for (int64_t j = 0; j < n; j++) { /* fault-free, plus the change */
        d->pos[j] = d->fed.pos[j];
        d->val[j] = d->fed.base[j] + dc * d->fed.x[j] * sp;
    }
    return n;
}

/* The outputs o in [*lo, *hi] along one axis that input position t (padding added)
 * feeds: 0 <= t - o * stride < k and 0 <= o < n_out (empty: *lo > *hi). */
static void feed_range(int t, int k, int stride, int n_out, int *lo, int *hi)
{
    const int first = t - k + 1; /* the smallest t - (k - 1) */
    *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
    *hi = t / stride;
    if (*hi > n_out - 1)
        *hi = n_out - 1;
}

/* Scatters the changed inputs of sparse layer M (positions pos, changes dv) into its
 * outputs; leaves the changed pre-activations in pos/val. Returns their count. */
static int64_t scatter(delta_t *d, int M, int64_t i, int64_t n_in, const int64_t *dv)
{
    const layer_t *L = &d->engine->model->layers[M];
    const int cin = L->cin, cout = L->cout, narrow = d->acc32_ok[M];
    int64_t nt = 0;
    int ph = 0, pw = 0;
    if (L->kind == LAYER_CONV2D)
        conv_padding(L, &ph, &pw);
    for (int64_t j = 0; j < n_in; j++) {
        const int64_t q = d->pos[j], dx = dv[j];
        if (L->kind == LAYER_DENSE) {
            if (!d->mark[0]) {
                d->mark[0] = 1;
                d->touched[nt++] = 0;
            }
            if (narrow) /* |dx| is at most the code span: scatter_fits_int32 */
                kernel_axpy_i32(d->acc32, (int32_t)dx, L->kernel_code + q * cout, cout);
            else
                kernel_axpy_i64(d->acc, dx, L->kernel_code + q * cout, cout);
            continue;
        }
        const int ci = (int)(q % cin), iw = (int)(q / cin % L->in.w),
                  ih = (int)(q / cin / L->in.w);
        /* the output rows and columns this input feeds: kh = ih + ph - oh * stride_h in
         * [0, kh), found by bounds rather than a division per tap */
        int oh0, oh1, ow0, ow1;
        feed_range(ih + ph, L->kh, L->stride_h, L->out.h, &oh0, &oh1);
        feed_range(iw + pw, L->kw, L->stride_w, L->out.w, &ow0, &ow1);
        for (int oh = oh0; oh <= oh1; oh++) {
            const int kh = ih + ph - oh * L->stride_h;
            for (int ow = ow0; ow <= ow1; ow++) {
                const int kw = iw + pw - ow * L->stride_w;
                const int64_t pix = (int64_t)oh * L->out.w + ow;
                if (!d->mark[pix]) {
                    d->mark[pix] = 1;
                    d->touched[nt++] = pix;
                }
                const int32_t *w = L->kernel_code + (((int64_t)kh * L->kw + kw) * cin + ci) * cout;
                if (narrow)
                    kernel_axpy_i32(d->acc32 + pix * cout, (int32_t)dx, w, cout);
                else
                    kernel_axpy_i64(d->acc + pix * cout, dx, w, cout);
            }
        }
    }
    const int64_t sp = (int64_t)1 << d->shift_prod[M];
    const store_t *pre = &d->in[M + 1];
    int64_t n = 0;
    for (int64_t t = 0; t < nt; t++)
        n += narrow ? kernel_count_nonzero_i32(d->acc32 + d->touched[t] * cout, cout)
                    : kernel_count_nonzero_i64(d->acc + d->touched[t] * cout, cout);
    if (goes_whole(d, M, n)) {
        /* the layers after M run whole: the changed pre-activations go straight into the
         * engine's tensor, over the stored ones, rather than into a list */
        tensor_t *out = &d->engine->out[M];
        store_load(pre, i, out);
        engine_wrote(d->engine, M);
        for (int64_t t = 0; t < nt; t++) {
            const int64_t pix = d->touched[t];
            d->mark[pix] = 0;
            if (narrow)
                kernel_add_shifted_clear_i32(out->fixed + pix * cout, d->acc32 + pix * cout,
                                             d->shift_prod[M], cout);
            else
                kernel_add_shifted_clear_i64(out->fixed + pix * cout, d->acc + pix * cout,
                                             d->shift_prod[M], cout);
        }
        d->written = 1;
        return n;
    }
    int row_loaded = 0;
    n = 0;
    for (int64_t t = 0; t < nt; t++) {
        const int64_t pix = d->touched[t];
        int64_t *acc = d->acc + pix * cout;
        int32_t *acc32 = d->acc32 + pix * cout;
        d->mark[pix] = 0;
        if (pre->kind == STORE_NONE) { /* the pixel's fault-free pre-activations */
            load_row(d, M, i, &row_loaded);
            linear_pixel(d, M, row_loaded, pix, 0, cout, d->pix);
        } else {
            store_span(pre, i, pix * cout, cout, d->pix);
        }
        for (int c = 0; c < cout; c++) { /* branch-free: the changes come unpredictably */
            const int64_t dc = narrow ? acc32[c] : acc[c];
            d->pos[n] = pix * cout + c;
            d->val[n] = d->pix[c] + dc * sp;
            n += dc != 0;
        }
        if (narrow)
            memset(acc32, 0, (size_t)cout * sizeof *acc32);
        else
            memset(acc, 0, (size_t)cout * sizeof *acc);
    }
    return n;
}

/* Compares `end` (the input of the next sparse layer, or the output) with sample i's
 * stored fault-free values s, at the n positions in pos (the others are unchanged) or, with
 * `all`, at every position: those that differ, their values and (fixed) changes go to
 * pos / val / dv (or rval). Returns their count. */
static int64_t changed(delta_t *d, const tensor_t *end, const store_t *s, int64_t i, int64_t n,
                       int all)
{
    int64_t live = 0;
    if (end->kind != TENSOR_FIXED) {
        for (int64_t j = 0; j < n; j++) {
            const int64_t p = all ? j : d->pos[j];
            const double v = end->real[p];
            if (v == store_getf(s, i, p))
                continue;
            d->pos[live] = p;
            d->rval[live++] = v;
        }
        return live;
    }
    const int64_t *base = d->dv; /* the fault-free values, in the order compared */
    if (all) {
        store_row(s, i, d->row);
        base = d->row;
    } else {
        store_gather(s, i, d->pos, n, d->dv);
    }
    /* branch-free (the changes come unpredictably); live <= j: pos[j] and base[j] are read
     * before anything is written over them */
    for (int64_t j = 0; j < n; j++) {
        const int64_t p = all ? j : d->pos[j], v = end->fixed[p], b = base[j];
        d->pos[live] = p;
        d->val[live] = v;
        d->dv[live] = v - b; /* the change, for a scatter */
        live += v != b;
    }
    return live;
}

delta_state_t delta_propagate(delta_t *d, bitaddr_t a, int64_t i)
{
    engine_t *e = d->engine;
    const model_t *m = e->model;
    const int n_layers = d->n_layers;
    d->n_evals[a.layer]++;
    d->written = 0;
    int cur = a.layer;
    int64_t n = origin(d, a, i);
    for (;;) {
        /* changed pre-activations of layer cur -> the elementwise layers -> the input of M */
        const int M = d->next[cur];
        tensor_t *end = M < n_layers ? engine_layer_input_mut(e, M) : &e->out[n_layers - 1];
        const store_t *s = &d->in[M];
        const int to_sparse = M < n_layers && d->sparse[M];
        const int whole = goes_whole(d, cur, n);
        if (whole && d->tail_macs[cur + 1] <= SMALL_TAIL_MACS) {
            /* a wide change before a cheap rest of the network: the engine runs it whole
             * from the stored pre-activations with the changed ones written over them */
            d->n_wide[a.layer]++;
            d->reached = cur + 1;
            d->n_live = d->written ? 0 : n;
            return DELTA_REACHED;
        }
        if (!d->written) { /* (a scatter going whole wrote them already) */
            if (whole) { /* every pre-activation, the changed ones written over them */
                store_load(&d->in[cur + 1], i, &e->out[cur]);
                engine_wrote(e, cur);
            }
            for (int64_t j = 0; j < n; j++)
                e->out[cur].fixed[d->pos[j]] = d->val[j];
        }
        d->written = 0;
        int64_t live;
        if (whole) {
            upset_err_t err; /* elementwise layers do not fail; the engine fuses what it can */
            engine_run_layers(e, cur + 1, M - 1, &err);
            live = changed(d, end, s, i, end->n, 1);
        } else {
            for (int k = cur + 1; k < M; k++)
                layer_forward_list(&m->layers[k], &e->out[k - 1], &e->out[k], d->pos, n);
            live = changed(d, end, s, i, n, 0);
        }
        if (!live) {
            d->n_unchanged[a.layer]++;
            return DELTA_UNCHANGED;
        }
        /* a wide change: the whole-tensor kernels beat a scatter */
        if (!to_sparse || wide_change(d, M, live)) {
            d->n_wide[a.layer] += to_sparse;
            d->reached = M;
            d->n_live = live;
            return DELTA_REACHED;
        }
        n = scatter(d, M, i, live, d->dv);
        cur = M;
    }
}

int delta_finish(delta_t *d, int64_t i, upset_err_t *err)
{
    engine_t *e = d->engine;
    const int M = d->reached, n_layers = d->n_layers;
    tensor_t *t = M < n_layers ? engine_layer_input_mut(e, M) : &e->out[n_layers - 1];
    if (!d->written)
        store_load(&d->in[M], i, t);
    for (int64_t j = 0; j < d->n_live; j++) {
        if (t->kind == TENSOR_FIXED)
            t->fixed[d->pos[j]] = d->val[j];
        else
            t->real[d->pos[j]] = d->rval[j];
    }
    if (M == n_layers)
        return 0;
    engine_wrote(e, e->model->layers[M].inputs[0]);
    return engine_run_lean(e, M, err); /* the output alone is read next */
}
