/* Small HDF5 reading helpers shared by the model loader: each returns 0 or -1
 * with a message naming the file, object and field. */
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

int h5_has_attr(hid_t obj, const char *name);
int h5_attr_string(h5ctx_t *c, hid_t obj, const char *name, char *out, size_t len);
int h5_attr_int(h5ctx_t *c, hid_t obj, const char *name, int64_t *out);
int h5_attr_double(h5ctx_t *c, hid_t obj, const char *name, double *out);
/* Reads an integer array attribute of 1..max elements; *n gets its length. */
int h5_attr_ints(h5ctx_t *c, hid_t obj, const char *name, int64_t *out, int max, int *n);
/* Reads a dataset of exactly `count` elements as float or int32. */
int h5_read_floats(h5ctx_t *c, hid_t grp, const char *name, float *out, int64_t count);
int h5_read_int32s(h5ctx_t *c, hid_t grp, const char *name, int32_t *out, int64_t count);

#endif
