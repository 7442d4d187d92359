/* Loads the native HDF5 model format (docs/model-format.md) and validates every
 * layer's shapes, so the engine can trust what it runs. */
#include "upset/model.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer_load.h"
#include "upset/fileutil.h"
#include "upset/fnv.h"

static const char *const KIND_NAMES[LAYER_KIND_COUNT] = {
    "quant_input", "conv2d",  "conv2d_transpose", "dense",         "batchnorm",
    "activation",  "flatten", "reshape",          "max_pooling2d", "zero_padding2d",
    "average_pooling2d", "depthwise_conv2d", "add", "concatenate", "up_sampling2d"};

const char *layer_kind_name(layer_kind_t k)
{
    return (unsigned)k < LAYER_KIND_COUNT ? KIND_NAMES[k] : "?";
}

const char *layer_file_kind(const layer_t *L)
{
    return L->bias_add ? "bias_add" : layer_kind_name(L->kind);
}

const char *act_name(act_t a)
{
    static const char *const names[] = {"linear",  "relu",           "sigmoid",
                                        "softmax", "quantized_relu", "quantized_bits"};
    return (unsigned)a < sizeof names / sizeof *names ? names[a] : "?";
}

const char *task_name(task_t t)
{
    return t == TASK_CLASSIFIER ? "classifier" : t == TASK_AUTOENCODER ? "autoencoder" : "encoder";
}

static int read_shape(h5ctx_t *c, hid_t g, const char *name, shape3_t *s)
{
    int64_t v[3];
    int n;
    if (h5_attr_ints(c, g, name, v, 3, &n))
        return -1;
    for (int i = 0; i < n; i++)
        if (v[i] < 1 || v[i] > (1 << 20))
            return upset_fail(c->err, "%s: %s: attribute '%s' has an absurd dimension %lld",
                              c->file, c->where, name, (long long)v[i]);
    s->h = n == 3 ? (int)v[0] : 1;
    s->w = n == 3 ? (int)v[1] : n == 2 ? (int)v[0] : 1;
    s->c = (int)v[n - 1];
    if (shape_size(*s) > (INT64_C(1) << 28)) /* 2 GiB of doubles per tensor and sample */
        return upset_fail(c->err, "%s: %s: attribute '%s' (%d, %d, %d) asks for an absurd tensor",
                          c->file, c->where, name, s->h, s->w, s->c);
    return 0;
}

static uint64_t file_checksum(const char *path)
{
    uint64_t h = FNV1A64_INIT_MODEL_DATA;
    return fnv1a64_file(path, &h) ? 0 : h; /* 0: unreadable, matches no stored checksum */
}

static int same_shape(shape3_t a, shape3_t b) { return a.h == b.h && a.w == b.w && a.c == b.c; }

static shape3_t producer_shape(const model_t *m, int src)
{
    return src < 0 ? m->input : m->layers[src].out;
}

/* The optional `inputs` attribute: the layers a layer reads (default: the one before it).
 * Only layer 0 reads the model input (it alone may read it as exact integers). */
static int read_inputs(h5ctx_t *c, hid_t g, model_t *m, int i)
{
    layer_t *L = &m->layers[i];
    const int merge = layer_kind_multi_input(L->kind);
    L->n_inputs = 1;
    L->inputs[0] = i - 1;
    if (h5_has_attr(g, "inputs")) {
        int64_t v[UPSET_MAX_INPUTS];
        if (h5_attr_ints(c, g, "inputs", v, UPSET_MAX_INPUTS, &L->n_inputs))
            return -1;
        for (int k = 0; k < L->n_inputs; k++) {
            if (v[k] < (i == 0 && !merge ? -1 : 0) || v[k] >= i)
                return upset_fail(c->err,
                                  "%s: %s: inputs[%d] = %lld is not an earlier layer (0..%d%s)",
                                  c->file, c->where, k, (long long)v[k], i - 1,
                                  i == 0 ? ", or -1 for the model input" : "");
            L->inputs[k] = (int)v[k];
        }
    }
    if (L->n_inputs != 1 || L->inputs[0] != i - 1)
        m->graph = 1;
    return 0;
}

