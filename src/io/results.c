/* Results file writer and readers (see include/upset/results.h and
 * docs/results-format.md).
 *
 * Parallel HDF5 needs every metadata operation (file, group, dataset and
 * attribute creation) to be called by all ranks with identical arguments, so
 * rank 0's attributes and record count are broadcast first; the data itself is
 * written by rank 0 in a collective H5Dwrite where the other ranks select
 * nothing (the records were gathered on rank 0 by sched_run anyway).
 *
 * Completeness has two guards: the file only gets its final name after a
 * successful close on every rank (rename of `<path>.tmp`), and the root
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

#include "upset/fileutil.h"
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

/* ------------------------------------------------- attribute broadcasting -- */

/* Packed form: per attribute three int64 {kind, name bytes, payload bytes},
 * then the name and payload, each padded to 8 bytes so the numeric arrays can
 * be used in place after unpacking. Strings keep their terminator. */
typedef struct {
    unsigned char *buf;
    size_t len, cap;
} pack_t;

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static int pack_put(pack_t *p, const void *data, size_t len, upset_err_t *err)
{
    size_t need = p->len + pad8(len);
    if (need > p->cap) {
        size_t cap = need * 2;
        unsigned char *b = realloc(p->buf, cap);
        if (!b)
            return upset_fail(err, "results: out of memory packing attributes");
        p->buf = b;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, data, len);
    memset(p->buf + p->len + len, 0, pad8(len) - len);
    p->len = need;
    return 0;
}

static int pack_attrs(const results_attr_t *a, int nattrs, pack_t *p, upset_err_t *err)
{
    for (int i = 0; i < nattrs; i++) {
        const void *payload = NULL;
        size_t bytes = 0;
        switch (a[i].kind) {
        case RESULTS_ATTR_STRING:
            payload = a[i].s, bytes = strlen(a[i].s) + 1;
            break;
        case RESULTS_ATTR_INT64:
            payload = &a[i].i, bytes = 8;
            break;
        case RESULTS_ATTR_FLOAT64:
            payload = &a[i].f, bytes = 8;
            break;
        case RESULTS_ATTR_INT64_ARRAY:
            payload = a[i].iv, bytes = 8 * (size_t)a[i].len;
            break;
        case RESULTS_ATTR_FLOAT64_ARRAY:
            payload = a[i].fv, bytes = 8 * (size_t)a[i].len;
            break;
        }
        int64_t head[3] = {a[i].kind, (int64_t)strlen(a[i].name) + 1, (int64_t)bytes};
        if (pack_put(p, head, sizeof head, err) || pack_put(p, a[i].name, (size_t)head[1], err) ||
            pack_put(p, payload, bytes, err))
            return -1;
    }
    return 0;
}

/* Builds attribute structs that point into the packed buffer. */
static int unpack_attrs(const unsigned char *buf, size_t len, int nattrs, results_attr_t *a,
                        upset_err_t *err)
{
    size_t off = 0;
    for (int i = 0; i < nattrs; i++) {
        int64_t head[3];
        if (off + sizeof head > len)
            return upset_fail(err, "results: attribute broadcast is truncated");
        memcpy(head, buf + off, sizeof head);
        off += sizeof head;
        const char *name = (const char *)buf + off;
        off += pad8((size_t)head[1]);
        const unsigned char *payload = buf + off;
        off += pad8((size_t)head[2]);
        if (off > len)
            return upset_fail(err, "results: attribute broadcast is truncated");
        memset(&a[i], 0, sizeof a[i]);
        a[i].name = name;
        a[i].kind = (results_attr_kind_t)head[0];
        switch (a[i].kind) {
        case RESULTS_ATTR_STRING:
            a[i].s = (const char *)payload;
            break;
        case RESULTS_ATTR_INT64:
            memcpy(&a[i].i, payload, 8);
            break;
        case RESULTS_ATTR_FLOAT64:
            memcpy(&a[i].f, payload, 8);
            break;
        case RESULTS_ATTR_INT64_ARRAY:
            a[i].iv = (const int64_t *)(const void *)payload;
            a[i].len = head[2] / 8;
            break;
        case RESULTS_ATTR_FLOAT64_ARRAY:
            a[i].fv = (const double *)(const void *)payload;
            a[i].len = head[2] / 8;
            break;
        }
    }
    return 0;
}

