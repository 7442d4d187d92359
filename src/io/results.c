/* Results file writer and readers (see include/upset/results.h and
 * docs/results-format.md).
 *
 * The records were gathered on rank 0 by sched_run, so rank 0 alone writes
 * the file: built in memory, written with checked POSIX I/O (upset/h5mem.h),
 * and every rank learns the verdict. A per-bit table is at most tens of MB, so
 * a parallel write would gain nothing and would make every HDF5 error a
 * collective one that all ranks must survive together.
 *
 * Completeness has two guards: the file only gets its final name once it is
 * wholly on disk (rename of `<path>.tmp`), and the root
 * attribute `complete` = 1 is the last thing written, which readers check. */
#include "upset/results.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "upset/fnv.h"
#include "upset/h5attr.h"
#include "upset/h5mem.h"
#include "upset/mpicheck.h"

size_t results_type_size(results_type_t type)
{
    switch (type) {
    case RESULTS_INT8:
        return 1;
    case RESULTS_INT32:
        return 4;
    case RESULTS_INT64:
    case RESULTS_FLOAT64:
        return 8;
    }
    return 0;
}

static hid_t file_type(results_type_t type)
{
    switch (type) {
    case RESULTS_INT8:
        return H5T_STD_I8LE;
    case RESULTS_INT32:
        return H5T_STD_I32LE;
    case RESULTS_INT64:
        return H5T_STD_I64LE;
    case RESULTS_FLOAT64:
        return H5T_IEEE_F64LE;
    }
    return -1;
}

static hid_t mem_type(results_type_t type)
{
    switch (type) {
    case RESULTS_INT8:
        return H5T_NATIVE_INT8;
    case RESULTS_INT32:
        return H5T_NATIVE_INT32;
    case RESULTS_INT64:
        return H5T_NATIVE_INT64;
    case RESULTS_FLOAT64:
        return H5T_NATIVE_DOUBLE;
    }
    return -1;
}

static void close_id(hid_t id)
{
    if (id >= 0)
        H5Idec_ref(id);
}

/* ------------------------------------------------------------ validation -- */

static int check_table(const results_table_t *t, upset_err_t *err)
{
    if (!t || !t->group || !t->group[0] || !t->columns || t->ncolumns <= 0 || t->record_size == 0)
        return upset_fail(err, "results: table needs a group name, columns and a record size");
    for (int c = 0; c < t->ncolumns; c++) {
        const results_column_t *col = &t->columns[c];
        size_t sz = results_type_size(col->type);
        if (!col->name || !col->name[0] || strchr(col->name, '/'))
            return upset_fail(err, "results: table %s column %d has no valid name", t->group, c);
        if (sz == 0)
            return upset_fail(err, "results: table %s column %s has an unknown type %d", t->group,
                              col->name, (int)col->type);
        if (col->offset + sz > t->record_size)
            return upset_fail(err,
                              "results: table %s column %s (offset %zu, %zu bytes) lies outside "
                              "the %zu-byte record",
                              t->group, col->name, col->offset, sz, t->record_size);
        for (int d = 0; d < c; d++)
            if (!strcmp(t->columns[d].name, col->name))
                return upset_fail(err, "results: table %s has two columns named %s", t->group,
                                  col->name);
    }
    return 0;
}

static int reserved_attr(const char *name)
{
    return !strcmp(name, "format") || !strcmp(name, "format_version") ||
           !strcmp(name, "complete");
}

