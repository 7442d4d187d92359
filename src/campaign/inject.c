/* Fault injection with three evaluation paths, all giving identical results:
 *   full   - every layer of every sample (the reference, `--full`);
 *   cached - a fault in layer L re-runs layers L.. from the cached input of L;
 *   delta  - a single flip in a quantized conv/dense layer L recomputes only the
 *            outputs that weight feeds, pushes them through the elementwise layers
 *            after L (batchnorm, quantized activation, flatten) and stops the sample
 *            there when no value changed; otherwise it patches the cached input of the
 *            next non-elementwise layer M and re-runs from M. */
#include "upset/inject.h"

#include <stdlib.h>
#include <string.h>

#include "upset/bitspace.h"
#include "upset/econt.h"

static size_t tensor_elem_size(const tensor_t *t)
{
    return t->kind == TENSOR_FIXED ? sizeof(int64_t) : sizeof(double);
}

static void *tensor_data(const tensor_t *t)
{
    return t->kind == TENSOR_FIXED ? (void *)t->fixed : (void *)t->real;
}

static void copy_output(const tensor_t *t, double *dst)
{
    for (int64_t k = 0; k < t->n; k++)
        dst[k] = tensor_value(t, k);
}

/* The tensor layer l reads (layer 0: the engine's input as converted for it). */
static tensor_t *layer_input(injector_t *in, int l) { return &in->ev.engine.out[l - 1]; }

/* First layer after l that is not elementwise (n_layers when the chain reaches the end). */
static int chain_end(const model_t *m, int l)
{
    int k = l + 1;
    while (k < m->n_layers && layer_is_elementwise(&m->layers[k]))
        k++;
    return k;
}

/* Whether a single flip in layer l can take the delta path. */
static int delta_capable(const injector_t *in, int l)
{
    const layer_t *L = &in->model.layers[l];
    if (l == 0 || (L->kind != LAYER_CONV2D && L->kind != LAYER_DENSE) || !L->quantized ||
        L->act != ACT_LINEAR)
        return 0;
    const engine_t *e = &in->ev.engine;
    return e->out[l].kind == TENSOR_FIXED && e->out[l - 1].kind == TENSOR_FIXED &&
           chain_end(&in->model, l) < in->model.n_layers;
}

/* Whether the input of layer l is made of quantizer codes that fit int16 (looking
 * back through flatten / reshape): such caches are stored narrow, 4x smaller, which
 * keeps a CIFAR-10 oracle over 8,313 images near 1.2 GB per rank. */
static int narrow_input(const model_t *m, int l)
{
    for (int k = l - 1; k >= 0; k--) {
        const layer_t *L = &m->layers[k];
        if (L->kind == LAYER_FLATTEN || L->kind == LAYER_RESHAPE)
            continue;
        int quantizer = L->kind == LAYER_QUANT_INPUT ||
                        (L->kind == LAYER_ACTIVATION && (L->act == ACT_QRELU || L->act == ACT_QBITS));
        return quantizer && L->aq.bits <= 15;
    }
    return 0;
}

static void cache_store(injector_t *in, int l, int64_t i)
{
    const tensor_t *t = layer_input(in, l);
    if (in->cache_narrow[l]) {
        int16_t *dst = (int16_t *)in->cache[l] + i * t->n;
        for (int64_t k = 0; k < t->n; k++)
            dst[k] = (int16_t)t->fixed[k];
        return;
    }
    size_t es = tensor_elem_size(t);
    memcpy((char *)in->cache[l] + (size_t)(i * t->n) * es, tensor_data(t), (size_t)t->n * es);
}

static void cache_load(injector_t *in, int l, int64_t i)
{
    tensor_t *t = layer_input(in, l);
    if (in->cache_narrow[l]) {
        const int16_t *src = (const int16_t *)in->cache[l] + i * t->n;
        for (int64_t k = 0; k < t->n; k++)
            t->fixed[k] = src[k];
        return;
    }
    size_t es = tensor_elem_size(t);
    memcpy(tensor_data(t), (char *)in->cache[l] + (size_t)(i * t->n) * es, (size_t)t->n * es);
}

