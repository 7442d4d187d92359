/* Coordinator/worker scheduler (see include/upset/sched.h for the contract).
 *
 * Protocol (all point-to-point messages on the caller's communicator):
 *   worker -> rank 0, TAG_REPORT: a report_t header followed by either the
 *       records of the chunk just finished (status 0) or an error message
 *       (status 1). The first report of a worker carries count 0: "give me work".
 *   rank 0 -> worker, TAG_ASSIGN: two int64 {first, count}; count 0 = stop.
 * Every report is answered by exactly one assignment, so a worker always knows
 * what to wait for, and rank 0 knows a worker is finished once it sent "stop".
 * The end is one MPI_Ibcast of {status, message length} (+ the message), so all
 * ranks leave with the same verdict.
 *
 * Which items: every rank works through a contiguous range of its own and, once it is
 * used up, takes the back half of the largest range left (mpi/handout.c), so each rank
 * computes consecutive items, whose cached state carries over, at any rank count.
 *
 * Chunk sizing (job->chunk == 0): rank 0 keeps, per rank, the compute time per item
 * of its last chunk (a rank's items are consecutive, so its own last chunk predicts
 * its next best) and aims for CHUNK_TARGET_S per chunk (less when checkpointing often,
 * since a chunk in flight is work a kill loses), never more than
 * ceil(unassigned / (4 * ranks)) items (chunks that shrink towards the end so the last
 * ones finish together), and growing at most 4x per step from a single-item first
 * chunk (a one-item estimate is noisy); a rank that moves to a stolen range starts
 * again from one item, as its items there may cost quite differently.
 *
 * Rank 0's own share: it takes chunks from the same pool and works through
 * them in sub-chunks of ~SUB_TARGET_S, serving requests between sub-chunks; a
 * waiting worker therefore waits at most about one sub-chunk (or one item, when
 * a single item is slower than that). A job with batch > 1 (consecutive items
 * sharing cached state, e.g. the bits of one weight) gets sub-chunks of at least
 * batch items, up to SOLO_SUB_TARGET_S, and its callback calls sched_poll between
 * steps, which serves requests from inside the sub-chunk: with one-item
 * sub-chunks rank 0 would lose what the batch shares. */
#include "upset/sched.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "upset/handout.h"
#include "upset/mpicheck.h"

enum { TAG_REPORT = 7101, TAG_ASSIGN = 7102 };

#define CHUNK_TARGET_S 2.0
#define SUB_TARGET_S 0.02     /* rank 0 sub-chunk while workers may be waiting */
#define SOLO_SUB_TARGET_S 0.25 /* rank 0 sub-chunk when it is alone */
#define CHUNK_MAX_BYTES ((int64_t)1 << 28) /* well inside MPI's int count */
#define DEFAULT_PROGRESS_S 10.0
#define DEFAULT_CHECKPOINT_S 60.0
#define POLL_SPINS 64          /* MPI_Test calls before sleeping between polls */
#define POLL_SLEEP_NS 100000L  /* 0.1 ms */

typedef struct {
    int64_t first;
    int64_t count;
    int64_t status;  /* 0 = records follow, 1 = error message follows */
    double seconds;  /* callback time for this chunk */
} report_t;

/* Rank 0's view of one run. */
typedef struct {
    MPI_Comm comm;
    int size;
    sched_job_t *job;
    upset_err_t *err;
    int failed;             /* first failure recorded in err */

    handout_t ho;           /* which items each rank takes next */
    double target_s;        /* wanted seconds per chunk */
    double *per_item;       /* per rank: seconds per item of its last chunk, 0 = none yet */
    int64_t *last_issued;   /* per rank: its last chunk's size (growth cap) */

    int64_t *out_first;     /* per worker: outstanding chunk, count 0 = none */
    int64_t *out_count;
    int n_active;           /* workers not yet sent "stop" */
    unsigned char *rbuf;
    size_t rbuf_len;

    int64_t own_first, own_count; /* rank 0's current chunk, remaining part */

    int stop_sig;           /* the stop signal that ended the run (its message waits for the
                               last checkpoint), 0 = none */
    int64_t n_saved;        /* items in the checkpoint on disk (the last one saved, or the
                               one resumed from), -1 = none */

    double t_start, t_progress, t_checkpoint;
} coord_t;

static double now(void)
{
    return MPI_Wtime();
}

static void nap(void)
{
    struct timespec ts = {0, POLL_SLEEP_NS};
    nanosleep(&ts, NULL);
}

