/* Dataset loaders. Every malformed input is reported with the file and the
 * line (CSV), byte offset (binary) or dataset (HDF5) where it goes wrong. */
#include "upset/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "../model/h5util.h"
#include "upset/econt.h"
#include "upset/fileutil.h"
#include "upset/fnv.h"

void dataset_free(dataset_t *d)
{
    if (!d)
        return;
    free(d->x);
    free(d->label);
    free(d->index);
    free(d->cells);
    memset(d, 0, sizeof *d);
}


uint64_t dataset_checksum(dataset_t *d)
{
    if (!d->checksum_known) {
        uint64_t h = FNV1A64_INIT_MODEL_DATA;
        h = fnv1a64(h, d->x, (size_t)(d->n * shape_size(d->shape)) * sizeof *d->x);
        if (d->label)
            h = fnv1a64(h, d->label, (size_t)d->n * sizeof *d->label);
        d->checksum = h;
        d->checksum_known = 1;
    }
    return d->checksum;
}

/* Makes room for n samples, keeping those already there (the HGCal loader grows as it reads,
 * so an absurd count fails on the data, not on a huge allocation). */
static int grow_samples(dataset_t *d, int64_t n, upset_err_t *err)
{
    const int64_t per = shape_size(d->shape);
    void *x = realloc(d->x, (size_t)(n * per) * sizeof *d->x);
    if (x)
        d->x = x;
    void *index = x ? realloc(d->index, (size_t)n * sizeof *d->index) : NULL;
    if (index)
        d->index = index;
    void *cells = index && d->cells ? realloc(d->cells, (size_t)n * HGCAL_CELLS * sizeof *d->cells)
                                    : NULL;
    if (cells)
        d->cells = cells;
    if (!x || !index || (d->cells && !cells))
        return upset_fail(err, "out of memory for %lld samples", (long long)n);
    return 0;
}

static int alloc_samples(dataset_t *d, int64_t n, shape3_t shape, int with_cells, int with_label,
                         upset_err_t *err)
{
    d->n = n;
    d->shape = shape;
    d->x = upset_calloc((size_t)(n * shape_size(shape)), sizeof *d->x, err);
    d->index = upset_calloc((size_t)n, sizeof *d->index, err);
    if (with_cells)
        d->cells = upset_calloc((size_t)n * HGCAL_CELLS, sizeof *d->cells, err);
    if (with_label)
        d->label = upset_calloc((size_t)n, sizeof *d->label, err);
    if (!d->x || !d->index || (with_cells && !d->cells) || (with_label && !d->label))
        return -1;
    return 0;
}

/* ---- HGCal CSV ---- */

static int hgcal_header(const char *path, const char *line, upset_err_t *err)
{
    const char *p = line;
    for (int i = 0; i < HGCAL_CELLS; i++) {
        char want[16];
        int n = snprintf(want, sizeof want, "CALQ_%d", i);
        if (strncmp(p, want, (size_t)n) || (p[n] != ',' && i < HGCAL_CELLS - 1))
            return upset_fail(err, "%s:1: header must be CALQ_0..CALQ_47; column %d is not %s",
                              path, i + 1, want);
        p += n + (i < HGCAL_CELLS - 1);
    }
    if (p[strspn(p, "\r\n")]) {
        if (p[0] == '\r' && p[1] != '\n') /* getline read the whole file as this line */
            return upset_fail(err, "%s:1: lines end in a bare CR (classic Mac line endings); "
                                   "convert them to LF", path);
        const int len = (int)strcspn(p, "\r\n");
        return upset_fail(err, "%s:1: header must be CALQ_0..CALQ_47; '%.*s' follows CALQ_47",
                          path, len < 40 ? len : 40, p);
    }
    return 0;
}

