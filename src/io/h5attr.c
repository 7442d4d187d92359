#include "upset/h5attr.h"

#include <stdlib.h>
#include <string.h>

int64_t h5attr_count(hid_t a)
{
    hid_t sp = H5Aget_space(a);
    if (sp < 0)
        return -1;
    const hssize_t n = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    return n < 0 ? -1 : (int64_t)n;
}

h5attr_status_t h5attr_read_string(hid_t a, char **out)
{
    *out = NULL;
    hid_t t = H5Aget_type(a);
    if (t < 0)
        return H5ATTR_UNREADABLE;
    h5attr_status_t st = H5ATTR_UNREADABLE;
    hid_t mt = -1;
    if (H5Tget_class(t) != H5T_STRING) {
        st = H5ATTR_NOT_STRING;
    } else if (h5attr_count(a) != 1) {
        st = H5ATTR_NOT_ONE;
    } else if (H5Tis_variable_str(t) > 0) {
        char *s = NULL;
        if ((mt = H5Tcopy(t)) >= 0 && H5Aread(a, mt, &s) >= 0) {
            *out = strdup(s ? s : "");
            H5free_memory(s);
            st = *out ? H5ATTR_OK : H5ATTR_UNREADABLE;
        }
    } else {
        /* read as a NUL-terminated C string one byte longer: a fixed-length string need
         * not hold its NUL, and space padding is dropped in the conversion */
        const size_t sz = H5Tget_size(t);
        char *s = calloc(sz + 1, 1);
        if (s && (mt = H5Tcopy(H5T_C_S1)) >= 0 && H5Tset_size(mt, sz + 1) >= 0 &&
            H5Tset_cset(mt, H5Tget_cset(t)) >= 0 && H5Aread(a, mt, s) >= 0) {
            *out = s;
            st = H5ATTR_OK;
        } else {
            free(s);
        }
    }
    if (mt >= 0)
        H5Tclose(mt);
    H5Tclose(t);
    return st;
}

h5attr_status_t h5attr_read_int64(hid_t a, int64_t *out)
{
    hid_t t = H5Aget_type(a);
    if (t < 0)
        return H5ATTR_UNREADABLE;
    const H5T_class_t cls = H5Tget_class(t);
    H5Tclose(t);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT)
        return H5ATTR_NOT_NUMBER;
    if (h5attr_count(a) != 1)
        return H5ATTR_NOT_ONE;
    return H5Aread(a, H5T_NATIVE_INT64, out) >= 0 ? H5ATTR_OK : H5ATTR_UNREADABLE;
}
