/* Checkpoint/resume for sched_run (layout in docs/results-format.md).
 *
 * A checkpoint holds a campaign fingerprint (the caller's string, e.g. the
 * resolved YAML plus the model checksum), n_items, record_size, the done
 * bitmap and the records of the done items, closed by an FNV-1a 64 checksum.
 * It is written atomically: `<path>.tmp` is written, fsynced and renamed over
 * `<path>` (and the directory fsynced), so a kill -9 at any moment leaves
 * either the previous checkpoint or the new one, never a torn one; a torn or
 * corrupted file is still detected by the checksum and the exact file size.
 * An fcntl lock on the .tmp file keeps two writers (say, orphaned ranks of a
 * killed mpirun and a resumed run) from interleaving their bytes.
 *
 * Records are raw host bytes, so a checkpoint resumes on machines of the same
 * byte order (recorded in the header and checked). */
#ifndef UPSET_CHECKPOINT_H
#define UPSET_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "upset/error.h"
#include "upset/sched.h"

/* "<output>.ckpt" into buf; -1 when it does not fit. */
int checkpoint_path(const char *output, char *buf, size_t len, upset_err_t *err);

/* 1 when a file exists at path, else 0. */
int checkpoint_exists(const char *path);

/* Writes done[0..n_items) (flags, nonzero = done) and the records of the done
 * items (records holds n_items * record_size bytes) atomically to path. */
int checkpoint_save(const char *path, const char *fingerprint, int64_t n_items,
                    size_t record_size, const uint8_t *done, const void *records,
                    upset_err_t *err);

/* Loads path into done (n_items flags, set to 0/1) and records (n_items *
 * record_size; records of items not done are left untouched). Refuses, with a
 * message naming the difference, a checkpoint of another campaign (fingerprint,
 * first differing line shown), n_items or record_size; refuses a truncated or
 * corrupted file. *n_done (may be NULL) gets the number of done items. On
 * failure done is all zero. */
int checkpoint_load(const char *path, const char *fingerprint, int64_t n_items,
                    size_t record_size, uint8_t *done, void *records, int64_t *n_done,
                    upset_err_t *err);

/* Removes path and a stale path.tmp (after the results file is safely
 * written); a missing file is not an error. */
int checkpoint_remove(const char *path, upset_err_t *err);

/* sched_job_t.checkpoint adapter: set job.checkpoint = checkpoint_sched_hook and
 * job.checkpoint_ctx = &hook. */
typedef struct {
    const char *path;        /* the .ckpt file */
    const char *fingerprint;
    int64_t saves;           /* number of successful saves (filled in) */
} checkpoint_hook_t;

int checkpoint_sched_hook(void *ctx, const sched_job_t *job, upset_err_t *err);


#endif