/* Waits for req without spinning a core forever (see sched.h). */
static int wait_polite(MPI_Request *req, MPI_Status *st, upset_err_t *err)
{
    for (int spins = 0;; spins++) {
        int flag = 0;
        if (MPI_CHECK(MPI_Test(req, &flag, st), err))
            return -1;
        if (flag)
            return 0;
        if (spins >= POLL_SPINS)
            nap();
    }
}

static int ensure_buf(unsigned char **buf, size_t *len, size_t want, upset_err_t *err)
{
    if (*len >= want)
        return 0;
    unsigned char *p = realloc(*buf, want);
    if (!p)
        return upset_fail(err, "sched: out of memory for a %zu-byte message buffer", want);
    *buf = p;
    *len = want;
    return 0;
}

void sched_format_hms(double seconds, char *buf, size_t len)
{
    if (!(seconds >= 0) || seconds > 1e9)
        seconds = 0;
    long s = (long)(seconds + 0.5);
    snprintf(buf, len, "%02ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
}

static const char *job_label(const sched_job_t *job)
{
    return job->label ? job->label : "sched";
}

/* ---------------------------------------------------------------- checks -- */

static int check_job_local(int rank, const sched_job_t *job, upset_err_t *err)
{
    if (job->n_items < 0)
        return upset_fail(err, "sched: n_items is %lld, must be >= 0", (long long)job->n_items);
    if (job->record_size == 0)
        return upset_fail(err, "sched: record_size is 0");
    if (!job->work)
        return upset_fail(err, "sched: no work callback");
    if (job->chunk < 0)
        return upset_fail(err, "sched: chunk is %lld, must be >= 0 (0 = automatic)",
                          (long long)job->chunk);
    if ((int64_t)job->record_size > CHUNK_MAX_BYTES)
        return upset_fail(err, "sched: record_size %zu is larger than the %lld-byte message cap",
                          job->record_size, (long long)CHUNK_MAX_BYTES);
    if (rank == 0 && job->n_items > 0 && (!job->records || !job->done))
        return upset_fail(err, "sched: rank 0 needs job->records and job->done");
    return 0;
}

/* Every rank must describe the same job; a mismatch would corrupt records. */
static int check_job(MPI_Comm comm, int rank, sched_job_t *job, upset_err_t *err)
{
    int bad = check_job_local(rank, job, err) != 0;
    int64_t mine[2] = {job->n_items, (int64_t)job->record_size};
    int64_t lo[2], hi[2];
    int any_bad = 0;
    if (MPI_CHECK(MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, comm), err) ||
        MPI_CHECK(MPI_Allreduce(mine, lo, 2, MPI_INT64_T, MPI_MIN, comm), err) ||
        MPI_CHECK(MPI_Allreduce(mine, hi, 2, MPI_INT64_T, MPI_MAX, comm), err))
        return -1;
    if (bad)
        return -1;
    if (any_bad)
        return upset_fail(err, "sched: the job is invalid on another rank");
    if (lo[0] != hi[0] || lo[1] != hi[1])
        return upset_fail(err,
                          "sched: ranks disagree on the job: n_items %lld..%lld, "
                          "record_size %lld..%lld",
                          (long long)lo[0], (long long)hi[0], (long long)lo[1], (long long)hi[1]);
    return 0;
}

/* ---------------------------------------------------------------- worker -- */

static int worker_send(MPI_Comm comm, const void *buf, size_t len, upset_err_t *err)
{
    MPI_Request req;
    if (MPI_CHECK(MPI_Isend(buf, (int)len, MPI_BYTE, 0, TAG_REPORT, comm, &req), err))
        return -1;
    return wait_polite(&req, MPI_STATUS_IGNORE, err);
}

/* Sends an error report; rank 0 turns it into everyone's verdict. */
static int worker_send_error(MPI_Comm comm, const char *msg, upset_err_t *err)
{
    unsigned char buf[sizeof(report_t) + UPSET_ERR_LEN];
    report_t h = {0, 0, 1, 0};
    size_t n = strlen(msg) + 1;
    if (n > UPSET_ERR_LEN)
        n = UPSET_ERR_LEN;
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, msg, n);
    buf[sizeof h + n - 1] = '\0';
    return worker_send(comm, buf, sizeof h + n, err);
}

/* Runs one chunk into buf (header + records) and sends the report. Failures of
 * the callback (or of the buffer allocation) are reported to rank 0 rather than
 * returned: rank 0 decides, and a worker that went silent would hang it. */