static int check_attrs(const results_attr_t *a, int nattrs, upset_err_t *err)
{
    if (nattrs < 0 || (nattrs > 0 && !a))
        return upset_fail(err, "results: %d attributes but no array", nattrs);
    for (int i = 0; i < nattrs; i++) {
        if (!a[i].name || !a[i].name[0])
            return upset_fail(err, "results: attribute %d has no name", i);
        if (reserved_attr(a[i].name))
            return upset_fail(err, "results: attribute name '%s' is reserved", a[i].name);
        for (int j = 0; j < i; j++)
            if (!strcmp(a[j].name, a[i].name))
                return upset_fail(err, "results: attribute '%s' given twice", a[i].name);
        int is_array = a[i].kind == RESULTS_ATTR_INT64_ARRAY || a[i].kind == RESULTS_ATTR_FLOAT64_ARRAY;
        if (a[i].kind == RESULTS_ATTR_STRING && !a[i].s)
            return upset_fail(err, "results: string attribute '%s' is NULL", a[i].name);
        if (is_array && (a[i].len < 1 || (a[i].kind == RESULTS_ATTR_INT64_ARRAY ? !a[i].iv : !a[i].fv)))
            return upset_fail(err, "results: array attribute '%s' needs len >= 1 and data",
                              a[i].name);
        if (a[i].kind > RESULTS_ATTR_FLOAT64_ARRAY)
            return upset_fail(err, "results: attribute '%s' has unknown kind %d", a[i].name,
                              (int)a[i].kind);
    }
    return 0;
}

/* ------------------------------------------------------------ attributes -- */

static int write_user_attr(hid_t obj, const results_attr_t *a, upset_err_t *err)
{
    switch (a->kind) {
    case RESULTS_ATTR_STRING:
        return h5mem_attr_string(obj, a->name, a->s, err);
    case RESULTS_ATTR_INT64:
        return h5mem_attr_i64(obj, a->name, &a->i, -1, err);
    case RESULTS_ATTR_FLOAT64:
        return h5mem_attr_f64(obj, a->name, &a->f, -1, err);
    case RESULTS_ATTR_INT64_ARRAY:
        return h5mem_attr_i64(obj, a->name, a->iv, a->len, err);
    case RESULTS_ATTR_FLOAT64_ARRAY:
        return h5mem_attr_f64(obj, a->name, a->fv, a->len, err);
    }
    return upset_fail(err, "results: attribute '%s' has unknown kind", a->name);
}

/* --------------------------------------------------------------- columns -- */

/* FNV-1a 64 of a column's values as stored (little-endian), as 16 hex digits. */
static void column_checksum(const void *values, size_t bytes, char out[17])
{
    memcpy(out, fnv_hex(fnv1a64(FNV1A64_INIT, values, bytes)).s, 17);
}

/* One column: a 1-D dataset with its unit, description and checksum. */
static int write_column(hid_t group, const results_column_t *col, const results_table_t *t,
                        const void *records, int64_t n, upset_err_t *err)
{
    size_t esz = results_type_size(col->type);
    /* gather the strided field into a dense column */
    unsigned char *buf = malloc(n > 0 ? (size_t)n * esz : 1);
    if (!buf)
        return upset_fail(err, "results: out of memory for column %s (%lld values)", col->name,
                          (long long)n);
    for (int64_t i = 0; i < n; i++)
        memcpy(buf + (size_t)i * esz,
               (const unsigned char *)records + (size_t)i * t->record_size + col->offset, esz);
    char sum[17];
    column_checksum(buf, (size_t)n * esz, sum);
    hid_t ds = h5mem_dataset(group, col->name, file_type(col->type), mem_type(col->type), n, 0,
                             buf, err);
    int rc = ds < 0 || h5mem_attr_string(ds, "unit", col->unit, err) ||
             h5mem_attr_string(ds, "description", col->description, err) ||
             h5mem_attr_string(ds, "checksum_fnv1a64", sum, err);
    if (rc)
        upset_err_append(err, "while writing column %s/%s", t->group, col->name);
    free(buf);
    close_id(ds);
    return rc ? -1 : 0;
}

