/* Model files, structure-aware: the input is a list of edits (set or delete an
 * attribute, overwrite a weight, reshape or delete a dataset) applied with the HDF5
 * API to a bundled model, which is then loaded and, if accepted, run on one input.
 * Byte-level corruption of the HDF5 format itself crashes libhdf5 (h5dump too), so
 * models are trusted input there (docs/model-format.md); what this target checks is
 * that upset's own validation and engine survive every well-formed HDF5 file. */
#include <hdf5.h>
#include <string.h>

#include "fuzz_h5.h"
#include "fuzz_util.h"
#include "upset/engine.h"
#include "upset/h5mem.h"
#include "upset/model.h"

/* the bases: ECON-T Medium, the CIFAR-10 CNN, chisel4ml's digit model (auto_po2 shifts, a
 * bias_add), with their inputs' exact fractional bits */
static unsigned char *base[3];
static size_t base_len[3];
static const int BASE_FRAC[3] = {-1, 8, 0};

static const char *const INT_ATTRS[] = {"faultable", "use_bias", "quantized", "kernel_q_bits",
                                        "kernel_q_integer", "kernel_q_keep_negative",
                                        "bias_q_bits", "bias_q_integer", "q_bits", "q_integer",
                                        "q_keep_negative", "n_layers", "format_version"};
static const char *const SHAPE_ATTRS[] = {"in_shape", "out_shape", "strides", "input_shape"};
/* the window, padding, graph and leaky-relu fields (taken under a flag bit, so the inputs
 * in tests/fuzz/regressions keep their meaning) */
static const char *const MORE_ATTRS[] = {"pool_size", "pads", "size", "inputs",
                                         "q_negative_slope_shift", "epsilon"};
static const char *const STR_ATTRS[] = {"kind", "activation", "padding", "part", "task", "name"};
static const char *const STR_VALUES[] = {
    "conv2d", "dense", "batchnorm", "activation", "flatten", "reshape", "quant_input",
    "conv2d_transpose", "relu", "linear", "softmax", "sigmoid", "quantized_relu",
    "quantized_bits", "same", "valid", "encoder", "decoder", "main", "classifier",
    "autoencoder", "encoder", "bias_add", "", "\xff\xfe"};
static const char *const DATASETS[] = {"kernel", "kernel_code", "bias", "bias_code", "gamma",
                                       "beta", "moving_mean", "moving_variance", "kernel_shift"};
#define N(a) (sizeof a / sizeof *a)