static int worker_chunk(MPI_Comm comm, sched_job_t *job, int64_t first, int64_t count,
                        unsigned char **buf, size_t *len, upset_err_t *err)
{
    size_t data = (size_t)count * job->record_size;
    upset_err_t werr = {""};
    if (ensure_buf(buf, len, sizeof(report_t) + data, &werr))
        return worker_send_error(comm, werr.msg, err);
    report_t h = {first, count, 0, 0};
    double t0 = now();
    int rc = job->work(job->ctx, first, count, *buf + sizeof h, &werr);
    h.seconds = now() - t0;
    if (rc != 0)
        return worker_send_error(comm, werr.msg[0] ? werr.msg : "work callback failed", err);
    memcpy(*buf, &h, sizeof h);
    return worker_send(comm, *buf, sizeof h + data, err);
}

static int worker_loop(MPI_Comm comm, sched_job_t *job, upset_err_t *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    report_t hello = {0, 0, 0, 0};
    int rc = worker_send(comm, &hello, sizeof hello, err);
    while (rc == 0) {
        int64_t assign[2];
        MPI_Request req;
        rc = MPI_CHECK(MPI_Irecv(assign, 2, MPI_INT64_T, 0, TAG_ASSIGN, comm, &req), err);
        if (rc == 0)
            rc = wait_polite(&req, MPI_STATUS_IGNORE, err);
        if (rc != 0 || assign[1] == 0)
            break;
        rc = worker_chunk(comm, job, assign[0], assign[1], &buf, &len, err);
    }
    free(buf);
    return rc;
}

/* ----------------------------------------------------------- coordinator -- */

/* Keeps the first failure: later ones are usually its consequences. */
static void coord_fail(coord_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void coord_fail(coord_t *c, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err->msg, sizeof c->err->msg, fmt, ap);
    va_end(ap);
}

static int64_t chunk_size(const coord_t *c, int w)
{
    int64_t left = c->ho.n_left;
    int64_t n;
    if (c->job->chunk > 0) {
        n = c->job->chunk;
    } else {
        int64_t guided = (int64_t)ceil((double)left / (4.0 * c->size));
        if (c->per_item[w] <= 0) {
            n = 1;
        } else {
            double want = c->target_s / c->per_item[w];
            n = want > 1e15 ? (int64_t)1e15 : (int64_t)want;
            int64_t grow = 4 * (c->last_issued[w] > 1 ? c->last_issued[w] : 1);
            if (n > grow)
                n = grow;
        }
        if (n > guided)
            n = guided;
    }
    int64_t byte_cap = CHUNK_MAX_BYTES / (int64_t)c->job->record_size;
    if (n > byte_cap)
        n = byte_cap;
    if (n > left)
        n = left;
    return n < 1 ? 1 : n;
}

/* Rank w's next run of not-done items, at most chunk_size() long; 0 when every item
 * is handed out or the run is failing. Runs stop at done items, which after a resume
 * come in chunk-sized blocks, so chunks stay long. */
static int64_t take_chunk(coord_t *c, int w, int64_t *first)
{
    if (c->failed)
        return 0;
    const int how = handout_next(&c->ho, w);
    if (how == HANDOUT_NONE)
        return 0;
    if (how == HANDOUT_STOLEN) /* unmeasured: chunk_size starts it again from one item */
        c->per_item[w] = 0;
    const int64_t n = handout_take(&c->ho, w, chunk_size(c, w), first);
    c->last_issued[w] = n;
    return n;
}

static void mark_done(coord_t *c, int w, int64_t first, int64_t count, double seconds)
{
    memset(c->job->done + first, 1, (size_t)count);
    c->job->n_computed += count;
    if (count > 0 && seconds > 0)
        c->per_item[w] = seconds / (double)count;
}

static int assign(coord_t *c, int w, upset_err_t *err)
{
    int64_t msg[2] = {0, 0};
    msg[1] = take_chunk(c, w, &msg[0]);
    c->out_first[w] = msg[0];
    c->out_count[w] = msg[1];
    if (msg[1] == 0)
        c->n_active--;
    /* 16 bytes go eagerly and the worker is already waiting for them. */
    return MPI_CHECK(MPI_Send(msg, 2, MPI_INT64_T, w, TAG_ASSIGN, c->comm), err);
}

