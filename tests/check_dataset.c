/* Data loaders: HGCal CSV normalisation and arrangement checked by hand against
 * the CSV text, CIFAR-10 records against their bytes, and a clear refusal of
 * truncated, corrupt and mismatched files. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_util.h"
#include "upset/campaign_data.h"
#include "upset/dataset.h"
#include "upset/econt.h"
#include "upset/results.h"

static const char *TTBAR = "data/hgcal/ttbar_0PU.csv";

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static char *header(void)
{
    static char h[1024];
    h[0] = 0;
    for (int i = 0; i < 48; i++)
        sprintf(h + strlen(h), "CALQ_%d%s", i, i < 47 ? "," : "\n");
    return h;
}

/* Rows written by hand: an empty row is dropped, sums normalise by a power of two. */
START_TEST(test_hgcal_normalisation)
{
    const char *p = "/tmp/upset_check_hgcal.csv";
    char text[4096];
    strcpy(text, header());
    /* row 1: all zero (dropped); row 2: cell 0 = 3, cell 47 = 2 (sum 5 -> divide by 4);
     * row 3: cell 5 = 8 (sum 8 -> divide by 8) */
    strcat(text, "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0\n");
    strcat(text, "3,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2\n");
    strcat(text, "0,0,0,0,0,8,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0\n");
    write_text(p, text);
    dataset_t d;
    upset_err_t err = {{0}};
    const char *files[] = {p};
    ck_assert_msg(dataset_load_hgcal(files, 1, 0, 2, &d, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(d.n, 2);
    ck_assert_int_eq(d.index[0], 0);
    ck_assert_int_eq(d.index[1], 1);
    ck_assert(d.cells[0] == 0.75 && d.cells[47] == 0.5);
    ck_assert(d.cells[48 + 5] == 1.0);
    /* arrangement: pixel 4 of row 0 holds trigger cell 0 (arrange_8x8 table), pixel 63 holds
     * cell 44; cell 47 sits at pixel 32 (pixel 60 also maps to it but is masked) */
    ck_assert(d.x[4] == 0.75);
    ck_assert(d.x[32] == 0.5);
    ck_assert(d.x[36] == 0 && d.x[63] == 0); /* masked pixel; cell 44 is empty */
    double total = 0;
    for (int k = 0; k < 64; k++)
        total += d.x[64 + k];
    ck_assert(total == 1.0); /* cell 5 appears once in the 8x8 image */
    dataset_free(&d);
    /* offset counts non-empty rows */
    ck_assert_msg(dataset_load_hgcal(files, 1, 1, 1, &d, &err) == 0, "%s", err.msg);
    ck_assert(d.cells[5] == 1.0 && d.index[0] == 1);
    dataset_free(&d);
    /* asking for more rows than exist */
    ck_assert_int_ne(dataset_load_hgcal(files, 1, 0, 3, &d, &err), 0);
    ck_assert_msg(strstr(err.msg, "only 2 non-empty rows"), "%s", err.msg);
    /* count < 0: every non-empty row from offset on (upset protect counts held-out rows) */
    ck_assert_msg(dataset_load_hgcal(files, 1, 1, -1, &d, &err) == 0, "%s", err.msg);
    ck_assert(d.n == 1 && d.index[0] == 1 && d.cells[5] == 1.0);
    dataset_free(&d);
    ck_assert_msg(dataset_load_hgcal(files, 1, 2, -1, &d, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(d.n, 0);
    dataset_free(&d);
    unlink(p);
}
END_TEST

/* The first real ttbar row, normalised, against values computed here from its text. */
START_TEST(test_hgcal_real_rows)
{
    FILE *f = fopen(TTBAR, "r");
    ck_assert_ptr_nonnull(f);
    char line[8192];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f)); /* header */
    double q[48], sum = 0;
    do {
        ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
        char *p = line;
        sum = 0;
        for (int i = 0; i < 48; i++) {
            q[i] = strtod(p, &p);
            p++;
            sum += q[i];
        }
    } while (sum == 0);
    fclose(f);
    double scale = 1;
    while (scale * 2 <= sum)
        scale *= 2;
    dataset_t d;
    upset_err_t err = {{0}};
    const char *files[] = {TTBAR};
    ck_assert_msg(dataset_load_hgcal(files, 1, 0, 20000, &d, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 48; i++)
        ck_assert(d.cells[i] == q[i] / scale);
    ck_assert_int_eq(d.n, 20000);
    dataset_free(&d);
}
END_TEST

/* CRLF line endings throughout, blank lines included: read like the LF file. */
START_TEST(test_hgcal_crlf)
{
    char text[4096] = "", row[256] = "";
    for (int i = 0; i < 48; i++)
        sprintf(text + strlen(text), "CALQ_%d%s", i, i < 47 ? "," : "\r\n");
    for (int i = 0; i < 48; i++)
        sprintf(row + strlen(row), "%d%s", i % 5, i < 47 ? "," : "\r\n");
    strcat(text, row);
    strcat(text, "\r\n"); /* a blank line, as an LF file may have one */
    strcat(text, row);
    const char *p = "/tmp/upset_check_crlf.csv";
    write_text(p, text);
    dataset_t d;
    upset_err_t err = {{0}};
    const char *files[] = {p};
    ck_assert_msg(dataset_load_hgcal(files, 1, 0, 2, &d, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(d.n, 2);
    ck_assert_int_eq(d.index[1], 1);
    dataset_free(&d);
    unlink(p);
}
END_TEST

static void expect_hgcal_reject(const char *text, const char *needle)
{
    const char *p = "/tmp/upset_check_bad.csv";
    write_text(p, text);
    dataset_t d;
    upset_err_t err = {{0}};
    const char *files[] = {p};
    ck_assert_msg(dataset_load_hgcal(files, 1, 0, 1, &d, &err) != 0, "accepted: %.60s", text);
    ck_assert_msg(strstr(err.msg, p), "message does not name the file: %s", err.msg);
    ck_assert_msg(strstr(err.msg, needle), "message lacks '%s': %s", needle, err.msg);
    unlink(p);
}

START_TEST(test_hgcal_rejects)
{
    char text[4096];
    expect_hgcal_reject("", "empty file");
    expect_hgcal_reject("a,b,c\n1,2,3\n", "header");
    snprintf(text, sizeof text, "%s", header()); /* a 49th column, or CALQ_470 */
    snprintf(text + strlen(text) - 1, 64, ",CALQ_48\n0,1\n");
    expect_hgcal_reject(text, "',CALQ_48' follows CALQ_47");
    snprintf(text, sizeof text, "%s", header());
    snprintf(text + strlen(text) - 1, 64, "0\n0,1\n");
    expect_hgcal_reject(text, "'0' follows CALQ_47");
    snprintf(text, sizeof text, "%s", header()); /* CR alone ends each line: one long line */
    snprintf(text + strlen(text) - 1, 64, "\r1,2\r");
    expect_hgcal_reject(text, ":1: lines end in a bare CR");
    snprintf(text, sizeof text, "%s1,2,3\n", header()); /* truncated row */
    expect_hgcal_reject(text, ":2:");
    snprintf(text, sizeof text, "%s1,2,x,4\n", header()); /* not a number */
    expect_hgcal_reject(text, ":2:");
    /* 2^53 + 1: read as a double it rounds to 2^53, which is allowed */
    snprintf(text, sizeof text, "%s9007199254740993", header());
    for (int i = 1; i < 48; i++)
        strcat(text, ",0");
    strcat(text, "\n");
    expect_hgcal_reject(text, "(CALQ_0) = 9007199254740993 exceeds 2^53");
    { /* a NUL byte mid-row: the rest of the row must not vanish */
        const char *p = "/tmp/upset_check_nul.csv";
        FILE *f = fopen(p, "w");
        ck_assert_ptr_nonnull(f);
        fputs(header(), f);
        for (int i = 0; i < 48; i++)
            fprintf(f, "1%s", i < 47 ? "," : "");
        fwrite("\0,7,7\n", 1, 6, f);
        fclose(f);
        dataset_t d;
        upset_err_t err = {{0}};
        const char *files[] = {p};
        ck_assert_int_ne(dataset_load_hgcal(files, 1, 0, 1, &d, &err), 0);
        ck_assert_msg(strstr(err.msg, ":2: holds a NUL byte"), "%s", err.msg);
        unlink(p);
    }
    dataset_t d;
    upset_err_t err = {{0}};
    const char *missing[] = {"/nonexistent/x.csv"};
    ck_assert_int_ne(dataset_load_hgcal(missing, 1, 0, 1, &d, &err), 0);
    ck_assert_msg(strstr(err.msg, "/nonexistent/x.csv"), "%s", err.msg);
    /* files after the rows needed are checked too: a missing one, one that is not an HGCal
     * CSV and an empty one were skipped unread (the campaign ran on the first file alone) */
    const char *p = "/tmp/upset_check_notcalq.csv", *e = "/tmp/upset_check_empty.csv";
    write_text(p, "tc_cellu,tc_cellv\n7,4\n");
    write_text(e, "");
    const char *after[][2] = {{TTBAR, "/nonexistent/x.csv"}, {TTBAR, p}, {TTBAR, e}};
    const char *want[] = {"/nonexistent/x.csv: cannot open", ":1: header must be", ": empty file"};
    for (int k = 0; k < 3; k++) {
        ck_assert_int_ne(dataset_load_hgcal(after[k], 2, 0, 10, &d, &err), 0);
        ck_assert_msg(strstr(err.msg, want[k]) && strstr(err.msg, after[k][1]), "%s", err.msg);
    }
    unlink(p);
    unlink(e);
}
END_TEST

START_TEST(test_cifar10_records)
{
    dataset_t d;
    upset_err_t err = {{0}};
    const char *bin = "data/cifar10/test_batch_first1017.bin";
    ck_assert_msg(dataset_load_cifar10(bin, NULL, 5, 3, &d, &err) == 0, "%s", err.msg);
    FILE *f = fopen(bin, "rb");
    unsigned char rec[3073];
    fseek(f, 6L * 3073, SEEK_SET); /* image 6 = sample 1 */
    ck_assert_int_eq(fread(rec, 1, 3073, f), 3073);
    fclose(f);
    ck_assert_int_eq(d.label[1], rec[0]);
    /* (h, w, c) with c from the R, G, B planes: pixel (2, 7) green */
    ck_assert(d.x[3072 + (2 * 32 + 7) * 3 + 1] == rec[1 + 1024 + 2 * 32 + 7] / 256.0);
    ck_assert_int_eq(d.index[0], 5);
    dataset_free(&d);
}
END_TEST

static void copy_prefix(const char *src, const char *dst, long n, int corrupt_label)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    for (long i = 0; i < n; i++) {
        int c = fgetc(in);
        if (corrupt_label && i == 3073)
            c = 42;
        fputc(c, out);
    }
    fclose(in);
    fclose(out);
}

START_TEST(test_cifar10_rejects)
{
    const char *bin = "data/cifar10/test_batch_first1017.bin", *t = "/tmp/upset_check_c10.bin";
    dataset_t d;
    upset_err_t err = {{0}};
    copy_prefix(bin, t, 3073 * 2 + 100, 0); /* truncated record */
    ck_assert_int_ne(dataset_load_cifar10(t, NULL, 0, -1, &d, &err), 0);
    ck_assert_msg(strstr(err.msg, t) && strstr(err.msg, "whole number"), "%s", err.msg);
    copy_prefix(bin, t, 3073 * 3, 1); /* label byte 42 in image 1 */
    ck_assert_int_ne(dataset_load_cifar10(t, NULL, 0, -1, &d, &err), 0);
    ck_assert_msg(strstr(err.msg, "label 42"), "%s", err.msg);
    /* labels that disagree with the records: image 0's labels file entry shifted */
    copy_prefix(bin, t, 3073 * 3, 0);
    ck_assert_int_ne(dataset_load_cifar10(t, "data/cifar10/non_faulty_correct_indices.npy", 0,
                                          -1, &d, &err),
                     0);
    ck_assert_msg(strstr(err.msg, "mismatched") || strstr(err.msg, "labels"), "%s", err.msg);
    ck_assert_int_ne(dataset_load_cifar10(t, NULL, 2, 5, &d, &err), 0);
    ck_assert_msg(strstr(err.msg, "out of range"), "%s", err.msg);
    /* an offset past the end with every image asked for names "all", not the -1 inside */
    ck_assert_int_ne(dataset_load_cifar10(t, NULL, 3, -1, &d, &err), 0);
    ck_assert_msg(strstr(err.msg, "holds 3 images; offset 3 count all is out of range"), "%s",
                  err.msg);
    unlink(t);
}
END_TEST

START_TEST(test_shape_mismatch)
{
    model_t m;
    dataset_t d;
    upset_err_t err = {{0}};
    ck_assert_int_eq(model_load("models/econt_medium.h5", &m, &err), 0);
    ck_assert_int_eq(dataset_load_cifar10("data/cifar10/test_batch_first1017.bin", NULL, 0, 4,
                                          &d, &err),
                     0);
    ck_assert_int_ne(dataset_check_model(&d, &m, "test", &err), 0);
    ck_assert_msg(strstr(err.msg, "(32,32,3)") && strstr(err.msg, "(8,8,1)"), "%s", err.msg);
    dataset_free(&d);
    model_free(&m);
}
END_TEST

/* The data checksum is part of every results file and checkpoint fingerprint: loading a
 * committed file's campaign data again (the campaign it recorded) must give the value it
 * recorded then, or `--resume` over finished campaigns would refuse them. */
START_TEST(test_checksum_stable)
{
    const char *results[] = {"results/oracle_econt_small.h5", "results/oracle_cifar10.h5"};
    for (size_t i = 0; i < sizeof results / sizeof *results; i++) {
        char *yaml = NULL, *stored = NULL;
        upset_err_t err = {{0}};
        ck_assert_msg(results_read_attr_string(results[i], "campaign_yaml", &yaml, &err) == 0 &&
                          results_read_attr_string(results[i], "data_checksum_fnv1a64",
                                                   &stored, &err) == 0,
                      "%s", err.msg);
        campaign_t c;
        model_t m;
        dataset_t d = {0};
        campaign_defaults(&c);
        ck_assert_msg(campaign_load_yaml_string(&c, yaml, strlen(yaml), results[i], &err) == 0,
                      "%s", err.msg);
        ck_assert_msg(model_load(c.model, &m, &err) == 0, "%s", err.msg);
        ck_assert_msg(campaign_load_dataset(&c, &m, &d, &err) == 0, "%s", err.msg);
        char now[32];
        snprintf(now, sizeof now, "%016llx", (unsigned long long)dataset_checksum(&d));
        ck_assert_str_eq(now, stored);
        dataset_free(&d);
        model_free(&m);
        campaign_free(&c);
        free(yaml);
        free(stored);
    }
}
END_TEST

/* dataset_first_copies against an O(n^2) comparison of every pair's bytes, on real HGCal
 * rows (ttbar at 0 pile-up repeats many) and on samples made to differ in one part only. */
static void first_copies_brute(const dataset_t *d, const int64_t *first)
{
    const int64_t per = shape_size(d->shape);
    for (int64_t i = 0; i < d->n; i++) {
        int64_t want = i;
        for (int64_t j = 0; j < i && want == i; j++)
            if ((!d->label || d->label[i] == d->label[j]) &&
                !memcmp(d->x + i * per, d->x + j * per, (size_t)per * sizeof *d->x) &&
                (!d->cells || !memcmp(d->cells + i * HGCAL_CELLS, d->cells + j * HGCAL_CELLS,
                                      HGCAL_CELLS * sizeof *d->cells)))
                want = j;
        ck_assert_msg(first[i] == want, "sample %lld: first copy %lld, brute force %lld",
                      (long long)i, (long long)first[i], (long long)want);
    }
}

/* An hdf5 data file of n values as (n, 1) float32 /x, read back: its input_frac, the
 * smallest f <= 30 with every x * 2^f a whole number below 2^52 (else -1). */
static int hdf5_input_frac(const float *x, int n)
{
    char path[] = "/tmp/upset-check-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {(hsize_t)n, 1};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t d = H5Dcreate2(f, "x", H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
    dataset_t ds;
    upset_err_t err;
    ck_assert_msg(dataset_load_hdf5(path, 0, -1, &ds, &err) == 0, "%s", err.msg);
    const int frac = ds.input_frac;
    ck_assert_int_eq(ds.n, n);
    dataset_free(&ds);
    unlink(path);
    return frac;
}

/* A few hundred bytes of HDF5 can declare an /x of 2^64 values (chunked, never written):
 * refused by its shape, not read into a wrapped-around allocation. */
START_TEST(test_hdf5_huge_shape)
{
    const hsize_t shapes[][4] = {{1u << 20, 1u << 22, 1u << 22, 0}, {1, 2147483656u, 1, 1}};
    const int nds[] = {3, 4};
    for (int k = 0; k < 2; k++) {
        char path[] = "/tmp/upset-check-XXXXXX";
        int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        close(fd);
        hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        hid_t sp = H5Screate_simple(nds[k], shapes[k], NULL);
        hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
        hsize_t chunk[4] = {1, 1, 1, 1};
        H5Pset_chunk(pl, nds[k], chunk);
        hid_t d = H5Dcreate2(f, "x", H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
        ck_assert_int_ge(d, 0);
        H5Dclose(d);
        H5Pclose(pl);
        H5Sclose(sp);
        H5Fclose(f);
        dataset_t ds;
        upset_err_t err = {{0}};
        ck_assert_int_ne(dataset_load_hdf5(path, 0, 1, &ds, &err), 0);
        ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "too large"), "%s", err.msg);
        unlink(path);
    }
}
END_TEST

/* Values that do not fit the memory type are refused, not saturated: an int64 label 2^40
 * read as 2147483647 (and reported as that class), a double 1e39 as float32's infinity. */
START_TEST(test_hdf5_values_out_of_range)
{
    const int64_t labels[3] = {1, INT64_C(1) << 40, 3};
    const double xs[3 * 2] = {0, 1, 1e39, 2, 3, 4};
    for (int k = 0; k < 2; k++) {
        char path[] = "/tmp/upset-check-XXXXXX";
        int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        close(fd);
        hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        hsize_t dx[2] = {3, 2}, dy[1] = {3};
        hid_t sx = H5Screate_simple(2, dx, NULL), sy = H5Screate_simple(1, dy, NULL);
        hid_t x = H5Dcreate2(f, "x", H5T_NATIVE_DOUBLE, sx, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        hid_t y = H5Dcreate2(f, "y", H5T_NATIVE_INT64, sy, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        const double small[3 * 2] = {0, 1, 2, 3, 4, 5};
        H5Dwrite(x, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, k ? xs : small);
        const int64_t fine[3] = {1, 2, 3};
        H5Dwrite(y, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, k ? fine : labels);
        H5Dclose(x);
        H5Dclose(y);
        H5Sclose(sx);
        H5Sclose(sy);
        H5Fclose(f);
        dataset_t ds;
        upset_err_t err = {{0}};
        ck_assert_int_ne(dataset_load_hdf5(path, 0, -1, &ds, &err), 0);
        ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, k ? "dataset 'x'" : "dataset 'y'") &&
                          strstr(err.msg, k ? "outside float32's range" : "outside int32's range"),
                      "%s", err.msg);
        unlink(path);
    }
}
END_TEST

/* The exact fractional bits of hdf5 inputs, by cases worked out by hand. */
START_TEST(test_hdf5_input_frac)
{
    const float ints[] = {0, 3, 16, -7}, quarters[] = {0.5f, -0.25f, 3}, tenth[] = {0.1f, 1};
    const float fine[] = {0x3p-30f, 1}, finer[] = {0x1p-31f}, huge[] = {0x1p60f}, zero[] = {0, -0.0f};
    ck_assert_int_eq(hdf5_input_frac(ints, 4), 0);
    ck_assert_int_eq(hdf5_input_frac(quarters, 3), 2);
    ck_assert_int_eq(hdf5_input_frac(tenth, 2), 27);       /* 0.1f = 13421773 * 2^-27 */
    ck_assert_int_eq(hdf5_input_frac(fine, 2), 30);
    ck_assert_int_eq(hdf5_input_frac(finer, 1), -1);       /* beyond 30 bits */
    ck_assert_int_eq(hdf5_input_frac(huge, 1), -1);        /* not below 2^52 */
    ck_assert_int_eq(hdf5_input_frac(zero, 2), 0);
}
END_TEST

START_TEST(test_first_copies)
{
    upset_err_t err = {{0}};
    dataset_t d;
    const char *files[] = {TTBAR};
    ck_assert_msg(dataset_load_hgcal(files, 1, 0, 2000, &d, &err) == 0, "%s", err.msg);
    int64_t *first = malloc((size_t)d.n * sizeof *first);
    const int64_t copies = dataset_first_copies(&d, first, &err);
    first_copies_brute(&d, first);
    int64_t counted = 0;
    for (int64_t i = 0; i < d.n; i++)
        counted += first[i] != i;
    ck_assert_int_eq(copies, counted);
    ck_assert_int_gt(copies, 100); /* low-occupancy wafers repeat */
    /* samples 1 and 2 made copies of sample 0, then 2 made to differ in its cells alone,
     * sample 3 of sample 0 by the sign of one zero input */
    const int64_t per = shape_size(d.shape);
    for (int k = 1; k <= 3; k++) {
        memcpy(d.x + k * per, d.x, (size_t)per * sizeof *d.x);
        memcpy(d.cells + k * HGCAL_CELLS, d.cells, HGCAL_CELLS * sizeof *d.cells);
    }
    d.cells[2 * HGCAL_CELLS + 5] += 1.0 / 1024;
    int64_t z = 0;
    while (d.x[3 * per + z] != 0)
        z++;
    d.x[3 * per + z] = -0.0;
    ck_assert_int_ge(dataset_first_copies(&d, first, &err), 1);
    ck_assert_int_eq(first[1], 0);
    ck_assert_int_eq(first[2], 2);
    ck_assert_int_eq(first[3], 3);
    first_copies_brute(&d, first);
    free(first);
    dataset_free(&d);
    /* CIFAR-10: an image repeated under another label is not a copy */
    ck_assert_msg(dataset_load_cifar10("data/cifar10/test_batch_first1017.bin", NULL, 0, 50, &d,
                                       &err) == 0,
                  "%s", err.msg);
    first = malloc((size_t)d.n * sizeof *first);
    const int64_t pix = shape_size(d.shape);
    memcpy(d.x + 7 * pix, d.x + 4 * pix, (size_t)pix * sizeof *d.x);
    memcpy(d.x + 9 * pix, d.x + 4 * pix, (size_t)pix * sizeof *d.x);
    d.label[7] = d.label[4];
    d.label[9] = (d.label[4] + 1) % 10;
    ck_assert_int_eq(dataset_first_copies(&d, first, &err), 1);
    ck_assert_int_eq(first[7], 4);
    ck_assert_int_eq(first[9], 9);
    first_copies_brute(&d, first);
    free(first);
    dataset_free(&d);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("dataset");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hgcal_normalisation);
    tcase_add_test(tc, test_hgcal_real_rows);
    tcase_add_test(tc, test_hgcal_rejects);
    tcase_add_test(tc, test_hgcal_crlf);
    tcase_add_test(tc, test_cifar10_records);
    tcase_add_test(tc, test_cifar10_rejects);
    tcase_add_test(tc, test_shape_mismatch);
    tcase_add_test(tc, test_checksum_stable);
    tcase_add_test(tc, test_first_copies);
    tcase_add_test(tc, test_hdf5_input_frac);
    tcase_add_test(tc, test_hdf5_huge_shape);
    tcase_add_test(tc, test_hdf5_values_out_of_range);
    suite_add_tcase(s, tc);
    return s;
}

UPSET_CHECK_MAIN(make_suite)