int injector_create(injector_t *in, const model_t *m, dataset_t *d, int emd_zero_rule, int full,
                    upset_err_t *err)
{
    memset(in, 0, sizeof *in);
    in->data = d;
    in->full = full;
    if (model_clone(m, &in->model, err))
        return -1;
    if (evaluator_create(&in->ev, &in->model, d, emd_zero_rule, err))
        goto fail;
    const int nl = in->model.n_layers;
    in->out_n = shape_size(in->model.layers[nl - 1].out);
    in->base = upset_calloc((size_t)d->n, sizeof *in->base, err);
    in->base_out = upset_calloc((size_t)(d->n * in->out_n), sizeof *in->base_out, err);
    in->cache = upset_calloc((size_t)nl, sizeof *in->cache, err);
    in->cache_n = upset_calloc((size_t)nl, sizeof *in->cache_n, err);
    in->cache_narrow = upset_calloc((size_t)nl, 1, err);
    if (!in->base || !in->base_out || !in->cache || !in->cache_n || !in->cache_narrow)
        goto fail;
    /* cache the input of every faultable layer, and of the layer where its delta
     * chain ends */
    unsigned char *want = upset_calloc((size_t)nl, 1, err);
    if (!want)
        goto fail;
    for (int l = 1; l < nl && !full; l++)
        if (in->model.layers[l].faultable) {
            want[l] = 1;
            if (delta_capable(in, l))
                want[chain_end(&in->model, l)] = 1;
        }
    for (int l = 1; l < nl; l++) {
        if (!want[l])
            continue;
        const tensor_t *t = layer_input(in, l);
        in->cache_n[l] = t->n;
        in->cache_narrow[l] = (unsigned char)(t->kind == TENSOR_FIXED && narrow_input(&in->model, l));
        in->cache[l] = upset_calloc((size_t)(d->n * t->n),
                                    in->cache_narrow[l] ? sizeof(int16_t) : tensor_elem_size(t),
                                    err);
        if (!in->cache[l]) {
            free(want);
            goto fail;
        }
    }
    free(want);
    if (in->model.task == TASK_AUTOENCODER) { /* EMD warm starts from the fault-free bases */
        in->ev.bases = upset_calloc((size_t)d->n, sizeof *in->ev.bases, err);
        if (!in->ev.bases)
            goto fail;
        for (int64_t i = 0; i < d->n; i++)
            if (!(in->ev.bases[i] = emd_basis_create(ECONT_CELLS, ECONT_CELLS, err)))
                goto fail;
    }
    double sum = 0;
    for (int64_t i = 0; i < d->n; i++) {
        if (evaluator_sample(&in->ev, i, &in->base[i], err))
            goto fail;
        sum += in->base[i].emd;
        in->base_mispredicts += d->label && in->base[i].pred != d->label[i];
        copy_output(engine_output(&in->ev.engine), in->base_out + i * in->out_n);
        for (int l = 1; l < nl; l++)
            if (in->cache[l])
                cache_store(in, l, i);
    }
    in->base_mean_emd = d->n ? sum / d->n : 0;
    int64_t most = 1;
    for (int l = 0; l < nl; l++)
        most = in->model.layers[l].out.h * in->model.layers[l].out.w > most
                   ? in->model.layers[l].out.h * in->model.layers[l].out.w
                   : most;
    in->delta_pos = upset_calloc((size_t)most, sizeof *in->delta_pos, err);
    in->delta_vb = upset_calloc((size_t)most, sizeof *in->delta_vb, err);
    in->delta_vn = upset_calloc((size_t)most, sizeof *in->delta_vn, err);
    in->delta_base = upset_calloc((size_t)most, sizeof *in->delta_base, err);
    in->delta_new = upset_calloc((size_t)most, sizeof *in->delta_new, err);
    if (!in->delta_pos || !in->delta_vb || !in->delta_vn || !in->delta_base || !in->delta_new)
        goto fail;
    if (!full) {
        in->memo = upset_calloc((size_t)d->n * MEMO_SLOTS, sizeof *in->memo, err);
        if (!in->memo)
            goto fail;
    }
    return 0;
fail:
    injector_free(in);
    return -1;
}

