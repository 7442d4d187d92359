#include "upset/inject.h"

#include <stdlib.h>
#include <string.h>

#include "upset/bitspace.h"

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
    if (!in->base || !in->base_out || !in->cache || !in->cache_n)
        goto fail;
    for (int l = 1; l < nl && !full; l++) {
        if (!in->model.layers[l].faultable)
            continue;
        const tensor_t *t = &in->ev.engine.out[l - 1];
        in->cache_n[l] = t->n;
        in->cache[l] = upset_calloc((size_t)(d->n * t->n), tensor_elem_size(t), err);
        if (!in->cache[l])
            goto fail;
    }
    double sum = 0;
    for (int64_t i = 0; i < d->n; i++) {
        if (evaluator_sample(&in->ev, i, &in->base[i], err))
            goto fail;
        sum += in->base[i].emd;
        in->base_mispredicts += d->label && in->base[i].pred != d->label[i];
        copy_output(engine_output(&in->ev.engine), in->base_out + i * in->out_n);
        for (int l = 1; l < nl; l++) {
            if (!in->cache[l])
                continue;
            const tensor_t *t = &in->ev.engine.out[l - 1];
            size_t es = tensor_elem_size(t);
            memcpy((char *)in->cache[l] + (size_t)(i * t->n) * es, tensor_data(t),
                   (size_t)t->n * es);
        }
    }
    in->base_mean_emd = d->n ? sum / d->n : 0;
    return 0;
fail:
    injector_free(in);
    return -1;
}

void injector_free(injector_t *in)
{
    evaluator_free(&in->ev);
    for (int l = 0; in->cache && l < in->model.n_layers; l++)
        free(in->cache[l]);
    free(in->cache);
    free(in->cache_n);
    free(in->base);
    free(in->base_out);
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
    for (int k = 0; k < n_bits; k++)
        bitspace_flip(&in->model, addr[k]);
    int use_cache = !in->full && first_layer > 0 && in->cache[first_layer];
    int rc = 0;
    double sum = 0;
    const int last = in->model.n_layers - 1;
    for (int64_t i = 0; i < in->data->n && !rc; i++) {
        sample_result_t s;
        if (use_cache) {
            tensor_t *t = &in->ev.engine.out[first_layer - 1];
            size_t es = tensor_elem_size(t);
            memcpy(tensor_data(t), (char *)in->cache[first_layer] + (size_t)(i * t->n) * es,
                   (size_t)t->n * es);
            rc = engine_run_layers(&in->ev.engine, first_layer, last, err) ||
                 evaluator_score(&in->ev, i, &s, err);
        } else {
            rc = evaluator_sample(&in->ev, i, &s, err);
        }
        if (rc)
            break;
        sum += s.emd;
        r->mispredicts += in->data->label && s.pred != in->data->label[i];
        r->n_changed += output_changed(in, i);
    }
    for (int k = n_bits - 1; k >= 0; k--) /* restore (flip is an involution) */
        bitspace_flip(&in->model, addr[k]);
    if (rc)
        return -1;
    r->mean_emd = in->data->n ? sum / in->data->n : 0;
    r->delta_emd = r->mean_emd - in->base_mean_emd;
    return 0;
}
