/* Model loading, the fault space and the bit-flip primitive on every bundled model:
 * the faultable bit counts published in the FKeras paper, the global bit index
 * against a brute-force enumeration, flips against two's-complement arithmetic,
 * and the loader's refusal of truncated, corrupt or mismatched files. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_util.h"
#include "upset/bitspace.h"
#include "upset/model.h"
#include "upset/results.h"

static const char *const MODELS[] = {"models/econt_small.h5",  "models/econt_medium.h5",
                                     "models/econt_medium5.h5", "models/econt_large.h5",
                                     "models/cifar10.h5",
                                     "models/rn07.h5",         "models/zcu102_encoder.h5",
                                     "models/chisel4ml_digits.h5"};
#define N_MODELS (int)(sizeof MODELS / sizeof *MODELS)

static void load(const char *path, model_t *m)
{
    upset_err_t err = {{0}};
    int rc = model_load(path, m, &err);
    ck_assert_msg(rc == 0, "%s: %s", path, err.msg);
}

/* FKeras paper, Table I / Section V: faultable kernel bits. */
START_TEST(test_published_bit_counts)
{
    static const struct {
        const char *path;
        int64_t bits;
    } want[] = {{"models/econt_medium.h5", 12720},
                {"models/econt_small.h5", 10240},
                {"models/econt_large.h5", 61344},
                {"models/cifar10.h5", 459520}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        model_t m;
        load(want[i].path, &m);
        ck_assert_msg(m.n_fault_bits == want[i].bits, "%s: %lld faultable bits, paper says %lld",
                      want[i].path, (long long)m.n_fault_bits, (long long)want[i].bits);
        model_free(&m);
    }
}
END_TEST

/* Every bit of every model: enumerate layers, weights and positions in the order
 * DESIGN.md defines and compare with bitspace_locate / bitspace_index. */
START_TEST(test_bit_index_round_trip)
{
    model_t m;
    load(MODELS[_i], &m);
    int64_t counter = 0;
    for (int l = 0; l < m.n_layers; l++) {
        const layer_t *L = &m.layers[l];
        if (!L->faultable)
            continue;
        for (int64_t w = 0; w < L->n_weights; w++)
            for (int b = 0; b < L->kq.bits; b++, counter++) {
                bitaddr_t a;
                ck_assert_int_eq(bitspace_locate(&m, counter, &a), 0);
                if (a.layer != l || a.weight != w || a.bit != b)
                    ck_abort_msg("%s: bit %lld maps to (%d,%lld,%d), expected (%d,%lld,%d)",
                                 MODELS[_i], (long long)counter, a.layer, (long long)a.weight,
                                 a.bit, l, (long long)w, b);
                if (bitspace_index(&m, a) != counter)
                    ck_abort_msg("%s: bit %lld does not round-trip", MODELS[_i],
                                 (long long)counter);
            }
    }
    ck_assert_int_eq(counter, m.n_fault_bits);
    bitaddr_t a;
    ck_assert_int_eq(bitspace_locate(&m, -1, &a), -1);
    ck_assert_int_eq(bitspace_locate(&m, m.n_fault_bits, &a), -1);
    model_free(&m);
}
END_TEST

/* Two's complement by arithmetic: the code's unsigned image, the bit's value,
 * plus or minus its weight, back to signed. */
static int32_t flip_by_arithmetic(int32_t code, int bits, int is_signed, int pos)
{
    int64_t span = (int64_t)1 << bits, u = code < 0 ? code + span : code;
    int64_t weight = (int64_t)1 << (bits - 1 - pos);
    u += (u / weight) % 2 ? -weight : weight;
    return (int32_t)(is_signed && u >= span / 2 ? u - span : u);
}