/* Validates a worker's report and stores its records. */
static void absorb_report(coord_t *c, int w, const unsigned char *buf, int bytes)
{
    report_t h;
    if (bytes < (int)sizeof h) {
        coord_fail(c, "sched: rank %d sent a %d-byte report, shorter than its header", w, bytes);
        return;
    }
    memcpy(&h, buf, sizeof h);
    if (h.status != 0) {
        /* Make sure the text is terminated whatever arrived. */
        size_t n = (size_t)bytes - sizeof h;
        char msg[UPSET_ERR_LEN];
        n = n < sizeof msg - 1 ? n : sizeof msg - 1;
        memcpy(msg, buf + sizeof h, n);
        msg[n] = '\0';
        coord_fail(c, "rank %d: %s", w, msg);
        return;
    }
    if (h.count != c->out_count[w] || h.first != c->out_first[w] ||
        (size_t)bytes != sizeof h + (size_t)h.count * c->job->record_size) {
        coord_fail(c,
                   "sched: rank %d sent %d bytes for items [%lld, +%lld) but was given "
                   "[%lld, +%lld) (a different record_size on that rank?)",
                   w, bytes, (long long)h.first, (long long)h.count, (long long)c->out_first[w],
                   (long long)c->out_count[w]);
        return;
    }
    if (h.count > 0) {
        size_t rs = c->job->record_size;
        memcpy((unsigned char *)c->job->records + (size_t)h.first * rs, buf + sizeof h,
               (size_t)h.count * rs);
        mark_done(c, w, h.first, h.count, h.seconds);
    }
}

/* Receives every report already waiting and answers each one. */
static int serve(coord_t *c, upset_err_t *err)
{
    for (;;) {
        int flag = 0;
        MPI_Message m;
        MPI_Status st;
        if (MPI_CHECK(MPI_Improbe(MPI_ANY_SOURCE, TAG_REPORT, c->comm, &flag, &m, &st), err))
            return -1;
        if (!flag)
            return 0;
        int bytes = 0;
        if (MPI_CHECK(MPI_Get_count(&st, MPI_BYTE, &bytes), err) ||
            ensure_buf(&c->rbuf, &c->rbuf_len, bytes > 0 ? (size_t)bytes : 1, err) ||
            MPI_CHECK(MPI_Mrecv(c->rbuf, bytes, MPI_BYTE, &m, MPI_STATUS_IGNORE), err))
            return -1;
        int w = st.MPI_SOURCE;
        absorb_report(c, w, c->rbuf, bytes);
        c->out_count[w] = 0;
        if (assign(c, w, err))
            return -1;
    }
}

/* The coordinator whose own sub-chunk is running with workers to answer (sched_poll), the
 * last time it answered them, and an MPI failure met there (coord_loop returns it). */
static coord_t *polling;
static double polled_at;
static int poll_failed;
static upset_err_t poll_err;

#define POLL_S 0.002 /* sched_poll answers at most this often */

void sched_poll(void)
{
    if (!polling || poll_failed)
        return;
    const double t = now();
    if (t - polled_at < POLL_S)
        return;
    polled_at = t;
    coord_t *c = polling;
    polling = NULL; /* no nesting: serve never calls the work callback */
    poll_failed = serve(c, &poll_err) != 0;
    polling = c;
}

/* Works through part of rank 0's own chunk: ~SUB_TARGET_S of it while workers may be
 * waiting, or at least job->batch items when the callback answers them (sched_poll). */
static void own_step(coord_t *c)
{
    const sched_job_t *job = c->job;
    const int polls = c->size > 1 && job->batch > 1;
    double target = c->size > 1 && !polls ? SUB_TARGET_S : SOLO_SUB_TARGET_S;
    int64_t n = 1;
    if (c->per_item[0] > 0)
        n = (int64_t)fmin(target / c->per_item[0], 1e15);
    if (polls && n < job->batch)
        n = job->batch;
    if (n < 1)
        n = 1;
    if (n > c->own_count)
        n = c->own_count;
    upset_err_t werr = {""};
    void *out = (unsigned char *)job->records + (size_t)c->own_first * job->record_size;
    double t0 = now();
    polling = polls ? c : NULL;
    polled_at = t0;
    int rc = job->work(job->ctx, c->own_first, n, out, &werr);
    polling = NULL;
    double dt = now() - t0;
    if (rc != 0) {
        coord_fail(c, "rank 0: %s", werr.msg[0] ? werr.msg : "work callback failed");
        c->own_count = 0;
        return;
    }
    mark_done(c, 0, c->own_first, n, dt);
    c->own_first += n;
    c->own_count -= n;
}