/* in_shape is the (first) input's shape (a merge's other inputs: its kind's check). */
static int check_input_shape(h5ctx_t *c, const model_t *m, int i)
{
    const layer_t *L = &m->layers[i];
    const shape3_t p = producer_shape(m, L->inputs[0]);
    if (!same_shape(L->in, p))
        return upset_fail(c->err, "%s: %s: in_shape (%d, %d, %d) is not what %s gives (%d, %d, %d)",
                          c->file, c->where, L->in.h, L->in.w, L->in.c,
                          L->inputs[0] < 0 ? "the model's input_shape" : "its input layer", p.h,
                          p.w, p.c);
    return 0;
}

static int load_layers(h5ctx_t *c, hid_t file, model_t *m)
{
    char where[160];
    int64_t next_bit = 0;
    for (int i = 0; i < m->n_layers; i++) {
        layer_t *L = &m->layers[i];
        char gname[32], s[64];
        snprintf(gname, sizeof gname, "/layers/L%03d", i);
        snprintf(where, sizeof where, "layer %s", gname);
        c->where = where;
        if (H5Lexists(file, "/layers", H5P_DEFAULT) <= 0 ||
            H5Lexists(file, gname, H5P_DEFAULT) <= 0)
            return upset_fail(c->err, "%s: group %s is missing (n_layers = %d)", c->file, gname,
                              m->n_layers);
        hid_t g = H5Gopen2(file, gname, H5P_DEFAULT);
        int rc = h5_attr_string(c, g, "kind", s, sizeof s);
        if (!rc) {
            int k = 0;
            while (k < LAYER_KIND_COUNT && strcmp(KIND_NAMES[k], s))
                k++;
            if (!strcmp(s, "bias_add")) { /* a float bias: the batch norm y = x * 1 + bias */
                k = LAYER_BATCHNORM;
                L->bias_add = 1;
            }
            if (k == LAYER_KIND_COUNT) {
                char list[256] = "";
                for (int j = 0; j < LAYER_KIND_COUNT; j++)
                    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                             j ? ", " : "", KIND_NAMES[j]);
                rc = upset_fail(c->err, "%s: %s: unsupported layer kind '%s' (supported: %s, "
                                        "bias_add)",
                                c->file, where, s, list);
            }
            L->kind = (layer_kind_t)k;
        }
        if (!rc)
            rc = h5_attr_string(c, g, "name", L->name, sizeof L->name);
        if (!rc) {
            snprintf(where, sizeof where, "layer %s (%s)", gname, L->name);
            rc = h5_attr_string(c, g, "part", s, sizeof s);
        }
        if (!rc) {
            if (!strcmp(s, "encoder"))
                L->part = PART_ENCODER;
            else if (!strcmp(s, "decoder"))
                L->part = PART_DECODER;
            else if (!strcmp(s, "main"))
                L->part = PART_MAIN;
            else
                rc = upset_fail(c->err, "%s: %s: part '%s' is not encoder/decoder/main", c->file,
                                where, s);
        }
        int64_t f = 0;
        if (!rc)
            rc = h5_attr_int(c, g, "faultable", &f);
        L->faultable = f != 0;
        if (!rc)
            rc = read_shape(c, g, "in_shape", &L->in);
        if (!rc)
            rc = read_shape(c, g, "out_shape", &L->out);
        if (!rc)
            rc = read_inputs(c, g, m, i);
        if (!rc)
            rc = check_input_shape(c, m, i);
        if (!rc)
            rc = layer_kind_load(c, g, L);
        if (!rc)
            rc = layer_kind_check(c, m, i);
        if (!rc && L->faultable && !(L->quantized && L->kernel_code))
            rc = upset_fail(c->err, "%s: %s: faultable layer has no quantized kernel", c->file,
                            where);
        H5Gclose(g);
        if (rc)
            return -1;
        if (L->faultable) {
            L->bit_first = next_bit;
            L->n_bits = L->n_weights * L->kq.bits;
            next_bit += L->n_bits;
        }
    }
    m->n_fault_bits = next_bit;
    return 0;
}