START_TEST(test_flip_every_bit)
{
    model_t m;
    load(MODELS[_i], &m);
    int64_t step = m.n_fault_bits > 100000 ? 7 : 1; /* CIFAR-10: every 7th bit */
    for (int64_t bit = 0; bit < m.n_fault_bits; bit += step) {
        bitaddr_t a;
        bitspace_locate(&m, bit, &a);
        layer_t *L = &m.layers[a.layer];
        int32_t before = layer_weight_code(L, a.weight);
        int32_t want = flip_by_arithmetic(before, L->kq.bits, L->kq.keep_negative, a.bit);
        bitspace_flip(&m, a);
        int32_t after = layer_weight_code(L, a.weight);
        if (after != want)
            ck_abort_msg("%s bit %lld: %d -> %d, arithmetic says %d", MODELS[_i], (long long)bit,
                         before, after, want);
        ck_assert_int_ge(after, quant_code_min(&L->kq));
        ck_assert_int_le(after, quant_code_max(&L->kq));
        bitspace_flip(&m, a);
        ck_assert_int_eq(layer_weight_code(L, a.weight), before);
    }
    model_free(&m);
}
END_TEST

/* QKeras 0.9.0's auto_po2 code of float weight x on a grid of step (the channel's scale,
 * once its iteration has settled): sign(x) * min(floor(|x| / step + 1/2), 2^(bits-1) - 1). */
static int32_t auto_po2_code(double x, double step, int bits)
{
    const double v = fmin(floor(fabs(x) / step + 0.5), ldexp(1.0, bits - 1) - 1);
    return (int32_t)(x < 0 ? -v : v);
}

/* The codes the importer wrote are the QKeras quantization of the float weights (with
 * alpha="auto_po2", on each channel's grid: kernel_code holds the code times 2^shift). */
START_TEST(test_codes_match_float_weights)
{
    model_t m;
    load(MODELS[_i], &m);
    for (int l = 0; l < m.n_layers; l++) {
        const layer_t *L = &m.layers[l];
        if (!L->kernel_code)
            continue;
        for (int64_t w = 0; w < L->n_weights; w++) {
            const int s = layer_weight_shift(L, w);
            int32_t c = L->kernel_shift
                            ? auto_po2_code(L->kernel[w], ldexp(1.0, s - quant_frac(&L->kq)),
                                            L->kq.bits) *
                                  (1 << s)
                            : quant_code_from_double(&L->kq, L->kernel[w]);
            if (c != L->kernel_code[w])
                ck_abort_msg("%s %s[%lld]: float %.9g quantizes to %d, file has %d", MODELS[_i],
                             L->name, (long long)w, L->kernel[w], c, L->kernel_code[w]);
        }
    }
    model_free(&m);
}
END_TEST

/* ---- rejection of bad files ---- */

static void copy_file(const char *src, const char *dst, long limit)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    char buf[65536];
    long total = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        if (limit >= 0 && total + (long)n > limit)
            n = (size_t)(limit - total);
        fwrite(buf, 1, n, out);
        total += (long)n;
        if (limit >= 0 && total >= limit)
            break;
    }
    fclose(in);
    fclose(out);
}

static void expect_reject(const char *path, const char *needle)
{
    model_t m;
    upset_err_t err = {{0}};
    ck_assert_msg(model_load(path, &m, &err) != 0, "%s was accepted", path);
    ck_assert_msg(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "message lacks '%s': %s", needle, err.msg);
}

START_TEST(test_reject_missing_and_truncated)
{
    expect_reject("/nonexistent/model.h5", "cannot open");
    const char *t = "/tmp/upset_check_truncated.h5";
    copy_file("models/econt_medium.h5", t, 5000);
    expect_reject(t, "corrupt");
    copy_file("Makefile", t, -1); /* not HDF5 at all */
    expect_reject(t, "not an HDF5 file");
    unlink(t);
    /* HDF5 but no upset model (a Keras .h5, a data or results file): named as such and the
     * converter pointed to, not "attribute 'upset_format' is missing or unreadable" */
    expect_reject("data/digits/digits.h5", "not an upset model (no upset_format attribute)");
    expect_reject("models/keras/chisel4ml_digits/sint_digit_model.h5", "tools/import_qkeras.py");
}
END_TEST