/* Everything inside the file; `complete` last. */
static int write_contents(hid_t file, const results_table_t *t, const void *records, int64_t n,
                          const results_attr_t *attrs, int nattrs, upset_err_t *err)
{
    hid_t group = -1;
    int64_t version = RESULTS_FORMAT_VERSION, one = 1;
    int rc = h5mem_attr_string(file, "format", RESULTS_FORMAT_NAME, err) ||
             h5mem_attr_i64(file, "format_version", &version, -1, err);
    for (int i = 0; rc == 0 && i < nattrs; i++)
        rc = write_user_attr(file, &attrs[i], err);
    rc = rc || H5_CHECK(group = H5Gcreate2(file, t->group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                        err) ||
         h5mem_attr_i64(group, "n_records", &n, -1, err);
    for (int c = 0; rc == 0 && c < t->ncolumns; c++)
        rc = write_column(group, &t->columns[c], t, records, n, err);
    rc = rc || h5mem_attr_i64(file, "complete", &one, -1, err);
    close_id(group);
    return rc ? -1 : 0;
}

/* Rank 0's part: build the file in memory, write <path>.tmp, rename it to path. */
int results_write(const char *path, const results_table_t *t, const void *records, int64_t n,
                      const results_attr_t *attrs, int nattrs, upset_err_t *err)
{
    if (n < 0 || (n > 0 && !records))
        return upset_fail(err, "results: %lld records but no data", (long long)n);
    if (check_table(t, err) || check_attrs(attrs, nattrs, err))
        return -1;
    hid_t file = h5mem_create(err);
    if (file < 0)
        return -1;
    h5_quiet_t q = h5_quiet_begin();
    int rc = write_contents(file, t, records, n, attrs, nattrs, err);
    h5_quiet_end(&q);
    if (rc) {
        H5Fclose(file);
        return -1;
    }
    return h5mem_replace(file, path, err);
}

/* ----------------------------------------------------------- writability -- */

int results_check_writable(const char *path, upset_err_t *err)
{
    struct stat st;
    if (!path || !path[0])
        return upset_fail(err, "results: empty output path");
    const int exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode))
        return upset_fail(err, "results: output %s is a directory, not a file", path);
    /* the results are renamed over the output: a device such as /dev/null would be replaced
     * by a regular file (as root), and the existence check's open() blocks on a FIFO */
    if (exists && !S_ISREG(st.st_mode))
        return upset_fail(err, "results: output %s is not a regular file (a device, FIFO or "
                               "socket); results are written beside it and renamed over it",
                          path);
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (stat(dir, &st) != 0)
        return upset_fail(err, "results: output directory %s does not exist (for %s)", dir, path);
    if (!S_ISDIR(st.st_mode))
        return upset_fail(err, "results: %s is not a directory (for %s)", dir, path);
    char probe[4200];
    if (snprintf(probe, sizeof probe, "%s.probe.%ld", path, (long)getpid()) >= (int)sizeof probe)
        return upset_fail(err, "results: path '%s' is too long", path);
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return upset_fail(err, "results: cannot create files in %s (for %s): %s", dir, path,
                          strerror(errno));
    close(fd);
    unlink(probe);
    return 0;
}

/* --------------------------------------------------------------- readers -- */

/* Opens a complete results file serially (default sec2 driver, no MPI). */
static hid_t open_complete(const char *path, upset_err_t *err)
{
    hid_t f = -1;
    if (H5_CHECK(f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), err)) {
        upset_err_append(err, "cannot open results file %s", path);
        return -1;
    }
    int64_t complete = 0;
    hid_t a = -1;
    int exists = H5Aexists(f, "complete");
    if (exists > 0 && H5_CHECK(a = H5Aopen(f, "complete", H5P_DEFAULT), err) == 0 &&
        h5attr_read_int64(a, &complete) != H5ATTR_OK)
        complete = 0; /* an array or a string: not ours */
    close_id(a);
    if (complete != 1) {
        H5Fclose(f);
        upset_fail(err, "results file %s is not complete (no 'complete' = 1 attribute): an "
                        "interrupted or foreign file",
                   path);
        return -1;
    }
    return f;
}

/* Reads a whole numeric dataset or attribute (getspace/read given) as type. */
static int read_numeric(hid_t space, results_type_t type, void **out, int64_t *n,
                        const char *what, upset_err_t *err)
{
    int nd = H5Sget_simple_extent_ndims(space);
    if (nd < 0 || nd > 1)
        return upset_fail(err, "results: %s has %d dimensions, expected 0 or 1", what, nd);
    hssize_t count = H5Sget_simple_extent_npoints(space);
    if (count < 0)
        return upset_fail(err, "results: %s: cannot get its size", what);
    size_t esz = results_type_size(type);
    if (esz == 0)
        return upset_fail(err, "results: unknown type %d requested for %s", (int)type, what);
    *out = malloc(count ? (size_t)count * esz : 1);
    if (!*out)
        return upset_fail(err, "results: out of memory reading %s", what);
    *n = (int64_t)count;
    return 0;
}