int model_load(const char *path, model_t *m, upset_err_t *err)
{
    memset(m, 0, sizeof *m);
    snprintf(m->path, sizeof m->path, "%s", path);
    if (file_check_input(path, "a model file", err))
        return -1;
    if (H5Fis_hdf5(path) <= 0)
        return upset_fail(err, "%s: not an HDF5 file (truncated or corrupt model?)", path);
    h5_quiet_t quiet;
    hid_t file = h5_open_quiet(path, &quiet);
    int rc = -1;
    if (file < 0) {
        upset_fail(err, "%s: cannot open as HDF5 (truncated or corrupt model?)", path);
        goto out;
    }
    h5ctx_t c = {path, "/", err};
    char s[256];
    int64_t v;
    if (!h5_has_attr(file, "upset_format")) { /* a Keras model, a data or results file */
        upset_fail(err, "%s: not an upset model (no upset_format attribute); convert Keras "
                        "models with tools/import_qkeras.py", path);
        goto out;
    }
    if (h5_attr_string(&c, file, "upset_format", s, sizeof s))
        goto out;
    if (strcmp(s, "upset-model")) {
        upset_fail(err, "%s: not an upset model (upset_format = '%s'); convert Keras models with "
                        "tools/import_qkeras.py", path, s);
        goto out;
    }
    if (h5_attr_int(&c, file, "format_version", &v))
        goto out;
    if (v != UPSET_MODEL_FORMAT_VERSION) {
        upset_fail(err, "%s: model format_version %lld is not supported (this upset reads %d)",
                   path, (long long)v, UPSET_MODEL_FORMAT_VERSION);
        goto out;
    }
    if (h5_attr_string(&c, file, "name", m->name, sizeof m->name) ||
        h5_attr_string(&c, file, "task", s, sizeof s))
        goto out;
    if (!strcmp(s, "classifier"))
        m->task = TASK_CLASSIFIER;
    else if (!strcmp(s, "autoencoder"))
        m->task = TASK_AUTOENCODER;
    else if (!strcmp(s, "encoder"))
        m->task = TASK_ENCODER;
    else {
        upset_fail(err, "%s: task '%s' is not classifier, autoencoder or encoder", path, s);
        goto out;
    }
    if (read_shape(&c, file, "input_shape", &m->input) || h5_attr_int(&c, file, "n_layers", &v))
        goto out;
    if (v < 1 || v > UPSET_MAX_LAYERS) {
        upset_fail(err, "%s: n_layers = %lld is absurd", path, (long long)v);
        goto out;
    }
    m->n_layers = (int)v;
    m->layers = upset_calloc((size_t)m->n_layers, sizeof *m->layers, err);
    if (!m->layers || load_layers(&c, file, m))
        goto out;
    if (m->task == TASK_AUTOENCODER && model_encoder_last(m) < 0) {
        upset_fail(err, "%s: an autoencoder needs encoder and decoder layers", path);
        goto out;
    }
    if (model_prepare(m, err))
        goto out;
    m->checksum = file_checksum(path);
    rc = 0;
out:
    h5_close_quiet(file, &quiet);
    if (rc)
        model_free(m);
    return rc;
}

static void layer_free(layer_t *L)
{
    free(L->kernel);
    free(L->bias);
    free(L->kernel_code);
    free(L->kernel_shift);
    free(L->bias_code);
    free(L->gamma);
    free(L->beta);
    free(L->moving_mean);
    free(L->moving_variance);
    free(L->bn_scale);
    free(L->bn_offset);
    free(L->convt_w);
    free(L->dense_w);
    free(L->kernel_t16);
    free(L->kernel_p16);
}