static void progress_line(const coord_t *c, double t)
{
    const sched_job_t *job = c->job;
    int64_t done = job->n_resumed + job->n_computed;
    double el = t - c->t_start;
    double rate = el > 0 ? (double)job->n_computed / el : 0;
    char eta[32] = "--:--:--";
    const double left = handout_seconds_left(&c->ho, c->per_item, rate);
    if (left >= 0)
        sched_format_hms(left, eta, sizeof eta);
    double pct = job->n_items ? 100.0 * (double)done / (double)job->n_items : 100.0;
    fprintf(stderr, "%s: %lld/%lld (%.1f%%), %.4g items/s, ETA %s\n", job_label(job),
            (long long)done, (long long)job->n_items, pct, rate, eta);
}

static void final_line(const coord_t *c, double t)
{
    const sched_job_t *job = c->job;
    double el = t - c->t_start;
    char hms[32];
    sched_format_hms(el, hms, sizeof hms);
    fprintf(stderr, "%s: %lld/%lld done in %s (%lld computed, %lld resumed, %.4g items/s, %d rank%s)\n",
            job_label(job), (long long)(job->n_resumed + job->n_computed),
            (long long)job->n_items, hms, (long long)job->n_computed, (long long)job->n_resumed,
            el > 0 ? (double)job->n_computed / el : 0.0, c->size, c->size == 1 ? "" : "s");
}

/* 0, or -1 with the reason in why. */
static int save_checkpoint(coord_t *c, upset_err_t *why)
{
    const sched_job_t *job = c->job;
    if (job->checkpoint(job->checkpoint_ctx, job, why) != 0)
        return -1;
    c->n_saved = job->n_resumed + job->n_computed;
    return 0;
}

/* The message of a run ended by a stop signal, once its last checkpoint was tried (saved:
 * it was written; why: the reason it was not). */
static void stop_message(coord_t *c, int saved, const upset_err_t *why)
{
    const sched_job_t *job = c->job;
    const long long done = (long long)(job->n_resumed + job->n_computed);
    char head[160];
    snprintf(head, sizeof head, "stopped by signal %d (%s) after %lld of %lld items", c->stop_sig,
             strsignal(c->stop_sig), done, (long long)job->n_items);
    if (saved)
        upset_fail(c->err, "%s; the checkpoint keeps them: run again with --resume", head);
    else if (!job->checkpoint)
        upset_fail(c->err, "%s; nothing was saved (no checkpoint)", head);
    else if (c->n_saved < 0)
        upset_fail(c->err, "%s, but the checkpoint could not be written (%s): nothing was saved, "
                           "a new run starts from the beginning",
                   head, why->msg);
    else
        upset_fail(c->err, "%s, but the checkpoint could not be written (%s): the %lld items "
                           "done since the last checkpoint are lost, --resume continues from "
                           "its %lld",
                   head, why->msg, done - (long long)c->n_saved, (long long)c->n_saved);
}

static void periodic(coord_t *c)
{
    const sched_job_t *job = c->job;
    double t = now();
    double pi = job->progress_interval > 0 ? job->progress_interval : DEFAULT_PROGRESS_S;
    if (!job->quiet && t - c->t_progress >= pi) {
        progress_line(c, t);
        c->t_progress = t;
    }
    double ci = job->checkpoint_interval > 0 ? job->checkpoint_interval : DEFAULT_CHECKPOINT_S;
    if (job->checkpoint && !c->failed && t - c->t_checkpoint >= ci) {
        upset_err_t why = {""};
        if (save_checkpoint(c, &why))
            coord_fail(c, "%s", why.msg);
        c->t_checkpoint = now();
    }
}

static int coord_init(coord_t *c, MPI_Comm comm, int size, sched_job_t *job, upset_err_t *err)
{
    memset(c, 0, sizeof *c);
    c->comm = comm;
    c->size = size;
    c->job = job;
    c->err = err;
    c->n_active = size - 1;
    c->out_first = upset_calloc((size_t)size, sizeof *c->out_first, err);
    c->out_count = upset_calloc((size_t)size, sizeof *c->out_count, err);
    c->per_item = upset_calloc((size_t)size, sizeof *c->per_item, err);
    c->last_issued = upset_calloc((size_t)size, sizeof *c->last_issued, err);
    if (!c->out_first || !c->out_count || !c->per_item || !c->last_issued ||
        handout_init(&c->ho, size, job->n_items, job->done, err))
        return -1;
    job->n_resumed = job->n_items - c->ho.n_left;
    c->n_saved = job->n_resumed > 0 ? job->n_resumed : -1; /* resumed from a checkpoint */
    c->target_s = CHUNK_TARGET_S;
    if (job->checkpoint) {
        double ci = job->checkpoint_interval > 0 ? job->checkpoint_interval : DEFAULT_CHECKPOINT_S;
        c->target_s = fmax(0.05, fmin(CHUNK_TARGET_S, ci / 2));
    }
    c->t_start = c->t_progress = c->t_checkpoint = now();
    return 0;
}