static int read_string_attr(hid_t a, const char *what, char **out, upset_err_t *err);

/* A column with a stored checksum must match it, read in its stored type (a
 * torn or edited file is refused, not analysed). */
static int verify_column(hid_t ds, const char *what, upset_err_t *err)
{
    if (H5Aexists(ds, "checksum_fnv1a64") <= 0)
        return 0; /* written before checksums existed */
    hid_t a = -1, t = -1, sp = -1, mt = -1;
    char *stored = NULL;
    unsigned char *buf = NULL;
    int rc = H5_CHECK(a = H5Aopen(ds, "checksum_fnv1a64", H5P_DEFAULT), err) ||
             read_string_attr(a, what, &stored, err) || H5_CHECK(t = H5Dget_type(ds), err) ||
             H5_CHECK(sp = H5Dget_space(ds), err);
    size_t esz = rc ? 0 : H5Tget_size(t);
    if (!rc) {
        H5T_class_t cls = H5Tget_class(t);
        if (cls == H5T_INTEGER && (esz == 1 || esz == 4 || esz == 8))
            mt = esz == 1 ? H5T_NATIVE_INT8 : esz == 4 ? H5T_NATIVE_INT32 : H5T_NATIVE_INT64;
        else if (cls == H5T_FLOAT && esz == 8)
            mt = H5T_NATIVE_DOUBLE;
        else
            rc = upset_fail(err, "results: %s has a checksum but an unexpected type", what);
    }
    hssize_t count = rc ? 0 : H5Sget_simple_extent_npoints(sp);
    if (!rc && count < 0)
        rc = upset_fail(err, "results: %s: cannot get its size", what);
    if (!rc && !(buf = malloc(count > 0 ? (size_t)count * esz : 1)))
        rc = upset_fail(err, "results: out of memory verifying %s", what);
    if (!rc && count > 0)
        rc = H5_CHECK(H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), err);
    if (!rc) {
        char sum[17];
        column_checksum(buf, (size_t)count * esz, sum);
        if (strcmp(sum, stored))
            rc = upset_fail(err,
                            "results: %s does not match its stored checksum (%s stored, %s "
                            "computed): the file was modified or torn; rerun the campaign",
                            what, stored, sum);
    }
    free(buf);
    free(stored);
    close_id(sp);
    close_id(t);
    close_id(a);
    return rc ? -1 : 0;
}

