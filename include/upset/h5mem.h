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

#endif
