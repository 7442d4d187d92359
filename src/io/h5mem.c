/* In-memory HDF5 files written with POSIX I/O (see include/upset/h5mem.h). */
#include "upset/h5mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upset/fileutil.h"
#include "upset/mpicheck.h"

/* Bob Jenkins' lookup3 hashlittle (public domain), byte by byte: HDF5's
 * metadata checksum (initial value 0). */
static uint32_t rot32(uint32_t x, int k)
{
    return (x << k) | (x >> (32 - k));
}

static uint32_t lookup3(const unsigned char *k, size_t length)
{
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)length;
    while (length > 12) {
        a += k[0] + ((uint32_t)k[1] << 8) + ((uint32_t)k[2] << 16) + ((uint32_t)k[3] << 24);
        b += k[4] + ((uint32_t)k[5] << 8) + ((uint32_t)k[6] << 16) + ((uint32_t)k[7] << 24);
        c += k[8] + ((uint32_t)k[9] << 8) + ((uint32_t)k[10] << 16) + ((uint32_t)k[11] << 24);
        a -= c, a ^= rot32(c, 4), c += b;
        b -= a, b ^= rot32(a, 6), a += c;
        c -= b, c ^= rot32(b, 8), b += a;
        a -= c, a ^= rot32(c, 16), c += b;
        b -= a, b ^= rot32(a, 19), a += c;
        c -= b, c ^= rot32(b, 4), b += a;
        length -= 12;
        k += 12;
    }
    if (length == 0)
        return c;
    unsigned char t[12] = {0};
    memcpy(t, k, length);
    a += t[0] + ((uint32_t)t[1] << 8) + ((uint32_t)t[2] << 16) + ((uint32_t)t[3] << 24);
    b += t[4] + ((uint32_t)t[5] << 8) + ((uint32_t)t[6] << 16) + ((uint32_t)t[7] << 24);
    c += t[8] + ((uint32_t)t[9] << 8) + ((uint32_t)t[10] << 16) + ((uint32_t)t[11] << 24);
    c ^= b, c -= rot32(b, 14);
    a ^= c, a -= rot32(c, 11);
    b ^= a, b -= rot32(a, 25);
    c ^= b, c -= rot32(b, 16);
    a ^= c, a -= rot32(c, 4);
    b ^= a, b -= rot32(a, 14);
    c ^= b, c -= rot32(b, 24);
    return c;
}

/* HDF5 1.10's H5Fget_file_image clears the write-access flag of a version 2/3
 * superblock in the image but keeps the checksum of the open file, so readers
 * refuse the image ("incorrect metadata checksum"). Recompute it: signature 8,
 * version, offset and length sizes, flags, four addresses, then the checksum. */
static void fix_superblock(unsigned char *img, size_t size)
{
    if (size < 12 || memcmp(img, "\211HDF\r\n\032\n", 8) || (img[8] != 2 && img[8] != 3))
        return;
    size_t body = 12 + 4 * (size_t)img[9];
    if (body + 4 > size)
        return;
    uint32_t sum = lookup3(img, body);
    for (int i = 0; i < 4; i++)
        img[body + (size_t)i] = (unsigned char)(sum >> (8 * i));
}

hid_t h5mem_create(upset_err_t *err)
{
    hid_t fapl = -1, fcpl = -1, file = -1;
    h5_quiet_t q = h5_quiet_begin();
    int rc = H5_CHECK(fapl = H5Pcreate(H5P_FILE_ACCESS), err) ||
             H5_CHECK(H5Pset_fapl_core(fapl, (size_t)1 << 20, 0), err) ||
             H5_CHECK(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST), err) ||
             H5_CHECK(fcpl = H5Pcreate(H5P_FILE_CREATE), err) ||
             H5_CHECK(H5Pset_attr_phase_change(fcpl, 0, 0), err) ||
             H5_CHECK(file = H5Fcreate("upset-in-memory.h5", H5F_ACC_TRUNC, fcpl, fapl), err);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (fapl >= 0)
        H5Pclose(fapl);
    h5_quiet_end(&q);
    return rc ? -1 : file;
}

