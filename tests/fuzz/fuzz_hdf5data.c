/* HDF5 data files (format hdf5), structure-aware as fuzz_model is: the input is a list of
 * edits (replace /x or /y by a dataset of another rank, extents, type or contents, delete
 * one, overwrite an element with raw bytes, add an unrelated dataset) applied with the HDF5
 * API to a small well-formed file, which is then loaded with an offset and count from the
 * input and, if accepted, checked against chisel4ml's digit model (models/, run from the
 * repository root). Byte-level HDF5 corruption crashes libhdf5 itself; what this checks is
 * that upset's own reading and checks survive every well-formed file. */
#include <hdf5.h>
#include <string.h>

#include "fuzz_h5.h"
#include "fuzz_util.h"
#include "upset/dataset.h"
#include "upset/h5mem.h"
#include "upset/model.h"
#include "upset/task.h"

static model_t digits;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    upset_err_t err = {{0}};
    if (model_load("models/chisel4ml_digits.h5", &digits, &err)) {
        fprintf(stderr, "fuzz_hdf5data: run from the repository root (%s)\n", err.msg);
        exit(1);
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return 0;
}

/* A dataset NAME of rank 1..5 (extents from e), of one of five types, filled from e. */
static void put(hid_t file, const char *name, const uint8_t *e)
{
    hsize_t dims[5] = {e[2] % 7, 1 + e[3] % 9, 1 + e[4] % 9, 1 + e[5] % 3, 1};
    const int nd = 1 + e[6] % 5;
    const hid_t t = e[7] % 5 == 0   ? H5T_NATIVE_FLOAT
                    : e[7] % 5 == 1 ? H5T_NATIVE_DOUBLE
                    : e[7] % 5 == 2 ? H5T_NATIVE_INT32
                    : e[7] % 5 == 3 ? H5T_NATIVE_INT8
                                    : H5T_NATIVE_UINT64;
    H5Ldelete(file, name, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(nd, dims, NULL);
    hid_t d = H5Dcreate2(file, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    size_t count = 1;
    for (int k = 0; k < nd; k++)
        count *= (size_t)dims[k];
    unsigned char *buf = malloc(count * 8 + 1);
    if (d >= 0 && buf) {
        for (size_t i = 0; i < count * 8; i++)
            buf[i] = e[3 + i % 5] ^ (unsigned char)i;
        H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    }
    free(buf);
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
}

/* One 8-byte edit: op, target (/x or /y), then 6 value bytes. */
static void edit(hid_t file, const uint8_t *e)
{
    const char *name = e[1] & 1 ? "y" : "x";
    switch (e[0] % 4) {
    case 0:
        put(file, name, e);
        break;
    case 1:
        H5Ldelete(file, name, H5P_DEFAULT);
        break;
    case 2: /* overwrite one element with raw bytes (NaN, infinity, huge labels) */
        fuzz_poke_element(file, name, (size_t)(e[2] | e[3] << 8), e + 3);
        break;
    case 3:
        put(file, e[1] & 2 ? "labels" : "z", e);
        break;
    }
}

/* The base file: 6 digits-shaped samples (6, 8, 8, 1) float32 and their labels. */
static hid_t base_file(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 16, 0);
    hid_t file = H5Fcreate("fuzz-hdf5data.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (file < 0)
        abort();
    float x[6 * 64];
    int32_t y[6];
    for (int i = 0; i < 6 * 64; i++)
        x[i] = (float)(i % 17);
    for (int i = 0; i < 6; i++)
        y[i] = i;
    hsize_t xd[4] = {6, 8, 8, 1}, yd[1] = {6};
    hid_t xs = H5Screate_simple(4, xd, NULL), ys = H5Screate_simple(1, yd, NULL);
    hid_t dx = H5Dcreate2(file, "x", H5T_NATIVE_FLOAT, xs, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t dy = H5Dcreate2(file, "y", H5T_NATIVE_INT32, ys, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(dx, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dwrite(dy, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, y);
    H5Dclose(dx);
    H5Dclose(dy);
    H5Sclose(xs);
    H5Sclose(ys);
    return file;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 2)
        return 0;
    hid_t file = base_file();
    for (size_t i = 2; i + 8 <= n && i < 2 + 8 * 12; i += 8)
        edit(file, data + i);
    upset_err_t err = {{0}};
    const char *path = fuzz_file(NULL, 0);
    if (h5mem_save(file, path, &err)) /* closes file */
        return 0;
    dataset_t d;
    const int64_t offset = data[0] % 8, count = data[1] % 8 ? data[1] % 8 : -1;
    if (dataset_load_hdf5(path, offset, count, &d, &err) == 0) {
        task_check_data(&digits, &d, path, &err);
        dataset_free(&d);
    }
    return 0;
}
