/* Shared by the structure-aware HDF5 fuzz targets (fuzz_model, fuzz_hdf5data). */
#ifndef UPSET_FUZZ_H5_H
#define UPSET_FUZZ_H5_H

#include <hdf5.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Overwrites element at (modulo the element count) of dataset name in grp with up to 5 raw
 * bytes: NaN, infinity, out-of-range codes and labels. Nothing when it is absent. */
static inline void fuzz_poke_element(hid_t grp, const char *name, size_t at, const uint8_t *bytes)
{
    hid_t d = H5Dopen2(grp, name, H5P_DEFAULT);
    if (d < 0)
        return;
    hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    size_t sz = H5Tget_size(t);
    if (n > 0 && sz <= 8) {
        unsigned char *buf = malloc((size_t)n * sz);
        hid_t mt = H5Tget_native_type(t, H5T_DIR_DEFAULT);
        if (buf && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0) {
            memcpy(buf + at % (size_t)n * sz, bytes, sz < 5 ? sz : 5);
            H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        }
        H5Tclose(mt);
        free(buf);
    }
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(d);
}

#endif
