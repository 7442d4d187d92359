/* HDF5 files built in memory, then written to disk with plain POSIX I/O.
 *
 * Every upset writer (results, rankings, analysis) builds its file with the
 * core driver and hands the finished image to file_write_all. Why: a write
 * error (full disk, quota, file-size limit) then surfaces in one write() we
 * check, with the system's reason, never inside libhdf5's close or at
 * MPI_Finalize; and only the process that writes takes part, so no collective
 * HDF5 call can hang on a rank that failed. The files are small tables (tens
 * of MB for the largest oracle), so holding one in memory costs little. */
#ifndef UPSET_H5MEM_H
#define UPSET_H5MEM_H

#include <hdf5.h>

#include "upset/error.h"

/* A new empty in-memory file: HDF5 1.8 format or later, dense attribute
 * storage (root attributes such as a 20,000-entry sample_index exceed the
 * 64 KiB of a compact object header). Close with h5mem_save or H5Fclose. */
hid_t h5mem_create(upset_err_t *err);

/* Writes the image of file to path (created or truncated, fsynced) and closes
 * file, also on failure; a failed write removes path. */
int h5mem_save(hid_t file, const char *path, upset_err_t *err);

/* The same, replacing path whole through path.tmp (file_replace): an existing path is
 * the old file or the new one, never a part. */
int h5mem_replace(hid_t file, const char *path, upset_err_t *err);

/* ---- what every writer puts in its file (0 or -1 with err) ---- */

/* A scalar variable-length UTF-8 string attribute (no 64 KiB object-header limit for
 * long text such as a resolved campaign, and h5py reads it as str); NULL writes "". */
int h5mem_attr_string(hid_t obj, const char *name, const char *s, upset_err_t *err);
/* int64 / float64 attributes: a scalar when len < 0, else a 1-D array of len values
 * (len 0: an empty array). */
int h5mem_attr_i64(hid_t obj, const char *name, const int64_t *v, int64_t len,
                   upset_err_t *err);
int h5mem_attr_f64(hid_t obj, const char *name, const double *v, int64_t len,
                   upset_err_t *err);
/* A dataset of rank 1 (cols 0) or 2 (rows x cols) holding data (mtype in memory, ftype in
 * the file); returns it open (the caller adds attributes and closes it), or -1. */
hid_t h5mem_dataset(hid_t grp, const char *name, hid_t ftype, hid_t mtype, int64_t rows,
                    int64_t cols, const void *data, upset_err_t *err);
/* The string type of h5mem_attr_string (variable length, UTF-8), for string datasets;
 * H5Tclose it. */
hid_t h5mem_string_type(upset_err_t *err);

#endif
