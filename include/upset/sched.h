/* Coordinator/worker scheduler for embarrassingly parallel item work.
 *
 * Work is items 0..n_items-1 (bit indices, trial indices, ...). Each item
 * yields one fixed-size POD record computed by job->work, whose result must
 * depend only on the item index (counter-based RNG), so a campaign's output
 * never depends on the rank count or on which rank computed which item.
 *
 * Rank 0 hands out contiguous chunks on demand (a worker asks, rank 0 answers
 * with [first, first+count) or "stop"), so uneven items and uneven machines
 * balance themselves. Each rank's chunks follow one another through a range of
 * its own (mpi/handout.c), so consecutive items, which share cached state, stay
 * on one rank. Rank 0 also computes: it works through its own chunks in
 * short sub-chunks (~20 ms) and answers requests between them, so with -np 2 on
 * two cores no core idles, and -np 1 simply does everything on rank 0. A job whose
 * items are best done several at a time (batch) gets sub-chunks of at least that
 * many, and its work callback answers requests from inside them (sched_poll).
 * Completed records travel to rank 0 and land in job->records.
 *
 * Waiting is done by polling (MPI_Test/MPI_Iprobe with a short sleep) rather
 * than blocking calls, because Open MPI's blocking calls spin: with more ranks
 * than cores (--oversubscribe) a spinning waiter would steal the core of the
 * rank it waits for.
 *
 * Errors: a failing work callback on any rank (or a failing checkpoint on rank
 * 0) stops the hand-out; rank 0 waits for the chunks already out, then every
 * rank returns -1 with the same message (the failing rank's). No deadlock, no
 * MPI_Abort. */
#ifndef UPSET_SCHED_H
#define UPSET_SCHED_H

#include <mpi.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "upset/error.h"

struct sched_job;

/* Computes records for items [first, first+count) into records_out
 * (count * record_size bytes, item first at offset 0). 0 or -1 with err. */
typedef int (*sched_work_fn)(void *ctx, int64_t first, int64_t count, void *records_out,
                             upset_err_t *err);

/* Called on rank 0 with the job's current done flags and records; saves them
 * (checkpoint.h's checkpoint_sched_hook is one). 0 or -1 with err. */
typedef int (*sched_checkpoint_fn)(void *ctx, const struct sched_job *job, upset_err_t *err);

typedef struct sched_job {
    /* ---- identical on every rank ---- */
    const char *label;   /* progress prefix, e.g. "oracle"; NULL = "sched" */
    int64_t n_items;
    size_t record_size;  /* bytes per record, > 0 */
    sched_work_fn work;
    void *ctx;           /* passed to work (per rank) */
    int64_t chunk;       /* items per chunk; 0 = automatic (see sched.c) */
    /* items the work callback does best together (consecutive bits sharing cached state);
     * 0 or 1: none. With batch > 1 the callback must call sched_poll() between its steps:
     * rank 0 then takes its own work in sub-chunks of at least batch items and answers
     * waiting workers from inside them. */
    int64_t batch;

    /* ---- rank 0 only (ignored elsewhere) ---- */
    void *records;       /* n_items * record_size bytes, caller-allocated */
    uint8_t *done;       /* n_items flags, caller-allocated; items already 1
                            (from a resumed checkpoint) are skipped */
    double progress_interval;   /* seconds between progress lines; 0 = 10 */
    int quiet;                  /* no progress lines at all */
    sched_checkpoint_fn checkpoint; /* NULL = none */
    void *checkpoint_ctx;
    double checkpoint_interval; /* seconds; 0 = 60 (only with checkpoint) */

    /* ---- filled by sched_run on rank 0 ---- */
    int64_t n_resumed;   /* items already done when the run started */
    int64_t n_computed;  /* items computed in this run */
    double elapsed_s;    /* wall time of this run */

    /* ---- filled by sched_run on every rank ---- */
    int stop_saved;      /* 1 when a stop signal ended the run and its checkpoint was
                            written (the run can be resumed from it), else 0 */
} sched_job_t;

/* Nonzero (a signal number, set by the caller's signal handler) asks a running
 * sched_run to stop cleanly: rank 0 hands out no more work, waits for the chunks
 * already out, saves the checkpoint, and every rank returns -1 with a message
 * naming the signal and saying whether the checkpoint was written (job->stop_saved;
 * if not, what is lost). A batch system's time-limit warning (SLURM --signal) so ends
 * in a checkpoint that a resubmitted job resumes from, losing nothing. */
extern volatile sig_atomic_t sched_stop_signal;

/* Called by a work callback between its steps (cheap): on rank 0, inside a sub-chunk of a
 * job with batch > 1 and other ranks, answers the workers waiting for work (at most every
 * few milliseconds); anywhere else it returns at once. */
void sched_poll(void);

/* Collective over comm. Every rank returns 0, or every rank returns -1 with the
 * same message in err. On rank 0 job->done marks what finished (also on
 * failure, so a caller may checkpoint partial work). */
int sched_run(MPI_Comm comm, sched_job_t *job, upset_err_t *err);

/* "hh:mm:ss" (hours grow past 99 as needed) for progress and reports. */
void sched_format_hms(double seconds, char *buf, size_t len);

#endif