/* Derived, read-only forms of the weights, computed once by each layer's kind
 * (layer_kind_prepare). */
int model_prepare(model_t *m, upset_err_t *err)
{
    for (int l = 0; l < m->n_layers; l++) {
        layer_t *L = &m->layers[l];
        if (L->n_inputs == 0) { /* a model built by hand is a chain */
            L->n_inputs = 1;
            L->inputs[0] = l - 1;
        }
        if (layer_kind_prepare(L, err))
            return -1;
    }
    return 0;
}

void model_free(model_t *m)
{
    if (!m)
        return;
    for (int i = 0; m->layers && i < m->n_layers; i++)
        layer_free(&m->layers[i]);
    free(m->layers);
    m->layers = NULL;
    m->n_layers = 0;
}

static int dup_array(void **dst, const void *src, size_t bytes, upset_err_t *err)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = upset_calloc_lines(bytes, 1, err); /* as the originals: whole cache lines */
    if (!*dst) {
        upset_err_append(err, "while copying a model");
        return -1;
    }
    memcpy(*dst, src, bytes);
    return 0;
}

int model_clone(const model_t *src, model_t *dst, upset_err_t *err)
{
    *dst = *src;
    dst->layers = upset_calloc((size_t)src->n_layers, sizeof *dst->layers, err);
    if (!dst->layers)
        return -1;
    for (int i = 0; i < src->n_layers; i++) {
        const layer_t *S = &src->layers[i];
        layer_t *D = &dst->layers[i];
        *D = *S;
        /* the batch-norm arrays: one float a channel where a kind has them, NULL elsewhere */
        const size_t c = (size_t)S->out.c * sizeof(float);
        if (dup_array((void **)&D->kernel, S->kernel, (size_t)S->n_weights * sizeof(float), err) ||
            dup_array((void **)&D->bias, S->bias, (size_t)S->cout * sizeof(float), err) ||
            dup_array((void **)&D->kernel_code, S->kernel_code,
                      (size_t)S->n_weights * sizeof(int32_t), err) ||
            dup_array((void **)&D->kernel_shift, S->kernel_shift,
                      (size_t)S->n_kernel_shift * sizeof(int32_t), err) ||
            dup_array((void **)&D->bias_code, S->bias_code, (size_t)S->cout * sizeof(int32_t),
                      err) ||
            dup_array((void **)&D->gamma, S->gamma, c, err) ||
            dup_array((void **)&D->beta, S->beta, c, err) ||
            dup_array((void **)&D->moving_mean, S->moving_mean, c, err) ||
            dup_array((void **)&D->moving_variance, S->moving_variance, c, err) ||
            dup_array((void **)&D->bn_scale, S->bn_scale, c, err) ||
            dup_array((void **)&D->bn_offset, S->bn_offset, c, err) ||
            dup_array((void **)&D->convt_w, S->convt_w,
                      S->convt_w ? (size_t)(S->convt_cols * S->cin) * sizeof(double) : 0, err) ||
            dup_array((void **)&D->dense_w, S->dense_w,
                      S->dense_w ? (size_t)(S->cin * S->dense_ld) * sizeof(double) : 0, err) ||
            dup_array((void **)&D->kernel_t16, S->kernel_t16,
                      (size_t)(S->kernel_kp * S->cout) * sizeof(int16_t), err) ||
            dup_array((void **)&D->kernel_p16, S->kernel_p16,
                      (size_t)(S->kernel_kp * S->kernel_cout8) * sizeof(int16_t), err)) {
            dst->n_layers = i + 1;
            model_free(dst);
            return -1;
        }
    }
    return 0;
}

int model_encoder_last(const model_t *m)
{
    int last = -1, has_decoder = 0;
    for (int i = 0; i < m->n_layers; i++) {
        if (m->layers[i].part == PART_ENCODER)
            last = i;
        if (m->layers[i].part == PART_DECODER)
            has_decoder = 1;
    }
    return has_decoder ? last : -1;
}