static int load_base(int i, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    base_len[i] = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    base[i] = malloc(base_len[i]);
    size_t got = base[i] ? fread(base[i], 1, base_len[i], f) : 0;
    fclose(f);
    return got == base_len[i] ? 0 : -1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (load_base(0, "models/econt_medium.h5") || load_base(1, "models/cifar10.h5") ||
        load_base(2, "models/chisel4ml_digits.h5")) {
        fprintf(stderr, "fuzz_model: run from the repository root (needs models/)\n");
        exit(1);
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return 0;
}

static hid_t object(hid_t file, unsigned layer)
{
    if (layer == 255)
        return H5Gopen2(file, "/", H5P_DEFAULT);
    char name[32];
    snprintf(name, sizeof name, "/layers/L%03u", layer % 24);
    return H5Gopen2(file, name, H5P_DEFAULT);
}

static void set_attr(hid_t g, const char *name, hid_t type, hid_t space, const void *v)
{
    if (H5Aexists(g, name) > 0)
        H5Adelete(g, name);
    hid_t a = H5Acreate2(g, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        H5Awrite(a, type, v);
        H5Aclose(a);
    }
}

/* One 8-byte edit: op, layer, which, then 5 value bytes. */
static void edit(hid_t file, const uint8_t *e)
{
    hid_t g = object(file, e[1]);
    if (g < 0)
        return;
    int32_t v32;
    memcpy(&v32, e + 3, 4);
    switch (e[0] % 7) {
    case 0: { /* an integer attribute: small values mostly, any int32 sometimes, or stored as
               * a double, whole or not (flag 0x40) */
        int32_t v = e[7] & 1 ? v32 : (int8_t)e[3];
        const double d = v + (e[6] & 1 ? 0.5 : 0.0);
        hid_t sp = H5Screate(H5S_SCALAR);
        if (e[7] & 0x40)
            set_attr(g, INT_ATTRS[e[2] % N(INT_ATTRS)], H5T_NATIVE_DOUBLE, sp, &d);
        else
            set_attr(g, INT_ATTRS[e[2] % N(INT_ATTRS)], H5T_NATIVE_INT32, sp, &v);
        H5Sclose(sp);
        break;
    }
    case 1: { /* a shape-like array of 1 to 3 values: small ones; with flag 0x10 any int32
               * (negative, huge); with 0x20 doubles (fractional too); 0x08: MORE_ATTRS */
        int32_t v[3] = {e[3], e[4], e[5]};
        if (e[7] & 0x10)
            v[0] = v32, v[1] = -v32, v[2] = (int32_t)(0x7fffff00u | e[5]);
        const double d[3] = {v[0] + e[6] % 2 * 0.25, v[1], v[2]};
        hsize_t n = 1 + e[6] % 3;
        const char *name = e[7] & 0x08 ? MORE_ATTRS[e[2] % N(MORE_ATTRS)]
                                       : SHAPE_ATTRS[e[2] % N(SHAPE_ATTRS)];
        hid_t sp = H5Screate_simple(1, &n, NULL);
        if (e[7] & 0x20)
            set_attr(g, name, H5T_NATIVE_DOUBLE, sp, d);
        else
            set_attr(g, name, H5T_NATIVE_INT32, sp, v);
        H5Sclose(sp);
        break;
    }
    case 2: { /* a string attribute, fixed-length or variable-length UTF-8; with bit 2 of
               * e[4] an array of 2 to 4 copies (a converter writing a list) */
        const char *s = STR_VALUES[e[3] % N(STR_VALUES)];
        const hsize_t copies = 2 + e[5] % 3;
        const char *vs[4] = {s, s, s, s};
        char fixed[4][64] = {{0}};
        for (int k = 0; k < 4; k++)
            snprintf(fixed[k], sizeof fixed[k], "%s", s);
        hid_t t = H5Tcopy(H5T_C_S1);
        hid_t sp = e[4] & 2 ? H5Screate_simple(1, &copies, NULL) : H5Screate(H5S_SCALAR);
        if (e[4] & 1) {
            H5Tset_size(t, H5T_VARIABLE);
            H5Tset_cset(t, H5T_CSET_UTF8);
            set_attr(g, STR_ATTRS[e[2] % N(STR_ATTRS)], t, sp, vs);
        } else {
            H5Tset_size(t, e[4] & 2 ? sizeof fixed[0] : strlen(s) + 1);
            set_attr(g, STR_ATTRS[e[2] % N(STR_ATTRS)], t, sp, e[4] & 2 ? (const void *)fixed : s);
        }
        H5Tclose(t);
        H5Sclose(sp);
        break;
    }
    case 3: /* overwrite one element of a weight dataset with raw bytes */
        fuzz_poke_element(g, DATASETS[e[2] % N(DATASETS)], (size_t)(e[3] | e[4] << 8), e + 3);
        break;
    case 4: /* delete an attribute */
        H5Adelete(g, e[3] & 1 ? INT_ATTRS[e[2] % N(INT_ATTRS)] : STR_ATTRS[e[2] % N(STR_ATTRS)]);
        break;
    case 5: /* delete a dataset */
        H5Ldelete(g, DATASETS[e[2] % N(DATASETS)], H5P_DEFAULT);
        break;
    case 6: { /* replace a dataset by one of another shape or type, filled with a byte */
        const char *name = DATASETS[e[2] % N(DATASETS)];
        hsize_t dims[4] = {1 + e[3] % 9, 1 + e[4] % 9, 1 + e[5] % 4, 1 + e[6] % 4};
        if (e[7] & 0x40) /* an axis of no entries (HDF5 allows them) */
            dims[e[6] % 4] = 0;
        int nd = 1 + e[7] % 4;
        hid_t t = e[7] & 16 ? H5T_NATIVE_DOUBLE : e[7] & 32 ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT;
        H5Ldelete(g, name, H5P_DEFAULT);
        hid_t sp = H5Screate_simple(nd, dims, NULL);
        hid_t d = H5Dcreate2(g, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        size_t count = (size_t)(dims[0] * (nd > 1 ? dims[1] : 1) * (nd > 2 ? dims[2] : 1) *
                                (nd > 3 ? dims[3] : 1));
        unsigned char *buf = malloc(count * 8);
        if (d >= 0 && buf) {
            memset(buf, e[5] & 0x3f, count * 8);
            H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        }
        free(buf);
        if (d >= 0)
            H5Dclose(d);
        H5Sclose(sp);
        break;
    }
    }
    H5Gclose(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1)
        return 0;
    const int b = data[0] & 2 ? 2 : data[0] & 1; /* first byte 0, 1: as before 2 was added */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 20, 0);
    H5Pset_file_image(fapl, base[b], base_len[b]);
    hid_t file = H5Fopen("fuzz-model.h5", H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    if (file < 0)
        abort(); /* the bundled model itself */
    for (size_t i = 1; i + 8 <= n && i < 1 + 8 * 16; i += 8)
        edit(file, data + i);
    upset_err_t err = {{0}};
    const char *path = fuzz_file(NULL, 0);
    if (h5mem_save(file, path, &err)) {
        if (getenv("UPSET_FUZZ_VERBOSE"))
            fprintf(stderr, "fuzz_model: %s\n", err.msg);
        return 0;
    }
    model_t m;
    int loaded = model_load(path, &m, &err) == 0;
    if (getenv("UPSET_FUZZ_VERBOSE")) /* why an input was refused, when replaying one */
        fprintf(stderr, "fuzz_model: %s\n", loaded ? "accepted" : err.msg);
    if (loaded) {
        engine_t e;
        if (engine_create(&e, &m, BASE_FRAC[b], &err) == 0) {
            double *x = calloc((size_t)shape_size(m.input), sizeof *x);
            if (x) {
                for (int64_t i = 0; i < shape_size(m.input); i++)
                    x[i] = (double)(i % 7) / 8;
                engine_run(&e, x, &err);
            }
            free(x);
            engine_free(&e);
        }
        model_free(&m);
    }
    return 0;
}
