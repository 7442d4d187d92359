/* Reading one HDF5 attribute value safely: H5Aread writes every element an attribute
 * holds, so reading an array attribute into room for one value overruns it (a converter
 * storing a list, a hostile file). Every reader of a single string or number checks the
 * element count here first. */
#ifndef UPSET_H5ATTR_H
#define UPSET_H5ATTR_H

#include <hdf5.h>
#include <stdint.h>

typedef enum {
    H5ATTR_OK = 0,
    H5ATTR_NOT_STRING, /* another class: a number, a compound */
    H5ATTR_NOT_NUMBER,
    H5ATTR_NOT_ONE,    /* an array (h5attr_count says how many) */
    H5ATTR_UNREADABLE, /* libhdf5 failed, or out of memory */
} h5attr_status_t;

/* Elements the attribute holds (a scalar: 1); -1 when unreadable. */
int64_t h5attr_count(hid_t a);

/* One string, fixed- or variable-length, ASCII or UTF-8 (read in the file's own character
 * set: the two do not convert), as a malloc'd copy in *out (NULL on failure). */
h5attr_status_t h5attr_read_string(hid_t a, char **out);

/* One integer or floating-point value as int64 (HDF5's conversion: floats truncate). */
h5attr_status_t h5attr_read_int64(hid_t a, int64_t *out);

#endif