/* Parses 48 non-negative integer charges; returns -1 naming line and column. */
static int hgcal_row(const char *path, long lineno, char *line, double q[HGCAL_CELLS],
                     upset_err_t *err)
{
    char *p = line;
    for (int i = 0; i < HGCAL_CELLS; i++) {
        /* decimal digits, optionally ".0...": strtod alone would take 0x10, inf, 1e308 */
        char *end = p;
        while (*end == ' ')
            end++;
        const char *digits = end;
        while (*end >= '0' && *end <= '9')
            end++;
        int ok = end > digits;
        if (ok && *end == '.') {
            end++;
            while (*end == '0')
                end++;
        }
        /* as an integer: strtod would round 2^53 + 1 down to 2^53 and pass the check */
        errno = 0;
        const unsigned long long iv = ok ? strtoull(digits, NULL, 10) : 0;
        const int too_big = errno == ERANGE || iv > (1ull << 53);
        while (*end == ' ')
            end++;
        if (!ok || (*end != ',' && *end != '\r' && *end != '\n' && *end != '\0'))
            return upset_fail(err, "%s:%ld: column %d (CALQ_%d) is not a non-negative integer "
                                   "charge", path, lineno, i + 1, i);
        if (too_big) { /* the sum of 48 stays finite */
            const int shown = (int)strspn(digits, "0123456789");
            return upset_fail(err, "%s:%ld: column %d (CALQ_%d) = %.*s exceeds 2^53", path,
                              lineno, i + 1, i, shown < 40 ? shown : 40, digits);
        }
        q[i] = (double)iv;
        p = end;
        if (i < HGCAL_CELLS - 1) {
            if (*p != ',')
                return upset_fail(err, "%s:%ld: expected 48 comma-separated charges, row ends "
                                       "after %d", path, lineno, i + 1);
            p++;
        }
    }
    while (*p == '\r' || *p == '\n' || *p == ' ')
        p++;
    if (*p)
        return upset_fail(err, "%s:%ld: more than 48 columns", path, lineno);
    return 0;
}

/* Normalise by 2^floor(log2(sum)) (exact: a power of two) and arrange into 8x8. */
static void hgcal_sample(const double q[HGCAL_CELLS], double *cells, double *img)
{
    double sum = 0;
    for (int i = 0; i < HGCAL_CELLS; i++)
        sum += q[i];
    double scale = ldexp(1.0, -(int)floor(log2(sum)));
    for (int i = 0; i < HGCAL_CELLS; i++)
        cells[i] = q[i] * scale;
    econt_8x8_from_cells(cells, img);
}

int dataset_load_hgcal(const char *const *files, int n_files, int64_t offset, int64_t count,
                       dataset_t *d, upset_err_t *err)
{
    memset(d, 0, sizeof *d);
    if (count == 0 || offset < 0)
        return upset_fail(err, "HGCal data: count must be > 0 and offset >= 0 (got %lld, %lld)",
                          (long long)count, (long long)offset);
    shape3_t shape = {8, 8, 1};
    const int all = count < 0; /* every non-empty row from offset on */
    int64_t room = !all && count < 4096 ? count : 4096;
    if (alloc_samples(d, room, shape, 1, 0, err))
        goto fail;
    d->input_frac = -1;
    int64_t seen = 0, got = 0;
    size_t cap = 0;
    char *line = NULL;
    /* every file is opened and its header checked, also those after the rows needed: a
     * missing or foreign file in the list is a mistake, not something to skip unread */
    for (int f = 0; f < n_files; f++) {
        if (file_check_input(files[f], "an HGCal CSV", err))
            goto fail_line;
        FILE *fp = fopen(files[f], "r");
        if (!fp) {
            upset_fail(err, "%s: cannot open HGCal CSV: %s", files[f], strerror(errno));
            goto fail_line;
        }
        long lineno = 0;
        ssize_t len;
        int bad = 0;
        while ((lineno == 0 || all || got < count) && (len = getline(&line, &cap, fp)) >= 0) {
            lineno++;
            if (strlen(line) != (size_t)len) { /* the parsers would stop at it */
                bad = upset_fail(err, "%s:%ld: holds a NUL byte (not a text CSV?)", files[f],
                                 lineno) != 0;
                break;
            }
            if (lineno == 1) {
                if ((bad = hgcal_header(files[f], line, err) != 0))
                    break;
                continue;
            }
            if (!strcmp(line, "\n") || !strcmp(line, "\r\n") || !len)
                continue; /* a blank line, LF or CRLF */
            double q[HGCAL_CELLS], sum = 0;
            if ((bad = hgcal_row(files[f], lineno, line, q, err) != 0))
                break;
            for (int i = 0; i < HGCAL_CELLS; i++)
                sum += q[i];
            if (sum == 0)
                continue; /* empty wafers carry no information */
            if (seen++ < offset)
                continue;
            if (got == room) {
                room = !all && count - room < room ? count : 2 * room;
                if ((bad = grow_samples(d, room, err) != 0))
                    break;
            }
            hgcal_sample(q, d->cells + got * HGCAL_CELLS, d->x + got * 64);
            d->index[got] = seen - 1;
            got++;
        }
        fclose(fp);
        if (bad)
            goto fail_line;
        if (lineno == 0) {
            upset_fail(err, "%s: empty file (no CALQ header)", files[f]);
            goto fail_line;
        }
    }
    free(line);
    d->n = got;
    if (!all && got < count) {
        upset_fail(err, "%s%s: only %lld non-empty rows after offset %lld, %lld requested",
                   files[0], n_files > 1 ? " (and the other files)" : "",
                   (long long)(seen > offset ? seen - offset : 0), (long long)offset,
                   (long long)count);
        goto fail;
    }
    return 0;
fail_line:
    free(line);
fail:
    dataset_free(d);
    return -1;
}

