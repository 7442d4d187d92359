/* Small HDF5 reading helpers shared by the model loader and the hdf5 data loader: each
 * returns 0 or -1 with a message naming the file, object and field. */
#ifndef UPSET_H5UTIL_H
#define UPSET_H5UTIL_H

#include <hdf5.h>
#include <stdint.h>

#include "upset/error.h"

typedef struct {
    const char *file;  /* for messages */
    const char *where; /* object path, for messages */
    upset_err_t *err;
} h5ctx_t;

/* libhdf5's own error printing, saved while it is off. */
typedef struct {
    H5E_auto2_t fn;
    void *data;
} h5_quiet_t;
/* Opens path read-only with libhdf5's error printing off (the loaders word their own
 * messages); < 0 when it cannot. h5_close_quiet closes it (if open) and restores q. */
hid_t h5_open_quiet(const char *path, h5_quiet_t *q);
void h5_close_quiet(hid_t file, const h5_quiet_t *q);

int h5_has_attr(hid_t obj, const char *name);
int h5_attr_string(h5ctx_t *c, hid_t obj, const char *name, char *out, size_t len);
int h5_attr_int(h5ctx_t *c, hid_t obj, const char *name, int64_t *out);
int h5_attr_double(h5ctx_t *c, hid_t obj, const char *name, double *out);
/* Reads an integer array attribute of 1..max elements; *n gets its length. */
int h5_attr_ints(h5ctx_t *c, hid_t obj, const char *name, int64_t *out, int max, int *n);
/* The extents a dataset must have. */
typedef struct {
    int nd;
    int64_t d[4];
} h5_shape_t;

/* The rank of dataset name in grp (0 when it is absent, -1 when unreadable) and, when it
 * is 1..4, its extents in dims. */
int h5_dataset_extents(hid_t grp, const char *name, hsize_t dims[4]);

/* Number of elements of a shape. */
int64_t h5_shape_count(h5_shape_t s);

/* Reads a dataset of exactly the given shape into a new array (*out, free() it; NULL on
 * failure), with one open: floats from a floating-point dataset, every value finite; int32
 * codes from an integer dataset (a float dataset of codes would be truncated silently). The
 * type, shape and chunk dimensions are checked before room is made or data is read (the
 * shape a size comes from may be absurd, and a corrupt chunk size crashes libhdf5 itself). */
int h5_alloc_read_floats(h5ctx_t *c, hid_t grp, const char *name, float **out,
                         h5_shape_t shape);
int h5_alloc_read_int32s(h5ctx_t *c, hid_t grp, const char *name, int32_t **out,
                         h5_shape_t shape);

/* "(a, b, c)" into buf. */
const char *h5_shape_str(const int64_t *d, int nd, char *buf, size_t len);

#endif