int results_read_column(const char *path, const char *group, const char *name,
                        results_type_t type, void **out, int64_t *n, upset_err_t *err)
{
    *out = NULL;
    *n = 0;
    char what[512];
    snprintf(what, sizeof what, "%s:/%s/%s", path, group, name);
    h5_quiet_t q = h5_quiet_begin();
    hid_t f = open_complete(path, err), ds = -1, sp = -1;
    int rc = f < 0 ? -1 : 0;
    if (rc == 0 && H5Lexists(f, group, H5P_DEFAULT) <= 0)
        rc = upset_fail(err, "results: %s has no group '%s'", path, group);
    char full[1024];
    snprintf(full, sizeof full, "%s/%s", group, name);
    if (rc == 0 && H5Lexists(f, full, H5P_DEFAULT) <= 0)
        rc = upset_fail(err, "results: %s has no column '%s' in group '%s'", path, name, group);
    rc = rc || H5_CHECK(ds = H5Dopen2(f, full, H5P_DEFAULT), err) ||
         H5_CHECK(sp = H5Dget_space(ds), err) || read_numeric(sp, type, out, n, what, err);
    if (rc == 0)
        rc = verify_column(ds, what, err);
    if (rc == 0 && *n > 0 &&
        H5_CHECK(H5Dread(ds, mem_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, *out), err)) {
        upset_err_append(err, "while reading %s", what);
        rc = 1;
    }
    close_id(sp);
    close_id(ds);
    if (f >= 0)
        H5Fclose(f);
    h5_quiet_end(&q);
    if (rc) {
        free(*out);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

/* Opens root attribute name of a complete file; *f must be closed by the caller. */
static hid_t open_root_attr(const char *path, const char *name, hid_t *f, upset_err_t *err)
{
    *f = open_complete(path, err);
    if (*f < 0)
        return -1;
    if (H5Aexists(*f, name) <= 0) {
        upset_fail(err, "results: %s has no root attribute '%s'", path, name);
        return -1;
    }
    hid_t a = -1;
    if (H5_CHECK(a = H5Aopen(*f, name, H5P_DEFAULT), err))
        return -1;
    return a;
}

int results_read_attr_array(const char *path, const char *name, results_type_t type, void **out,
                            int64_t *len, upset_err_t *err)
{
    *out = NULL;
    *len = 0;
    char what[512];
    snprintf(what, sizeof what, "%s attribute '%s'", path, name);
    h5_quiet_t q = h5_quiet_begin();
    hid_t f = -1, sp = -1, t = -1;
    hid_t a = open_root_attr(path, name, &f, err);
    int rc = a < 0 ? -1 : 0;
    rc = rc || H5_CHECK(t = H5Aget_type(a), err);
    if (rc == 0 && H5Tget_class(t) != H5T_INTEGER && H5Tget_class(t) != H5T_FLOAT)
        rc = upset_fail(err, "results: %s is not numeric", what);
    rc = rc || H5_CHECK(sp = H5Aget_space(a), err) || read_numeric(sp, type, out, len, what, err) ||
         H5_CHECK(H5Aread(a, mem_type(type), *out), err);
    close_id(t);
    close_id(sp);
    close_id(a);
    if (f >= 0)
        H5Fclose(f);
    h5_quiet_end(&q);
    if (rc) {
        free(*out);
        *out = NULL;
        *len = 0;
        return -1;
    }
    return 0;
}

static int read_scalar(const char *path, const char *name, results_type_t type, void *out,
                       upset_err_t *err)
{
    void *v = NULL;
    int64_t len = 0;
    if (results_read_attr_array(path, name, type, &v, &len, err))
        return -1;
    int rc = 0;
    if (len != 1)
        rc = upset_fail(err, "results: %s attribute '%s' has %lld values, expected 1", path, name,
                        (long long)len);
    else
        memcpy(out, v, results_type_size(type));
    free(v);
    return rc;
}

int results_read_attr_int64(const char *path, const char *name, int64_t *out, upset_err_t *err)
{
    return read_scalar(path, name, RESULTS_INT64, out, err);
}

int results_read_attr_float64(const char *path, const char *name, double *out, upset_err_t *err)
{
    return read_scalar(path, name, RESULTS_FLOAT64, out, err);
}

/* One string attribute, fixed- or variable-length alike (h5attr). */
static int read_string_attr(hid_t a, const char *what, char **out, upset_err_t *err)
{
    switch (h5attr_read_string(a, out)) {
    case H5ATTR_OK:
        return 0;
    case H5ATTR_NOT_STRING:
        return upset_fail(err, "results: %s is not a string", what);
    case H5ATTR_NOT_ONE:
        return upset_fail(err, "results: %s holds %lld values, expected one string", what,
                          (long long)h5attr_count(a));
    default:
        return upset_fail(err, "results: %s is unreadable", what);
    }
}

int results_read_attr_string(const char *path, const char *name, char **out, upset_err_t *err)
{
    *out = NULL;
    char what[512];
    snprintf(what, sizeof what, "%s attribute '%s'", path, name);
    h5_quiet_t q = h5_quiet_begin();
    hid_t f = -1;
    hid_t a = open_root_attr(path, name, &f, err);
    int rc = a < 0 ? -1 : read_string_attr(a, what, out, err);
    close_id(a);
    if (f >= 0)
        H5Fclose(f);
    h5_quiet_end(&q);
    if (rc) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}