/* ---- CIFAR-10 binary ---- */

#define CIFAR_RECORD 3073

int dataset_load_cifar10(const char *path, const char *labels_path, int64_t offset,
                         int64_t count, dataset_t *d, upset_err_t *err)
{
    memset(d, 0, sizeof *d);
    if (file_check_input(path, "a CIFAR-10 binary file", err) ||
        (labels_path && file_check_input(labels_path, "a CIFAR-10 labels file", err)))
        return -1;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return upset_fail(err, "%s: cannot open CIFAR-10 file: %s", path, strerror(errno));
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    if (size <= 0 || size % CIFAR_RECORD) {
        fclose(fp);
        return upset_fail(err, "%s: %ld bytes is not a whole number of %d-byte CIFAR-10 records "
                               "(truncated or not CIFAR-10 binary?)", path, size, CIFAR_RECORD);
    }
    int64_t total = size / CIFAR_RECORD;
    if (offset < 0 || offset >= total || count == 0 || (count > 0 && count > total - offset)) {
        fclose(fp);
        char n[32] = "all"; /* count < 0: every image from offset on */
        if (count >= 0)
            snprintf(n, sizeof n, "%lld", (long long)count);
        return upset_fail(err, "%s: holds %lld images; offset %lld count %s is out of range",
                          path, (long long)total, (long long)offset, n);
    }
    if (count < 0)
        count = total - offset;
    unsigned char *labels = NULL;
    long n_labels = 0;
    if (labels_path) {
        FILE *lf = fopen(labels_path, "rb");
        if (!lf) {
            fclose(fp);
            return upset_fail(err, "%s: cannot open labels file: %s", labels_path,
                              strerror(errno));
        }
        fseek(lf, 0, SEEK_END);
        n_labels = ftell(lf);
        fseek(lf, 0, SEEK_SET);
        labels = malloc(n_labels > 0 ? (size_t)n_labels : 1);
        if (!labels || n_labels < offset + count ||
            fread(labels, 1, (size_t)n_labels, lf) != (size_t)n_labels) {
            upset_fail(err, "%s: %ld labels, but images up to %lld are used", labels_path,
                       n_labels, (long long)(offset + count));
            fclose(lf);
            fclose(fp);
            free(labels);
            return -1;
        }
        fclose(lf);
    }
    shape3_t shape = {32, 32, 3};
    int rc = alloc_samples(d, count, shape, 0, 1, err);
    d->input_frac = 8;
    unsigned char rec[CIFAR_RECORD];
    fseek(fp, (long)(offset * CIFAR_RECORD), SEEK_SET);
    for (int64_t i = 0; !rc && i < count; i++) {
        int64_t img = offset + i;
        if (fread(rec, 1, CIFAR_RECORD, fp) != CIFAR_RECORD) {
            rc = upset_fail(err, "%s: short read at image %lld", path, (long long)img);
            break;
        }
        if (rec[0] > 9)
            rc = upset_fail(err, "%s: image %lld (byte %lld) has label %d, not 0..9", path,
                            (long long)img, (long long)(img * CIFAR_RECORD), rec[0]);
        else if (labels && labels[img] != rec[0])
            rc = upset_fail(err, "%s: image %lld has label %d but %s says %d (mismatched files)",
                            path, (long long)img, rec[0], labels_path, labels[img]);
        d->label[i] = rec[0];
        d->index[i] = img;
        double *x = d->x + i * 3072;
        for (int p = 0; p < 1024; p++) /* planes R, G, B -> (h, w, c) */
            for (int c = 0; c < 3; c++)
                x[p * 3 + c] = rec[1 + c * 1024 + p] / 256.0;
    }
    free(labels);
    fclose(fp);
    if (rc) {
        dataset_free(d);
        return -1;
    }
    return 0;
}

/* ---- HDF5 arrays ---- */

/* The smallest f <= 30 with every x * 2^f a whole number below 2^52, or -1; in one pass:
 * x = m * 2^e (0.5 <= |m| < 1) is m * 2^53 (an integer with tz trailing zero bits) times
 * 2^(e - 53), so it needs f >= 53 - e - tz. */