static void coord_free(coord_t *c)
{
    free(c->out_first);
    free(c->out_count);
    free(c->per_item);
    free(c->last_issued);
    handout_free(&c->ho);
    free(c->rbuf);
}

volatile sig_atomic_t sched_stop_signal = 0;

/* Returns -1 only for an MPI-level failure; job failures are in c->failed. */
static int coord_loop(coord_t *c, upset_err_t *err)
{
    for (;;) {
        if (sched_stop_signal && !c->failed) { /* the message follows the last checkpoint */
            c->stop_sig = (int)sched_stop_signal;
            coord_fail(c, "stopped by signal %d", c->stop_sig);
        }
        if (serve(c, err))
            return -1;
        if (c->own_count == 0)
            c->own_count = take_chunk(c, 0, &c->own_first);
        if (c->own_count > 0)
            own_step(c);
        else if (c->n_active == 0)
            return 0;
        else
            nap();
        if (poll_failed) { /* an MPI failure while answering from inside the work */
            poll_failed = 0;
            *err = poll_err;
            return -1;
        }
        periodic(c);
    }
}

static int coordinate(MPI_Comm comm, int size, sched_job_t *job, upset_err_t *err)
{
    coord_t c;
    if (coord_init(&c, comm, size, job, err)) {
        coord_free(&c);
        return -1;
    }
    int rc = coord_loop(&c, err);
    if (rc == 0) {
        upset_err_t why = {""};
        const int saved = job->checkpoint && save_checkpoint(&c, &why) == 0;
        if (c.stop_sig) {
            stop_message(&c, saved, &why);
            job->stop_saved = saved;
        } else if (job->checkpoint && !saved) {
            if (c.failed)
                upset_err_append(err, "also, the checkpoint failed: %s", why.msg);
            else
                coord_fail(&c, "%s", why.msg);
        }
        job->elapsed_s = now() - c.t_start;
        if (!job->quiet && !c.failed)
            final_line(&c, now());
        rc = c.failed ? -1 : 0;
    }
    coord_free(&c);
    return rc;
}

/* ------------------------------------------------------------------ run -- */

/* Rank 0's verdict (status + message, and job->stop_saved) reaches every rank. */
static int agree(MPI_Comm comm, int rank, int status, sched_job_t *job, upset_err_t *err)
{
    int64_t head[3] = {status != 0, 0, job->stop_saved};
    if (rank == 0 && status)
        head[1] = (int64_t)strlen(err->msg) + 1;
    MPI_Request req;
    upset_err_t merr = {""};
    if (MPI_CHECK(MPI_Ibcast(head, 3, MPI_INT64_T, 0, comm, &req), &merr) ||
        wait_polite(&req, MPI_STATUS_IGNORE, &merr))
        return upset_fail(err, "%s", merr.msg);
    job->stop_saved = (int)head[2];
    if (!head[0])
        return 0;
    if (MPI_CHECK(MPI_Ibcast(err->msg, (int)head[1], MPI_CHAR, 0, comm, &req), &merr) ||
        wait_polite(&req, MPI_STATUS_IGNORE, &merr))
        return upset_fail(err, "%s", merr.msg);
    return -1;
}

int sched_run(MPI_Comm comm, sched_job_t *job, upset_err_t *err)
{
    upset_err_t local = {""};
    if (!err)
        err = &local;
    int rank = 0, size = 1;
    if (MPI_CHECK(MPI_Comm_rank(comm, &rank), err) || MPI_CHECK(MPI_Comm_size(comm, &size), err))
        return -1;
    job->n_resumed = job->n_computed = 0;
    job->elapsed_s = 0;
    job->stop_saved = 0;
    if (check_job(comm, rank, job, err))
        return -1;
    int status = rank == 0 ? coordinate(comm, size, job, err) : worker_loop(comm, job, err);
    if (rank != 0)
        status = 0; /* a worker's own verdict travels through rank 0 */
    return agree(comm, rank, status, job, err);
}
