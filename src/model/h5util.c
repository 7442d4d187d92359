#include "h5util.h"

#include "upset/h5attr.h"

#include <math.h>
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
    char *s = NULL;
    const h5attr_status_t st = a < 0 ? H5ATTR_UNREADABLE : h5attr_read_string(a, &s);
    if (st == H5ATTR_OK)
        snprintf(out, len, "%s", s);
    else if (st == H5ATTR_NOT_STRING)
        upset_fail(c->err, "%s: %s: attribute '%s' is not a string", c->file, c->where, name);
    else if (st == H5ATTR_NOT_ONE)
        upset_fail(c->err, "%s: %s: attribute '%s' holds %lld strings, expected one", c->file,
                   c->where, name, (long long)h5attr_count(a));
    else
        missing(c, name, "attribute");
    free(s);
    if (a >= 0)
        H5Aclose(a);
    return st == H5ATTR_OK ? 0 : -1;
}

/* An integer field stored as floats: HDF5's conversion would truncate 8.9 to 8, so each value
 * must be integral and within int64. */
static int float_attr_as_ints(h5ctx_t *c, hid_t a, const char *name, int64_t *out, int n)
{
    double *v = calloc((size_t)n, sizeof *v);
    if (!v || H5Aread(a, H5T_NATIVE_DOUBLE, v) < 0) {
        free(v);
        return missing(c, name, "attribute");
    }
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (!(v[i] == floor(v[i]) && fabs(v[i]) < 0x1p62))
            rc = upset_fail(c->err, "%s: %s: attribute '%s' must hold integers, has %g",
                            c->file, c->where, name, v[i]);
        else
            out[i] = (int64_t)v[i];
    }
    free(v);
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
    } else if (cls == H5T_FLOAT && H5Tequal(mt, H5T_NATIVE_INT64) > 0) {
        rc = float_attr_as_ints(c, a, name, out, (int)npts);
        if (!rc)
            *n = (int)npts;
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

/* After a failed read: a compression filter this HDF5 library lacks (h5py's lzf, a plugin
 * such as blosc) fails it just as a damaged file does, so name the filter. */
static int check_filters(h5ctx_t *c, hid_t d, const char *name)
{
    hid_t pl = H5Dget_create_plist(d);
    const int n = pl < 0 ? 0 : H5Pget_nfilters(pl);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        unsigned flags, cd[8], config;
        size_t n_cd = 8;
        char fname[64] = "";
        const H5Z_filter_t id =
            H5Pget_filter2(pl, (unsigned)i, &flags, &n_cd, cd, sizeof fname, fname, &config);
        if (id >= 0 && H5Zfilter_avail(id) <= 0)
            rc = upset_fail(c->err, "%s: %s: dataset '%s' is stored with HDF5 filter %d (%s), "
                                    "which this HDF5 library lacks; rewrite it without it "
                                    "(e.g. gzip)",
                            c->file, c->where, name, (int)id, fname[0] ? fname : "unnamed");
    }
    if (pl >= 0)
        H5Pclose(pl);
    return rc;
}

static int read_dataset(h5ctx_t *c, hid_t grp, const char *name, int want_float, void **out,
                        h5_shape_t shape);

const char *h5_shape_str(const int64_t *d, int nd, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < nd && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ", %lld" : "%lld", (long long)d[i]);
    if (used < len)
        snprintf(buf + used, len - used, nd == 1 ? ",)" : ")");
    return buf;
}

/* Extents and chunking of an open dataset against the expected shape. */
static int check_layout(h5ctx_t *c, hid_t d, const char *name, h5_shape_t want)
{
    hid_t s = H5Dget_space(d);
    int nd = s < 0 ? -1 : H5Sget_simple_extent_ndims(s);
    hsize_t dims[H5S_MAX_RANK];
    int64_t got[H5S_MAX_RANK];
    int ok = nd >= 0 && nd <= H5S_MAX_RANK && H5Sget_simple_extent_dims(s, dims, NULL) == nd;
    if (s >= 0)
        H5Sclose(s);
    if (!ok)
        return upset_fail(c->err, "%s: %s: dataset '%s' has an unreadable shape", c->file,
                          c->where, name);
    int same = nd == want.nd;
    for (int i = 0; i < nd; i++) {
        got[i] = (int64_t)dims[i];
        same = same && got[i] == want.d[i];
    }
    if (!same) {
        char a[128], b[128];
        return upset_fail(c->err, "%s: %s: dataset '%s' has shape %s but the layer needs %s",
                          c->file, c->where, name, h5_shape_str(got, nd, a, sizeof a),
                          h5_shape_str(want.d, want.nd, b, sizeof b));
    }
    hid_t pl = H5Dget_create_plist(d);
    int rc = 0;
    if (pl >= 0 && H5Pget_layout(pl) == H5D_CHUNKED) {
        hsize_t chunk[H5S_MAX_RANK];
        int cn = H5Pget_chunk(pl, H5S_MAX_RANK, chunk);
        double bytes = 4;
        for (int i = 0; i < cn; i++)
            bytes *= (double)chunk[i];
        ok = cn == nd;
        for (int i = 0; ok && i < cn; i++)
            ok = chunk[i] >= 1 && chunk[i] <= dims[i];
        if (!ok || bytes > 4294967295.0)
            rc = upset_fail(c->err, "%s: %s: dataset '%s' has corrupt chunk dimensions "
                                    "(larger than the dataset); the file is damaged",
                            c->file, c->where, name);
    }
    if (pl >= 0)
        H5Pclose(pl);
    return rc;
}