void injector_free(injector_t *in)
{
    for (int64_t i = 0; in->ev.bases && i < in->data->n; i++)
        emd_basis_free(in->ev.bases[i]);
    free(in->ev.bases);
    evaluator_free(&in->ev);
    for (int l = 0; in->cache && l < in->model.n_layers; l++)
        free(in->cache[l]);
    free(in->cache);
    free(in->cache_n);
    free(in->cache_narrow);
    free(in->base);
    free(in->base_out);
    free(in->memo);
    free(in->delta_pos);
    free(in->delta_vb);
    free(in->delta_vn);
    free(in->delta_base);
    free(in->delta_new);
    model_free(&in->model);
    memset(in, 0, sizeof *in);
}

static int output_changed(const injector_t *in, int64_t i)
{
    const tensor_t *t = engine_output(&in->ev.engine);
    const double *b = in->base_out + i * in->out_n;
    for (int64_t k = 0; k < t->n; k++)
        if (tensor_value(t, k) != b[k])
            return 1;
    return 0;
}

/* One tensor element, either kind. */
static void put(tensor_t *t, int64_t i, injector_value_t v)
{
    if (t->kind == TENSOR_FIXED)
        t->fixed[i] = v.fixed;
    else
        t->real[i] = v.real;
}

static injector_value_t get(const tensor_t *t, int64_t i)
{
    injector_value_t v = {0, 0};
    if (t->kind == TENSOR_FIXED)
        v.fixed = t->fixed[i];
    else
        v.real = t->real[i];
    return v;
}

static int same(const tensor_t *t, injector_value_t a, injector_value_t b)
{
    return t->kind == TENSOR_FIXED ? a.fixed == b.fixed : a.real == b.real;
}

/* Delta path for one sample; *unchanged = 1 when the fault does not reach past the
 * elementwise chain (the caller then reuses the baseline result). */
static int delta_sample(injector_t *in, bitaddr_t a, int64_t i, int *unchanged, int *changed,
                        sample_result_t *s, upset_err_t *err)
{
    engine_t *e = &in->ev.engine;
    const model_t *m = &in->model;
    const int l = a.layer, M = chain_end(m, l);
    const layer_t *L = &m->layers[l];
    tensor_t *x = layer_input(in, l);
    cache_load(in, l, i);
    /* the outputs the weight feeds, before and after the flip (layers from M on do not
     * read layer l's kernel, so the flip is undone at once) */
    int64_t *pos = in->delta_pos, *vb = in->delta_vb, *vn = in->delta_vn;
    int64_t n = layer_weight_outputs(L, x, &e->out[l], a.weight, pos, vb);
    bitspace_flip(&in->model, a);
    layer_weight_outputs(L, x, &e->out[l], a.weight, pos, vn);
    bitspace_flip(&in->model, a);
    injector_value_t *base = in->delta_base, *cur = in->delta_new;
    int64_t live = 0;
    for (int64_t k = 0; k < n; k++) {
        int64_t b = vb[k], c = vn[k];
        if (b == c)
            continue;
        pos[live] = pos[k];
        base[live].fixed = b;
        cur[live].fixed = c;
        live++;
    }
    /* push both values through the elementwise layers, dropping positions that agree */
    for (int k = l + 1; k < M && live; k++) {
        tensor_t *tin = &e->out[k - 1], *tout = &e->out[k];
        int64_t kept = 0;
        for (int64_t j = 0; j < live; j++) {
            put(tin, pos[j], base[j]);
            layer_forward_at(&m->layers[k], tin, tout, pos[j]);
            injector_value_t ob = get(tout, pos[j]);
            put(tin, pos[j], cur[j]);
            layer_forward_at(&m->layers[k], tin, tout, pos[j]);
            injector_value_t oc = get(tout, pos[j]);
            if (same(tout, ob, oc))
                continue;
            pos[kept] = pos[j];
            base[kept] = ob;
            cur[kept] = oc;
            kept++;
        }
        live = kept;
    }
    *unchanged = live == 0;
    if (!live)
        return 0;
    /* One changed value (a dense flip after its quantized activation): the rest of the
     * network is a function of (sample, layer M, position, value) alone, and many flips of
     * the same neuron land on the same value, so the result is memoised. */
    memo_entry_t *slot = NULL;
    if (live == 1 && in->memo) {
        const tensor_t *t = &e->out[M - 1];
        int64_t key = t->kind == TENSOR_FIXED ? cur[0].fixed : 0;
        if (t->kind != TENSOR_FIXED)
            memcpy(&key, &cur[0].real, sizeof key);
        memo_entry_t *row = in->memo + i * MEMO_SLOTS;
        uint64_t h = ((uint64_t)key * 0x9E3779B97F4A7C15ull) ^
                     ((uint64_t)(pos[0] * 64 + M) * 0xC2B2AE3D27D4EB4Full);
        unsigned home = (unsigned)(h >> 40) & (MEMO_SLOTS - 1);
        for (unsigned p = 0; p < 4; p++) {
            memo_entry_t *c = &row[(home + p) & (MEMO_SLOTS - 1)];
            if (c->used && c->pos == pos[0] && c->value == key && c->layer == M) {
                s->emd = c->emd;
                s->pred = c->pred;
                *changed = c->changed;
                in->memo_hits++;
                return 0;
            }
            if (!c->used && !slot)
                slot = c;
        }
        if (!slot)
            slot = &row[home]; /* evict: a cache, any choice is correct */
        slot->pos = pos[0];
        slot->layer = M;
        slot->value = key;
        slot->used = 0; /* until the result is in */
    }
    cache_load(in, M, i);
    for (int64_t j = 0; j < live; j++)
        put(&e->out[M - 1], pos[j], cur[j]);
    if (engine_run_layers(e, M, m->n_layers - 1, err) || evaluator_score(&in->ev, i, s, err))
        return -1;
    *changed = output_changed(in, i);
    if (slot) {
        slot->emd = s->emd;
        slot->pred = s->pred;
        slot->changed = (int8_t)*changed;
        slot->used = 1;
    }
    return 0;
}