/* Opens a copy of econt_medium for editing. */
static hid_t edit_copy(const char *dst)
{
    copy_file("models/econt_medium.h5", dst, -1);
    hid_t f = H5Fopen(dst, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    return f;
}

static void set_int_attr(hid_t obj, const char *name, int value)
{
    H5Adelete(obj, name);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_NATIVE_INT, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT, &value);
    H5Aclose(a);
    H5Sclose(sp);
}

START_TEST(test_reject_version_and_structure)
{
    const char *t = "/tmp/upset_check_edit.h5";
    hid_t f = edit_copy(t);
    set_int_attr(f, "format_version", 99);
    H5Fclose(f);
    expect_reject(t, "format_version 99");

    f = edit_copy(t);
    H5Ldelete(f, "layers/L004/kernel_code", H5P_DEFAULT);
    H5Fclose(f);
    expect_reject(t, "kernel_code");

    /* a kernel of the wrong size: shape mismatch with the layer's shapes */
    f = edit_copy(t);
    H5Ldelete(f, "layers/L004/kernel_code", H5P_DEFAULT);
    hsize_t dims[2] = {3, 5};
    int codes[15] = {0};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t d = H5Dcreate2(f, "layers/L004/kernel_code", H5T_NATIVE_INT, sp, H5P_DEFAULT,
                         H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, codes);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
    expect_reject(t, "L004");

    /* a code that does not fit its bit width */
    f = edit_copy(t);
    hid_t ds = H5Dopen2(f, "layers/L001/kernel_code", H5P_DEFAULT);
    hid_t fs = H5Dget_space(ds);
    hsize_t n = (hsize_t)H5Sget_simple_extent_npoints(fs);
    int *all = calloc(n, sizeof *all);
    H5Dread(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, all);
    all[3] = 1 << 20;
    H5Dwrite(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, all);
    free(all);
    H5Sclose(fs);
    H5Dclose(ds);
    H5Fclose(f);
    expect_reject(t, "does not fit");
    unlink(t);
}
END_TEST

/* The model checksum is part of every results file and checkpoint fingerprint: the value
 * each committed results file recorded when it was made must still come out, or resumes
 * and `--resume` over finished campaigns would break. */
START_TEST(test_checksum_stable)
{
    const char *results[] = {"results/oracle_econt_medium.h5", "results/oracle_econt_small.h5"};
    for (size_t i = 0; i < sizeof results / sizeof *results; i++) {
        char *path = NULL, *stored = NULL;
        upset_err_t err = {{0}};
        ck_assert_msg(results_read_attr_string(results[i], "model", &path, &err) == 0 &&
                          results_read_attr_string(results[i], "model_checksum_fnv1a64",
                                                   &stored, &err) == 0,
                      "%s", err.msg);
        model_t m;
        ck_assert_msg(model_load(path, &m, &err) == 0, "%s", err.msg);
        char now[32];
        snprintf(now, sizeof now, "%016llx", (unsigned long long)m.checksum);
        ck_assert_str_eq(now, stored);
        model_free(&m);
        free(path);
        free(stored);
    }
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_published_bit_counts);
    tcase_add_loop_test(tc, test_bit_index_round_trip, 0, N_MODELS);
    tcase_add_loop_test(tc, test_flip_every_bit, 0, N_MODELS);
    tcase_add_loop_test(tc, test_codes_match_float_weights, 0, N_MODELS);
    tcase_add_test(tc, test_reject_missing_and_truncated);
    tcase_add_test(tc, test_reject_version_and_structure);
    tcase_add_test(tc, test_checksum_stable);
    suite_add_tcase(s, tc);
    return s;
}

UPSET_CHECK_MAIN(make_suite)