/* Everyone learns whether anyone failed; the lowest failing rank's message wins. */
static int agree(MPI_Comm comm, int status, upset_err_t *err)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int mine = status ? rank : size, first = size;
    upset_err_t merr = {""};
    if (MPI_CHECK(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm), &merr))
        return upset_fail(err, "%s", merr.msg);
    if (first == size)
        return 0;
    if (MPI_CHECK(MPI_Bcast(err->msg, sizeof err->msg, MPI_CHAR, first, comm), &merr))
        return upset_fail(err, "%s", merr.msg);
    return -1;
}

/* Broadcasts rank 0's n and attributes; *packed owns what *out points into. */
static int share_inputs(MPI_Comm comm, int rank, int64_t *n, const results_attr_t *attrs,
                        int nattrs, results_attr_t **out, int *out_n, unsigned char **packed,
                        upset_err_t *err)
{
    pack_t p = {NULL, 0, 0};
    int64_t head[3] = {*n, nattrs, 0};
    int rc = 0;
    if (rank == 0) {
        rc = check_attrs(attrs, nattrs, err) || pack_attrs(attrs, nattrs, &p, err) ? -1 : 0;
        head[2] = (int64_t)p.len;
        if (*n < 0)
            rc = upset_fail(err, "results: %lld records", (long long)*n);
    }
    if (agree(comm, rc, err))
        goto fail;
    if (MPI_CHECK(MPI_Bcast(head, 3, MPI_INT64_T, 0, comm), err))
        goto fail;
    *n = head[0];
    *out_n = (int)head[1];
    if (rank != 0 && !(p.buf = malloc(head[2] ? (size_t)head[2] : 1))) {
        upset_fail(err, "results: out of memory for %lld attribute bytes", (long long)head[2]);
        goto fail; /* rank 0 would wait in the broadcast; MPI aborts the job */
    }
    if (head[2] > 0 && MPI_CHECK(MPI_Bcast(p.buf, (int)head[2], MPI_BYTE, 0, comm), err))
        goto fail;
    *out = upset_calloc((size_t)(*out_n > 0 ? *out_n : 1), sizeof **out, err);
    if (!*out || unpack_attrs(p.buf, (size_t)head[2], *out_n, *out, err))
        goto fail;
    *packed = p.buf;
    return 0;
fail:
    free(p.buf);
    return -1;
}

/* ------------------------------------------------------------ attributes -- */

static int write_attr(hid_t obj, const char *name, hid_t ftype, hid_t mtype, hid_t space,
                      const void *data, upset_err_t *err)
{
    hid_t a = -1;
    int rc = H5_CHECK(a = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT), err) ||
             H5_CHECK(H5Awrite(a, mtype, data), err);
    close_id(a);
    return rc ? -1 : 0;
}

/* Variable-length UTF-8 string: no 64 KiB object-header limit for long text
 * (resolved YAML), and h5py reads it as str. */
static int write_string_attr(hid_t obj, const char *name, const char *s, upset_err_t *err)
{
    hid_t t = -1, sp = -1;
    int rc = H5_CHECK(t = H5Tcopy(H5T_C_S1), err) || H5_CHECK(H5Tset_size(t, H5T_VARIABLE), err) ||
             H5_CHECK(H5Tset_cset(t, H5T_CSET_UTF8), err) ||
             H5_CHECK(sp = H5Screate(H5S_SCALAR), err) ||
             write_attr(obj, name, t, t, sp, &s, err);
    close_id(t);
    close_id(sp);
    return rc ? -1 : 0;
}

static int write_num_attr(hid_t obj, const char *name, int is_float, const void *data,
                          int64_t len, int scalar, upset_err_t *err)
{
    hid_t sp = -1;
    hsize_t dim = (hsize_t)len;
    int rc = scalar ? H5_CHECK(sp = H5Screate(H5S_SCALAR), err)
                    : H5_CHECK(sp = H5Screate_simple(1, &dim, NULL), err);
    if (rc == 0)
        rc = write_attr(obj, name, is_float ? H5T_IEEE_F64LE : H5T_STD_I64LE,
                        is_float ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64, sp, data, err);
    close_id(sp);
    return rc;
}

static int write_user_attr(hid_t obj, const results_attr_t *a, upset_err_t *err)
{
    switch (a->kind) {
    case RESULTS_ATTR_STRING:
        return write_string_attr(obj, a->name, a->s, err);
    case RESULTS_ATTR_INT64:
        return write_num_attr(obj, a->name, 0, &a->i, 1, 1, err);
    case RESULTS_ATTR_FLOAT64:
        return write_num_attr(obj, a->name, 1, &a->f, 1, 1, err);
    case RESULTS_ATTR_INT64_ARRAY:
        return write_num_attr(obj, a->name, 0, a->iv, a->len, 0, err);
    case RESULTS_ATTR_FLOAT64_ARRAY:
        return write_num_attr(obj, a->name, 1, a->fv, a->len, 0, err);
    }
    return upset_fail(err, "results: attribute '%s' has unknown kind", a->name);
}