static int exact_frac(const double *x, int64_t n)
{
    int need = 0;
    double most = 0;
    for (int64_t i = 0; i < n; i++) {
        if (x[i] == 0)
            continue;
        int e;
        const uint64_t mant = (uint64_t)ldexp(fabs(frexp(x[i], &e)), 53);
        const int f = 53 - e - __builtin_ctzll(mant);
        need = f > need ? f : need;
        most = fabs(x[i]) > most ? fabs(x[i]) : most;
    }
    return need <= 30 && ldexp(most, need) < 0x1p52 ? need : -1;
}

static int load_hdf5(hid_t file, const char *path, int64_t offset, int64_t count, dataset_t *d,
                     upset_err_t *err)
{
    hsize_t dims[4] = {0}, ldims[4] = {0};
    const int nd = h5_dataset_extents(file, "x", dims), nl = h5_dataset_extents(file, "y", ldims);
    if (nd < 0 || nl < 0)
        return upset_fail(err, "%s: cannot read the extents of /x or /y", path);
    /* rank 0 is both "absent" and "a scalar": name which it is */
    const int x_there = H5Lexists(file, "x", H5P_DEFAULT) > 0,
              y_there = H5Lexists(file, "y", H5P_DEFAULT) > 0;
    if (nd < 2 || nd > 4)
        return upset_fail(err, "%s: /x %s; it must be (n, features), (n, length, channels) "
                               "or (n, h, w, c)",
                          path, nd        ? "has an unsupported rank"
                                : x_there ? "is a scalar"
                                          : "is missing");
    if ((nl || y_there) && (nl != 1 || ldims[0] != dims[0]))
        return upset_fail(err, "%s: /y must be (n) = (%llu) labels, one per sample of /x", path,
                          (unsigned long long)dims[0]);
    /* a few bytes of HDF5 can declare (2^20, 2^22, 2^22): the element count would
     * overflow, and a sample dimension must fit the int of shape3_t */
    uint64_t elems = 1;
    int too_big = 0;
    for (int i = 0; i < nd; i++)
        too_big |= (i > 0 && dims[i] > INT32_MAX) ||
                   __builtin_mul_overflow(elems, (uint64_t)dims[i], &elems);
    if (too_big || elems > (uint64_t)INT64_MAX / sizeof(double)) {
        char s[128];
        const int64_t d64[4] = {(int64_t)dims[0], (int64_t)dims[1], (int64_t)dims[2],
                                (int64_t)dims[3]};
        return upset_fail(err, "%s: /x has shape %s: too large to hold in memory", path,
                          h5_shape_str(d64, nd, s, sizeof s));
    }
    const int64_t total = (int64_t)dims[0];
    if (total < 1 || offset < 0 || offset >= total || count == 0 ||
        (count > 0 && count > total - offset)) {
        char n[32] = "all";
        if (count >= 0)
            snprintf(n, sizeof n, "%lld", (long long)count);
        return upset_fail(err, "%s: holds %lld samples; offset %lld count %s is out of range",
                          path, (long long)total, (long long)offset, n);
    }
    if (count < 0)
        count = total - offset;
    shape3_t shape = {nd == 4 ? (int)dims[1] : 1, nd == 4 ? (int)dims[2] : nd == 3 ? (int)dims[1] : 1,
                      (int)dims[nd - 1]};
    h5_shape_t xs = {nd, {(int64_t)dims[0], (int64_t)dims[1], (int64_t)dims[2], (int64_t)dims[3]}};
    h5ctx_t c = {path, "data", err};
    float *xf = NULL;
    int32_t *y = NULL;
    /* float32, as Keras casts its inputs; the reader checks type, shape, chunks, finiteness */
    int rc = h5_alloc_read_floats(&c, file, "x", &xf, xs);
    if (!rc && nl)
        rc = h5_alloc_read_int32s(&c, file, "y", &y, (h5_shape_t){1, {total, 0, 0, 0}});
    if (!rc)
        rc = alloc_samples(d, count, shape, 0, nl != 0, err);
    const int64_t per = shape_size(shape);
    for (int64_t i = 0; !rc && i < count; i++) {
        const int64_t s = offset + i;
        d->index[i] = s;
        for (int64_t k = 0; k < per; k++)
            d->x[i * per + k] = xf[s * per + k];
        if (y && y[s] < 0)
            rc = upset_fail(err, "%s: /y[%lld] = %d is not a class index >= 0", path,
                            (long long)s, y[s]);
        else if (y)
            d->label[i] = y[s];
    }
    if (!rc)
        d->input_frac = exact_frac(d->x, count * per);
    free(xf);
    free(y);
    return rc;
}

