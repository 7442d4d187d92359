/* Generic results file (HDF5); layout in docs/results-format.md.
 *
 * A result is a table of fixed-size POD records (one per item). The caller
 * describes the record's columns once, best with an X-macro that also
 * declares the struct (see src/campaign/kind_oracle.c):
 *
 *     #define BIT_COLUMNS(X)                                              \
 *         X(int64_t, bit,        RESULTS_INT64,   "1", "global bit index") \
 *         X(double,  mean_emd,   RESULTS_FLOAT64, "1", "faulty mean EMD")
 *     #define AS_FIELD(ctype, name, type, unit, desc) ctype name;
 *     #define AS_COLUMN(ctype, name, type, unit, desc) \
 *         RESULTS_COLUMN(bit_record_t, name, type, unit, desc),
 *     typedef struct { BIT_COLUMNS(AS_FIELD) } bit_record_t;
 *     static const results_column_t bit_columns[] = { BIT_COLUMNS(AS_COLUMN) };
 *
 * results_write stores each column as its own 1-D dataset under a group (one
 * dataset per column reads fast and selectively from h5py/h5dump, unlike a
 * compound dataset), root attributes from the caller, and `complete` = 1 last.
 * It writes `<path>.tmp` and renames it to `<path>` only once the whole file
 * is on disk, so a file named `<path>` is always complete; on failure the .tmp
 * file is removed. */
#ifndef UPSET_RESULTS_H
#define UPSET_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "upset/error.h"

#define RESULTS_FORMAT_NAME "upset-results"
#define RESULTS_FORMAT_VERSION 1

typedef enum { RESULTS_INT8, RESULTS_INT32, RESULTS_INT64, RESULTS_FLOAT64 } results_type_t;

/* Bytes per element of a column type (1, 4, 8, 8). */
size_t results_type_size(results_type_t type);

typedef struct {
    const char *name;        /* dataset name, unique in the table */
    results_type_t type;
    size_t offset;           /* byte offset of the field in the record */
    const char *unit;        /* stored as the dataset's "unit" attribute */
    const char *description; /* stored as the dataset's "description" attribute */
} results_column_t;

#define RESULTS_COLUMN(rec_t, field, type, unit, desc)                                   \
    {#field, (type), offsetof(rec_t, field), (unit), (desc)}

typedef struct {
    const char *group;      /* HDF5 group holding the columns, e.g. "bits" */
    size_t record_size;     /* sizeof the record struct */
    const results_column_t *columns;
    int ncolumns;
} results_table_t;

typedef enum {
    RESULTS_ATTR_STRING,
    RESULTS_ATTR_INT64,
    RESULTS_ATTR_FLOAT64,
    RESULTS_ATTR_INT64_ARRAY,
    RESULTS_ATTR_FLOAT64_ARRAY
} results_attr_kind_t;

/* One root attribute. Fill with the RESULTS_ATTR_* constructors below. */
typedef struct {
    const char *name;
    results_attr_kind_t kind;
    const char *s;      /* STRING (UTF-8, stored variable-length) */
    int64_t i;          /* INT64 */
    double f;           /* FLOAT64 */
    const int64_t *iv;  /* INT64_ARRAY */
    const double *fv;   /* FLOAT64_ARRAY */
    int64_t len;        /* array length (>= 1) */
} results_attr_t;

#define RESULTS_ATTR_STR(n, v) ((results_attr_t){.name = (n), .kind = RESULTS_ATTR_STRING, .s = (v)})
#define RESULTS_ATTR_I64(n, v) ((results_attr_t){.name = (n), .kind = RESULTS_ATTR_INT64, .i = (v)})
#define RESULTS_ATTR_F64(n, v)                                                           \
    ((results_attr_t){.name = (n), .kind = RESULTS_ATTR_FLOAT64, .f = (v)})
#define RESULTS_ATTR_I64V(n, v, l)                                                       \
    ((results_attr_t){.name = (n), .kind = RESULTS_ATTR_INT64_ARRAY, .iv = (v), .len = (l)})
#define RESULTS_ATTR_F64V(n, v, l)                                                       \
    ((results_attr_t){.name = (n), .kind = RESULTS_ATTR_FLOAT64_ARRAY, .fv = (v), .len = (l)})

/* One process (an MPI campaign's rank 0; the caller tells the other ranks the outcome)
 * builds the file in memory (upset/h5mem.h): the group with one dataset per column
 * (each with unit, description and checksum_fnv1a64 attributes), the root attributes
 * `format`, `format_version`, the caller's, and `complete` = 1 last; writes it to
 * `<path>.tmp` with checked POSIX writes, fsyncs and renames it to path. 0, or -1 with
 * a message (a full disk included); on failure no `<path>` is created (an older one
 * stays as it was) and `<path>.tmp` is removed. Attribute names format,
 * format_version and complete are reserved. */
int results_write(const char *path, const results_table_t *table, const void *records,
                  int64_t n, const results_attr_t *attrs, int nattrs, upset_err_t *err);

/* Serial. Fails early (before a long campaign) when path cannot be created:
 * missing or unwritable directory, path is a directory. Creates and removes a
 * probe file next to path. */
int results_check_writable(const char *path, upset_err_t *err);

/* Serial, any rank, no MPI needed. Reads column `name` of `group` converted to
 * type into a malloc'd array (*out, free() it) of *n elements. Refuses a file
 * whose `complete` attribute is not 1, and a column whose values disagree with
 * its stored checksum_fnv1a64 (files written before checksums have none). */
int results_read_column(const char *path, const char *group, const char *name,
                        results_type_t type, void **out, int64_t *n, upset_err_t *err);

/* Serial readers of root attributes (a complete file is required too). */
int results_read_attr_int64(const char *path, const char *name, int64_t *out, upset_err_t *err);
int results_read_attr_float64(const char *path, const char *name, double *out, upset_err_t *err);
/* *out is malloc'd and NUL-terminated; free() it. */
int results_read_attr_string(const char *path, const char *name, char **out, upset_err_t *err);
/* Scalar or 1-D numeric attribute converted to type into a malloc'd array. */
int results_read_attr_array(const char *path, const char *name, results_type_t type, void **out,
                            int64_t *len, upset_err_t *err);

#endif