/* --------------------------------------------------------------- columns -- */

/* One column: a 1-D dataset; rank 0 supplies the data, the others select none. */
static int write_column(hid_t group, const results_column_t *col, const results_table_t *t,
                        const void *records, int64_t n, int rank, hid_t dxpl, upset_err_t *err)
{
    hsize_t dim = (hsize_t)n;
    size_t esz = results_type_size(col->type);
    hid_t sp = -1, ds = -1, msp = -1;
    unsigned char *buf = NULL, dummy[8] = {0};
    int rc = H5_CHECK(sp = H5Screate_simple(1, &dim, NULL), err) ||
             H5_CHECK(ds = H5Dcreate2(group, col->name, file_type(col->type), sp, H5P_DEFAULT,
                                      H5P_DEFAULT, H5P_DEFAULT),
                      err) ||
             write_string_attr(ds, "unit", col->unit ? col->unit : "", err) ||
             write_string_attr(ds, "description", col->description ? col->description : "", err);
    if (rc == 0 && n > 0 && rank == 0) {
        /* Gather the strided field into a dense column. */
        buf = malloc((size_t)n * esz);
        if (!buf)
            rc = upset_fail(err, "results: out of memory for column %s (%lld values)", col->name,
                            (long long)n);
        for (int64_t i = 0; rc == 0 && i < n; i++)
            memcpy(buf + (size_t)i * esz,
                   (const unsigned char *)records + (size_t)i * t->record_size + col->offset, esz);
        if (rc == 0)
            rc = H5_CHECK(H5Dwrite(ds, mem_type(col->type), H5S_ALL, H5S_ALL, dxpl, buf), err);
    } else if (rc == 0 && n > 0) {
        rc = H5_CHECK(msp = H5Screate_simple(1, &dim, NULL), err) ||
                     H5_CHECK(H5Sselect_none(msp), err) || H5_CHECK(H5Sselect_none(sp), err) ||
                     H5_CHECK(H5Dwrite(ds, mem_type(col->type), msp, sp, dxpl, dummy), err)
                 ? -1
                 : 0;
    }
    if (rc)
        upset_err_append(err, "while writing column %s/%s", t->group, col->name);
    free(buf);
    close_id(msp);
    close_id(ds);
    close_id(sp);
    return rc ? -1 : 0;
}

/* Everything inside the open file; `complete` last. */
static int write_contents(hid_t file, const results_table_t *t, const void *records, int64_t n,
                          const results_attr_t *attrs, int nattrs, int rank, upset_err_t *err)
{
    hid_t group = -1, dxpl = -1;
    int64_t version = RESULTS_FORMAT_VERSION, one = 1;
    int rc = write_string_attr(file, "format", RESULTS_FORMAT_NAME, err) ||
             write_num_attr(file, "format_version", 0, &version, 1, 1, err);
    for (int i = 0; rc == 0 && i < nattrs; i++)
        rc = write_user_attr(file, &attrs[i], err);
    rc = rc || H5_CHECK(group = H5Gcreate2(file, t->group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                        err) ||
         write_num_attr(group, "n_records", 0, &n, 1, 1, err) ||
         H5_CHECK(dxpl = H5Pcreate(H5P_DATASET_XFER), err) ||
         H5_CHECK(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE), err);
    for (int c = 0; rc == 0 && c < t->ncolumns; c++)
        rc = write_column(group, &t->columns[c], t, records, n, rank, dxpl, err);
    rc = rc || write_num_attr(file, "complete", 0, &one, 1, 1, err) ||
         H5_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL), err);
    close_id(dxpl);
    close_id(group);
    return rc ? -1 : 0;
}