int dataset_load_hdf5(const char *path, int64_t offset, int64_t count, dataset_t *d,
                      upset_err_t *err)
{
    memset(d, 0, sizeof *d);
    if (file_check_input(path, "an HDF5 data file", err))
        return -1;
    h5_quiet_t quiet;
    hid_t file = h5_open_quiet(path, &quiet);
    int rc = file < 0 ? upset_fail(err, "%s: not an HDF5 file (or unreadable)", path)
                      : load_hdf5(file, path, offset, count, d, err);
    h5_close_quiet(file, &quiet);
    if (rc)
        dataset_free(d);
    return rc;
}

/* Mixes n doubles' bytes into h, eight at a time (a multiply and a shift per word):
 * fnv1a64's byte loop would cost a tenth of a CIFAR-10 campaign's start-up. */
static uint64_t mix_words(uint64_t h, const double *v, int64_t n)
{
    for (int64_t k = 0; k < n; k++) {
        uint64_t w;
        memcpy(&w, &v[k], sizeof w);
        h = (h ^ w) * UINT64_C(0xC2B2AE3D27D4EB4F);
        h ^= h >> 29;
    }
    return h;
}

/* A hash of sample i's bytes: its label, input and EMD cells. */
static uint64_t sample_hash(const dataset_t *d, int64_t i)
{
    const int64_t per = shape_size(d->shape);
    uint64_t h = (uint64_t)(d->label ? d->label[i] : 0) * UINT64_C(0x9E3779B97F4A7C15);
    h = mix_words(h, d->x + i * per, per);
    return d->cells ? mix_words(h, d->cells + i * HGCAL_CELLS, HGCAL_CELLS) : h;
}

static int same_sample(const dataset_t *d, int64_t i, int64_t j)
{
    const int64_t per = shape_size(d->shape);
    return (!d->label || d->label[i] == d->label[j]) &&
           !memcmp(d->x + i * per, d->x + j * per, (size_t)per * sizeof *d->x) &&
           (!d->cells || !memcmp(d->cells + i * HGCAL_CELLS, d->cells + j * HGCAL_CELLS,
                                 HGCAL_CELLS * sizeof *d->cells));
}

int64_t dataset_first_copies(const dataset_t *d, int64_t *first, upset_err_t *err)
{
    int64_t cap = 16;
    while (cap < 2 * d->n)
        cap *= 2;
    int64_t *table = upset_calloc((size_t)cap, sizeof *table, err); /* sample + 1, 0: empty */
    uint64_t *hash = upset_calloc((size_t)d->n + 1, sizeof *hash, err);
    if (!table || !hash) {
        free(table);
        free(hash);
        return -1;
    }
    int64_t copies = 0;
    for (int64_t i = 0; i < d->n; i++) {
        const uint64_t h = hash[i] = sample_hash(d, i);
        int64_t at = (int64_t)(h >> 20) & (cap - 1);
        first[i] = i;
        for (; table[at]; at = (at + 1) & (cap - 1)) {
            const int64_t j = table[at] - 1;
            if (hash[j] == h && same_sample(d, i, j)) {
                first[i] = j;
                copies++;
                break;
            }
        }
        if (first[i] == i)
            table[at] = i + 1;
    }
    free(table);
    free(hash);
    return copies;
}

int dataset_select(dataset_t *d, const unsigned char *keep, upset_err_t *err)
{
    int64_t sz = shape_size(d->shape), j = 0;
    for (int64_t i = 0; i < d->n; i++) {
        if (!keep[i])
            continue;
        memmove(d->x + j * sz, d->x + i * sz, (size_t)sz * sizeof *d->x);
        d->index[j] = d->index[i];
        if (d->label)
            d->label[j] = d->label[i];
        if (d->cells)
            memmove(d->cells + j * HGCAL_CELLS, d->cells + i * HGCAL_CELLS,
                    HGCAL_CELLS * sizeof *d->cells);
        j++;
    }
    if (j == 0)
        return upset_fail(err, "no samples left after selection");
    d->n = j;
    d->checksum_known = 0;
    return 0;
}

int dataset_check_model(const dataset_t *d, const model_t *m, const char *what, upset_err_t *err)
{
    if (shape_size(d->shape) != shape_size(m->input))
        return upset_fail(err, "%s: samples are (%d,%d,%d) but model %s expects (%d,%d,%d)", what,
                          d->shape.h, d->shape.w, d->shape.c, m->path, m->input.h, m->input.w,
                          m->input.c);
    return 0;
}
