#include "h5util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int h5_has_attr(hid_t obj, const char *name)
{
    return H5Aexists(obj, name) > 0;
}

static int missing(h5ctx_t *c, const char *name, const char *what)
{
    return upset_fail(c->err, "%s: %s: %s '%s' %s", c->file, c->where, what, name,
                      "is missing or unreadable");
}

int h5_attr_string(h5ctx_t *c, hid_t obj, const char *name, char *out, size_t len)
{
    if (!h5_has_attr(obj, name))
        return missing(c, name, "attribute");
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    int rc = -1;
    if (H5Tget_class(t) != H5T_STRING) {
        upset_fail(c->err, "%s: %s: attribute '%s' is not a string", c->file, c->where, name);
    } else if (H5Tis_variable_str(t) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        char *s = NULL;
        if (H5Aread(a, mt, &s) >= 0 && s) {
            snprintf(out, len, "%s", s);
            H5free_memory(s);
            rc = 0;
        }
        H5Tclose(mt);
    } else {
        size_t sz = H5Tget_size(t);
        char *buf = calloc(sz + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, sz + 1);
        if (buf && H5Aread(a, mt, buf) >= 0) {
            snprintf(out, len, "%s", buf);
            rc = 0;
        }
        H5Tclose(mt);
        free(buf);
    }
    if (rc && !c->err->msg[0])
        missing(c, name, "attribute");
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

/* Reads a numeric attribute (scalar or 1-D) into out[max] as native type mt. */
static int attr_numeric(h5ctx_t *c, hid_t obj, const char *name, hid_t mt, void *out,
                        size_t elem, int max, int *n)
{
    if (!h5_has_attr(obj, name))
        return missing(c, name, "attribute");
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    hid_t s = H5Aget_space(a);
    int rc = -1;
    H5T_class_t cls = H5Tget_class(t);
    hssize_t npts = H5Sget_simple_extent_npoints(s);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        upset_fail(c->err, "%s: %s: attribute '%s' is not numeric", c->file, c->where, name);
    } else if (npts < 1 || npts > max) {
        upset_fail(c->err, "%s: %s: attribute '%s' has %lld elements, expected 1..%d", c->file,
                   c->where, name, (long long)npts, max);
    } else {
        void *buf = calloc((size_t)npts, elem);
        if (buf && H5Aread(a, mt, buf) >= 0) {
            memcpy(out, buf, (size_t)npts * elem);
            *n = (int)npts;
            rc = 0;
        } else {
            missing(c, name, "attribute");
        }
        free(buf);
    }
    H5Sclose(s);
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

int h5_attr_int(h5ctx_t *c, hid_t obj, const char *name, int64_t *out)
{
    int n;
    return attr_numeric(c, obj, name, H5T_NATIVE_INT64, out, sizeof *out, 1, &n);
}

int h5_attr_double(h5ctx_t *c, hid_t obj, const char *name, double *out)
{
    int n;
    return attr_numeric(c, obj, name, H5T_NATIVE_DOUBLE, out, sizeof *out, 1, &n);
}

int h5_attr_ints(h5ctx_t *c, hid_t obj, const char *name, int64_t *out, int max, int *n)
{
    return attr_numeric(c, obj, name, H5T_NATIVE_INT64, out, sizeof *out, max, n);
}

static int read_dataset(h5ctx_t *c, hid_t grp, const char *name, hid_t mt, void *out,
                        int64_t count)
{
    if (H5Lexists(grp, name, H5P_DEFAULT) <= 0)
        return missing(c, name, "dataset");
    hid_t d = H5Dopen2(grp, name, H5P_DEFAULT);
    if (d < 0)
        return missing(c, name, "dataset");
    hid_t s = H5Dget_space(d);
    hssize_t npts = H5Sget_simple_extent_npoints(s);
    int rc = -1;
    if (npts != count)
        upset_fail(c->err, "%s: %s: dataset '%s' has %lld elements, expected %lld (shape mismatch)",
                   c->file, c->where, name, (long long)npts, (long long)count);
    else if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        upset_fail(c->err, "%s: %s: dataset '%s' cannot be read (corrupt file?)", c->file,
                   c->where, name);
    else
        rc = 0;
    H5Sclose(s);
    H5Dclose(d);
    return rc;
}

int h5_read_floats(h5ctx_t *c, hid_t grp, const char *name, float *out, int64_t count)
{
    return read_dataset(c, grp, name, H5T_NATIVE_FLOAT, out, count);
}

int h5_read_int32s(h5ctx_t *c, hid_t grp, const char *name, int32_t *out, int64_t count)
{
    return read_dataset(c, grp, name, H5T_NATIVE_INT32, out, count);
}