static int write_tmp(MPI_Comm comm, const char *tmp, const results_table_t *t,
                     const void *records, int64_t n, const results_attr_t *attrs, int nattrs,
                     int rank, upset_err_t *err)
{
    hid_t fapl = -1, fcpl = -1, file = -1;
    /* dense attribute storage (HDF5 1.8 file format): root attributes such as the
     * 20,000-entry sample_index exceed the 64 KiB of a compact object header */
    int rc = H5_CHECK(fapl = H5Pcreate(H5P_FILE_ACCESS), err) ||
             H5_CHECK(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL), err) ||
             H5_CHECK(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST), err) ||
             H5_CHECK(fcpl = H5Pcreate(H5P_FILE_CREATE), err) ||
             H5_CHECK(H5Pset_attr_phase_change(fcpl, 0, 0), err) ||
             H5_CHECK(file = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl), err);
    close_id(fcpl);
    if (rc == 0)
        rc = write_contents(file, t, records, n, attrs, nattrs, rank, err);
    if (file >= 0) {
        upset_err_t cerr = {""};
        if (H5_CHECK(H5Fclose(file), &cerr) && rc == 0) {
            rc = -1;
            *err = cerr;
        }
    }
    close_id(fapl);
    if (rc)
        upset_err_append(err, "while writing %s", tmp);
    return rc ? -1 : 0;
}

/* Rank 0's last step: the tmp file becomes the result, or disappears. */
static int finish(const char *tmp, const char *path, int ok, upset_err_t *err)
{
    if (!ok) {
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return upset_fail(err, "results: cannot rename %s to %s: %s", tmp, path, strerror(e));
    }
    fsync_dir_of(path);
    return 0;
}

int results_write(MPI_Comm comm, const char *path, const results_table_t *table,
                  const void *records, int64_t n, const results_attr_t *attrs, int nattrs,
                  upset_err_t *err)
{
    upset_err_t local = {""};
    if (!err)
        err = &local;
    int rank = 0;
    if (MPI_CHECK(MPI_Comm_rank(comm, &rank), err))
        return -1;
    char tmp[4096];
    int rc = check_table(table, err);
    if (rc == 0 && snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        rc = upset_fail(err, "results: path '%s' is too long", path);
    if (rc == 0 && rank == 0 && n > 0 && !records)
        rc = upset_fail(err, "results: %lld records but no data on rank 0", (long long)n);
    if (agree(comm, rc, err))
        return -1;

    results_attr_t *shared = NULL;
    unsigned char *packed = NULL;
    int nshared = 0;
    if (share_inputs(comm, rank, &n, attrs, nattrs, &shared, &nshared, &packed, err)) {
        free(shared);
        return -1;
    }
    h5_quiet_t q = h5_quiet_begin();
    rc = write_tmp(comm, tmp, table, records, n, shared, nshared, rank, err);
    h5_quiet_end(&q);
    free(shared);
    free(packed);
    /* Every rank has closed its handle before rank 0 renames or removes. */
    rc = agree(comm, rc, err);
    int fin = 0;
    if (rank == 0)
        fin = finish(tmp, path, rc == 0, err);
    if (rc)
        return -1;
    return agree(comm, fin, err);
}

/* ----------------------------------------------------------- writability -- */

int results_check_writable(const char *path, upset_err_t *err)
{
    struct stat st;
    if (!path || !path[0])
        return upset_fail(err, "results: empty output path");
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return upset_fail(err, "results: output %s is a directory, not a file", path);
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
    if (exists > 0 && H5_CHECK(a = H5Aopen(f, "complete", H5P_DEFAULT), err) == 0)
        H5Aread(a, H5T_NATIVE_INT64, &complete);
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

/* Reads fixed- or variable-length string attributes alike. */
static int read_string_attr(hid_t a, const char *what, char **out, upset_err_t *err)
{
    hid_t t = -1, mt = -1;
    int rc = H5_CHECK(t = H5Aget_type(a), err);
    if (rc == 0 && H5Tget_class(t) != H5T_STRING)
        rc = upset_fail(err, "results: %s is not a string", what);
    if (rc == 0 && H5Tis_variable_str(t) > 0) {
        char *s = NULL;
        /* read with the file's own type: its character set (ASCII or UTF-8) must match */
        rc = H5_CHECK(mt = H5Tcopy(t), err) || H5_CHECK(H5Aread(a, mt, &s), err);
        if (rc == 0) {
            *out = strdup(s ? s : "");
            H5free_memory(s);
        }
    } else if (rc == 0) {
        size_t sz = H5Tget_size(t);
        *out = calloc(sz + 1, 1);
        rc = *out ? H5_CHECK(mt = H5Tcopy(t), err) || H5_CHECK(H5Aread(a, mt, *out), err)
                  : upset_fail(err, "results: out of memory reading %s", what);
    }
    if (rc == 0 && !*out)
        rc = upset_fail(err, "results: out of memory reading %s", what);
    close_id(mt);
    close_id(t);
    return rc ? -1 : 0;
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