/* HDF5 saturates a value that does not fit the memory type (an int64 label 2^40 became
 * 2147483647, a double 1e39 float32's infinity): a read with this callback fails instead. */
static H5T_conv_ret_t refuse_out_of_range(H5T_conv_except_t e, hid_t src, hid_t dst, void *sb,
                                          void *db, void *user)
{
    (void)src, (void)dst, (void)sb, (void)db, (void)user;
    return e == H5T_CONV_EXCEPT_RANGE_HI || e == H5T_CONV_EXCEPT_RANGE_LOW ? H5T_CONV_ABORT
                                                                           : H5T_CONV_UNHANDLED;
}

static int read_dataset(h5ctx_t *c, hid_t grp, const char *name, int want_float, void **out,
                        h5_shape_t shape)
{
    *out = NULL;
    if (H5Lexists(grp, name, H5P_DEFAULT) <= 0)
        return missing(c, name, "dataset");
    hid_t d = H5Dopen2(grp, name, H5P_DEFAULT);
    if (d < 0)
        return missing(c, name, "dataset");
    hid_t t = H5Dget_type(d);
    H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    if (t >= 0)
        H5Tclose(t);
    int rc = -1;
    hid_t xfer = -1;
    if (want_float && cls != H5T_FLOAT)
        upset_fail(c->err, "%s: %s: dataset '%s' must hold floating-point values", c->file,
                   c->where, name);
    else if (!want_float && cls != H5T_INTEGER)
        upset_fail(c->err,
                   "%s: %s: dataset '%s' must hold integers; a floating-point "
                   "dataset would be truncated",
                   c->file, c->where, name);
    else if (check_layout(c, d, name, shape))
        ; /* message set */
    else if (!(*out = upset_calloc((size_t)h5_shape_count(shape), want_float ? sizeof(float)
                                                                              : sizeof(int32_t),
                                   c->err)))
        ; /* message set */
    else if ((xfer = H5Pcreate(H5P_DATASET_XFER)) < 0 ||
             H5Pset_type_conv_cb(xfer, refuse_out_of_range, NULL) < 0 ||
             H5Dread(d, want_float ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, xfer,
                     *out) < 0) {
        if (!check_filters(c, d, name)) /* a missing filter is named; else: */
            upset_fail(c->err,
                       "%s: %s: dataset '%s' cannot be read: a value outside %s's range, "
                       "or a corrupt file",
                       c->file, c->where, name, want_float ? "float32" : "int32");
    } else
        rc = 0;
    if (xfer >= 0)
        H5Pclose(xfer);
    H5Dclose(d);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

hid_t h5_open_quiet(const char *path, h5_quiet_t *q)
{
    H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
}

void h5_close_quiet(hid_t file, const h5_quiet_t *q)
{
    if (file >= 0)
        H5Fclose(file);
    H5Eset_auto2(H5E_DEFAULT, q->fn, q->data);
}

int h5_dataset_extents(hid_t grp, const char *name, hsize_t dims[4])
{
    if (H5Lexists(grp, name, H5P_DEFAULT) <= 0)
        return 0;
    hid_t d = H5Dopen2(grp, name, H5P_DEFAULT);
    hid_t sp = d < 0 ? -1 : H5Dget_space(d);
    const int nd = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (nd >= 1 && nd <= 4)
        H5Sget_simple_extent_dims(sp, dims, NULL);
    if (sp >= 0)
        H5Sclose(sp);
    if (d >= 0)
        H5Dclose(d);
    return nd;
}

int64_t h5_shape_count(h5_shape_t s)
{
    int64_t n = 1;
    for (int i = 0; i < s.nd; i++)
        n *= s.d[i];
    return n;
}

int h5_alloc_read_floats(h5ctx_t *c, hid_t grp, const char *name, float **out,
                         h5_shape_t shape)
{
    if (read_dataset(c, grp, name, 1, (void **)out, shape))
        return -1;
    const int64_t n = h5_shape_count(shape);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite((*out)[i]))
            return upset_fail(c->err, "%s: %s: dataset '%s' holds %s at flat index %lld",
                              c->file, c->where, name, isnan((*out)[i]) ? "NaN" : "an infinity",
                              (long long)i);
    return 0;
}

int h5_alloc_read_int32s(h5ctx_t *c, hid_t grp, const char *name, int32_t **out,
                         h5_shape_t shape)
{
    return read_dataset(c, grp, name, 0, (void **)out, shape);
}