int injector_eval(injector_t *in, const int64_t *bits, int n_bits, fault_result_t *r,
                  upset_err_t *err)
{
    memset(r, 0, sizeof *r);
    bitaddr_t addr[n_bits > 0 ? n_bits : 1];
    int first_layer = in->model.n_layers;
    for (int k = 0; k < n_bits; k++) {
        if (bitspace_locate(&in->model, bits[k], &addr[k]))
            return upset_fail(err, "bit index %lld is outside the fault space [0, %lld)",
                              (long long)bits[k], (long long)in->model.n_fault_bits);
        first_layer = addr[k].layer < first_layer ? addr[k].layer : first_layer;
    }
    if (n_bits == 0)
        first_layer = 0;
    int use_delta = !in->full && n_bits == 1 && delta_capable(in, first_layer);
    int use_cache = !in->full && first_layer > 0 && in->cache[first_layer];
    int rc = 0;
    double sum = 0;
    const int last = in->model.n_layers - 1;
    for (int64_t i = 0; i < in->data->n && !rc; i++) {
        sample_result_t s;
        if (use_delta) {
            int unchanged, changed;
            rc = delta_sample(in, addr[0], i, &unchanged, &changed, &s, err);
            if (rc)
                break;
            if (unchanged) {
                sum += in->base[i].emd;
                r->mispredicts += in->data->label && in->base[i].pred != in->data->label[i];
                continue;
            }
            sum += s.emd;
            r->mispredicts += in->data->label && s.pred != in->data->label[i];
            r->n_changed += changed;
            continue;
        } else {
            for (int k = 0; k < n_bits; k++)
                bitspace_flip(&in->model, addr[k]);
            if (use_cache) {
                cache_load(in, first_layer, i);
                rc = engine_run_layers(&in->ev.engine, first_layer, last, err) ||
                     evaluator_score(&in->ev, i, &s, err);
            } else {
                rc = evaluator_sample(&in->ev, i, &s, err);
            }
            for (int k = n_bits - 1; k >= 0; k--) /* restore (flip is an involution) */
                bitspace_flip(&in->model, addr[k]);
            if (rc)
                break;
        }
        sum += s.emd;
        r->mispredicts += in->data->label && s.pred != in->data->label[i];
        r->n_changed += output_changed(in, i);
    }
    if (rc)
        return -1;
    r->mean_emd = in->data->n ? sum / in->data->n : 0;
    r->delta_emd = r->mean_emd - in->base_mean_emd;
    return 0;
}