/* The file's image written by `put` (file_write_all or file_replace); file closed. */
static int save_image(hid_t file, const char *path,
                      int (*put)(const char *, const void *, size_t, upset_err_t *),
                      upset_err_t *err)
{
    h5_quiet_t q = h5_quiet_begin();
    ssize_t size = -1;
    unsigned char *image = NULL;
    int rc = H5_CHECK(H5Fflush(file, H5F_SCOPE_LOCAL), err) ||
             H5_CHECK(size = H5Fget_file_image(file, NULL, 0), err);
    if (!rc && !(image = malloc(size > 0 ? (size_t)size : 1)))
        rc = upset_fail(err, "%s: out of memory for a %zd-byte file", path, size);
    rc = rc || H5_CHECK(H5Fget_file_image(file, image, (size_t)size), err);
    if (H5Fclose(file) < 0 && !rc)
        rc = upset_fail(err, "%s: closing the in-memory file failed", path);
    h5_quiet_end(&q);
    if (!rc) {
        fix_superblock(image, (size_t)size);
        rc = put(path, image, (size_t)size, err);
    }
    free(image);
    return rc ? -1 : 0;
}

int h5mem_save(hid_t file, const char *path, upset_err_t *err)
{
    return save_image(file, path, file_write_all, err);
}

int h5mem_replace(hid_t file, const char *path, upset_err_t *err)
{
    return save_image(file, path, file_replace, err);
}

/* ---- attributes and datasets ---- */

hid_t h5mem_string_type(upset_err_t *err)
{
    hid_t t = -1;
    if (H5_CHECK(t = H5Tcopy(H5T_C_S1), err))
        return -1;
    if (H5_CHECK(H5Tset_size(t, H5T_VARIABLE), err) ||
        H5_CHECK(H5Tset_cset(t, H5T_CSET_UTF8), err)) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* One attribute: a scalar (len < 0) or 1-D of len values. */
static int attr(hid_t obj, const char *name, hid_t ftype, hid_t mtype, int64_t len,
                const void *data, upset_err_t *err)
{
    hsize_t dim = (hsize_t)(len < 0 ? 0 : len);
    hid_t sp = -1, a = -1;
    int rc = len < 0 ? H5_CHECK(sp = H5Screate(H5S_SCALAR), err)
                     : H5_CHECK(sp = H5Screate_simple(1, &dim, NULL), err);
    rc = rc || H5_CHECK(a = H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT), err) ||
         (len != 0 && H5_CHECK(H5Awrite(a, mtype, data), err));
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    return rc ? -1 : 0;
}

int h5mem_attr_string(hid_t obj, const char *name, const char *s, upset_err_t *err)
{
    hid_t t = h5mem_string_type(err);
    const char *v = s ? s : "";
    int rc = t < 0 || attr(obj, name, t, t, -1, &v, err);
    if (t >= 0)
        H5Tclose(t);
    return rc ? -1 : 0;
}

int h5mem_attr_i64(hid_t obj, const char *name, const int64_t *v, int64_t len,
                   upset_err_t *err)
{
    return attr(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, len, v, err);
}

int h5mem_attr_f64(hid_t obj, const char *name, const double *v, int64_t len,
                   upset_err_t *err)
{
    return attr(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, len, v, err);
}

hid_t h5mem_dataset(hid_t grp, const char *name, hid_t ftype, hid_t mtype, int64_t rows,
                    int64_t cols, const void *data, upset_err_t *err)
{
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
    hid_t sp = -1, ds = -1;
    int rc = H5_CHECK(sp = H5Screate_simple(cols ? 2 : 1, dims, NULL), err) ||
             H5_CHECK(ds = H5Dcreate2(grp, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT,
                                      H5P_DEFAULT),
                      err) ||
             (rows > 0 && H5_CHECK(H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), err));
    if (sp >= 0)
        H5Sclose(sp);
    if (rc && ds >= 0) {
        H5Dclose(ds);
        ds = -1;
    }
    return rc ? -1 : ds;
}
