/* The scheduler (mpi/sched.c) on one rank, through its callbacks: every item computed
 * exactly once whatever the chunk size, resumed items skipped, checkpoints offered with
 * consistent done flags, a failing work callback and a stop signal ending the run with
 * the partial work marked (resumable only when the stop's checkpoint was written, and
 * saying so); and the hand-out policy (mpi/handout.c) simulated for many
 * ranks: every item once, each rank's chunks consecutive until it steals. Each MPI case
 * runs sched_run on MPI_COMM_SELF in a child process (MPI initialised there only), so
 * the suite itself needs no mpirun. */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_util.h"
#include "upset/handout.h"
#include "upset/sched.h"

typedef struct {
    int64_t item;
    double value;
} rec_t;

typedef struct {
    int64_t calls, computed, fail_at, stop_after;
    int64_t *times; /* per item: how often work computed it */
    int64_t checkpoints, last_done;
    int checkpoint_fails; /* every checkpoint fails (a full disk) */
    double interval;      /* checkpoint_interval; 0: offer one after every chunk */
} ctx_t;

static int last_stop_saved; /* job.stop_saved of the last run() */

static double value_of(int64_t i) { return (double)i * 0.5 + 3; }

static int work(void *p, int64_t first, int64_t count, void *out, upset_err_t *err)
{
    ctx_t *c = p;
    rec_t *r = out;
    c->calls++;
    for (int64_t k = 0; k < count; k++) {
        const int64_t i = first + k;
        if (i == c->fail_at)
            return upset_fail(err, "item %lld cannot be computed", (long long)i);
        r[k].item = i;
        r[k].value = value_of(i);
        c->times[i]++;
        c->computed++;
        if (c->stop_after > 0 && c->computed == c->stop_after)
            sched_stop_signal = SIGTERM; /* as a SLURM time-limit warning would */
    }
    return 0;
}

static int checkpoint(void *p, const sched_job_t *job, upset_err_t *err)
{
    ctx_t *c = p;
    if (c->checkpoint_fails)
        return upset_fail(err, "checkpoint: No space left on device");
    const rec_t *r = job->records;
    int64_t done = 0;
    for (int64_t i = 0; i < job->n_items; i++)
        if (job->done[i]) {
            done++;
            if (r[i].item != i || r[i].value != value_of(i))
                return upset_fail(err, "checkpoint: item %lld done but its record is wrong",
                                  (long long)i);
        }
    c->checkpoints++;
    c->last_done = done;
    return 0;
}

#define FAIL(...)                                                                        \
    do {                                                                                 \
        fprintf(stderr, __VA_ARGS__);                                                    \
        fprintf(stderr, "\n");                                                           \
        return 1;                                                                        \
    } while (0)

/* One sched_run over n items; pre: items whose done flag is set beforehand (resumed). */
static int run(int64_t n, int64_t chunk, ctx_t *c, uint8_t *done, rec_t *recs, upset_err_t *err,
               int *rc)
{
    sched_job_t job;
    memset(&job, 0, sizeof job);
    job.label = "check";
    job.n_items = n;
    job.record_size = sizeof(rec_t);
    job.work = work;
    job.ctx = c;
    job.chunk = chunk;
    job.records = recs;
    job.done = done;
    job.quiet = 1;
    job.checkpoint = checkpoint;
    job.checkpoint_ctx = c;
    job.checkpoint_interval = c->interval > 0 ? c->interval : 1e-9; /* 1e-9: after every chunk */
    job.stop_saved = -1;
    *rc = sched_run(MPI_COMM_SELF, &job, err);
    last_stop_saved = job.stop_saved;
    return (int)job.n_resumed;
}

enum { N = 1000 };
static uint8_t done[N];
static rec_t recs[N];
static int64_t times[N];

static void reset(ctx_t *c)
{
    memset(c, 0, sizeof *c);
    memset(done, 0, sizeof done);
    memset(recs, 0, sizeof recs);
    memset(times, 0, sizeof times);
    c->times = times;
    c->fail_at = -1;
    sched_stop_signal = 0;
}

static int case_every_item_once(void)
{
    const int64_t chunks[] = {1, 7, 0, N * 2};
    for (size_t k = 0; k < sizeof chunks / sizeof *chunks; k++) {
        ctx_t c;
        reset(&c);
        upset_err_t err = {{0}};
        int rc;
        run(N, chunks[k], &c, done, recs, &err, &rc);
        if (rc)
            FAIL("chunk %lld: sched_run failed: %s", (long long)chunks[k], err.msg);
        for (int64_t i = 0; i < N; i++)
            if (times[i] != 1 || !done[i] || recs[i].item != i || recs[i].value != value_of(i))
                FAIL("chunk %lld: item %lld computed %lld times, done %d", (long long)chunks[k],
                     (long long)i, (long long)times[i], done[i]);
        if (c.checkpoints < 1 || c.last_done != N)
            FAIL("chunk %lld: %lld checkpoints, the last with %lld done", (long long)chunks[k],
                 (long long)c.checkpoints, (long long)c.last_done);
    }
    return 0;
}

static int case_resume(void)
{
    ctx_t c;
    reset(&c);
    for (int64_t i = 0; i < N; i += 3) { /* a checkpoint's finished items */
        done[i] = 1;
        recs[i].item = i;
        recs[i].value = value_of(i);
    }
    upset_err_t err = {{0}};
    int rc;
    const int resumed = run(N, 0, &c, done, recs, &err, &rc);
    if (rc)
        FAIL("resume: %s", err.msg);
    if (resumed != (N + 2) / 3)
        FAIL("resume: %d items reported resumed", resumed);
    for (int64_t i = 0; i < N; i++)
        if (times[i] != (i % 3 ? 1 : 0) || !done[i] || recs[i].value != value_of(i))
            FAIL("resume: item %lld computed %lld times", (long long)i, (long long)times[i]);
    return 0;
}

static int case_failure(void)
{
    ctx_t c;
    reset(&c);
    c.fail_at = 437;
    upset_err_t err = {{0}};
    int rc;
    run(N, 10, &c, done, recs, &err, &rc);
    if (rc != -1 || !strstr(err.msg, "item 437 cannot be computed"))
        FAIL("failure: rc %d, message '%s'", rc, err.msg);
    if (done[437])
        FAIL("failure: the failed item is marked done");
    for (int64_t i = 0; i < N; i++)
        if (done[i] && (times[i] != 1 || recs[i].value != value_of(i)))
            FAIL("failure: item %lld marked done without its record", (long long)i);
    return 0;
}

static int case_stop_signal(void)
{
    ctx_t c;
    reset(&c);
    c.stop_after = 300;
    upset_err_t err = {{0}};
    int rc;
    run(N, 10, &c, done, recs, &err, &rc);
    int64_t n_done = 0;
    for (int64_t i = 0; i < N; i++)
        n_done += done[i];
    if (rc != -1 || !strstr(err.msg, "signal") || !strstr(err.msg, "the checkpoint keeps them"))
        FAIL("stop: rc %d, message '%s'", rc, err.msg);
    if (last_stop_saved != 1)
        FAIL("stop: stop_saved %d after a saved checkpoint", last_stop_saved);
    if (n_done < 300 || n_done == N)
        FAIL("stop: %lld items done", (long long)n_done);
    if (c.last_done != n_done)
        FAIL("stop: the last checkpoint saw %lld done of %lld", (long long)c.last_done,
             (long long)n_done);
    /* the same job resumed from those flags finishes the rest, each item once overall */
    sched_stop_signal = 0;
    c.stop_after = 0;
    run(N, 10, &c, done, recs, &err, &rc);
    if (rc)
        FAIL("stop: resumed run failed: %s", err.msg);
    for (int64_t i = 0; i < N; i++)
        if (times[i] != 1 || !done[i])
            FAIL("stop then resume: item %lld computed %lld times", (long long)i,
                 (long long)times[i]);
    return 0;
}

/* A stop whose checkpoint cannot be written: not resumable (stop_saved 0), and the message
 * says so instead of "the checkpoint keeps them"; with items resumed from an earlier
 * checkpoint, it says what that one still holds. A finished job's failing checkpoint is
 * not a stop. */
static int case_stop_unsaved(void)
{
    ctx_t c;
    upset_err_t err = {{0}};
    int rc;
    for (int resumed = 0; resumed <= 100; resumed += 100) {
        reset(&c);
        for (int64_t i = 0; i < resumed; i++) {
            done[i] = 1;
            recs[i].item = i;
            recs[i].value = value_of(i);
        }
        c.stop_after = 300;
        c.checkpoint_fails = 1;
        c.interval = 1e9; /* only the stop's own checkpoint is tried */
        run(N, 10, &c, done, recs, &err, &rc);
        char want[64];
        snprintf(want, sizeof want, "--resume continues from its %d", resumed);
        if (rc != -1 || last_stop_saved != 0 || strstr(err.msg, "keeps them") ||
            !strstr(err.msg, "stopped by signal") || !strstr(err.msg, "could not be written") ||
            !strstr(err.msg, "No space left on device") ||
            !strstr(err.msg, resumed ? want : "nothing was saved"))
            FAIL("stop, checkpoint failing (%d resumed): rc %d, stop_saved %d, message '%s'",
                 resumed, rc, last_stop_saved, err.msg);
    }
    reset(&c);
    c.checkpoint_fails = 1;
    c.interval = 1e9;
    run(N, 10, &c, done, recs, &err, &rc);
    if (rc != -1 || last_stop_saved != 0 || !strstr(err.msg, "No space left on device"))
        FAIL("no stop, final checkpoint failing: rc %d, stop_saved %d, message '%s'", rc,
             last_stop_saved, err.msg);
    return 0;
}

/* ------------------------------------------------ the hand-out policy (no MPI) -- */

/* A small deterministic generator for the simulated ranks' order and chunk sizes. */
static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

enum { HN = 997 };

/* Ranks asking in a random order for random chunk sizes, until every one is told
 * NONE: each item not done comes out exactly once, no done item comes out, and a
 * rank's next chunk starts where its last one ended unless it was told STOLEN. */
static void simulate(int n_ranks, const unsigned char *done, uint64_t seed)
{
    handout_t h;
    upset_err_t err = {""};
    ck_assert_int_eq(handout_init(&h, n_ranks, HN, done, &err), 0);
    int64_t expect_left = 0;
    for (int i = 0; i < HN; i++)
        expect_left += !done[i];
    ck_assert_int_eq(h.n_left, expect_left);
    int times[HN] = {0};
    int64_t end[64];
    int finished[64] = {0}, n_finished = 0;
    for (int r = 0; r < n_ranks; r++)
        end[r] = -1;
    while (n_finished < n_ranks) {
        const int r = (int)(lcg(&seed) % (uint64_t)n_ranks);
        if (finished[r])
            continue;
        const int how = handout_next(&h, r);
        if (how == HANDOUT_NONE) {
            finished[r] = 1, n_finished++;
            continue;
        }
        int64_t first;
        const int64_t n = handout_take(&h, r, 1 + (int64_t)(lcg(&seed) % 40), &first);
        ck_assert_int_ge(n, 1);
        if (how == HANDOUT_OWN && end[r] >= 0) /* only done items may lie between */
            for (int64_t i = end[r]; i < first; i++)
                ck_assert_msg(done[i], "rank %d jumped from %lld to %lld over item %lld", r,
                              (long long)end[r], (long long)first, (long long)i);
        for (int64_t i = first; i < first + n; i++) {
            ck_assert_msg(!done[i], "item %lld was done already", (long long)i);
            times[i]++;
        }
        end[r] = first + n;
    }
    for (int i = 0; i < HN; i++)
        ck_assert_msg(times[i] == !done[i], "item %d handed out %d times", i, times[i]);
    ck_assert_int_eq(h.n_left, 0);
    handout_free(&h);
}

START_TEST(test_handout_every_item_once)
{
    static unsigned char done[HN];
    const int ranks[] = {1, 2, 3, 7, 64};
    for (int pattern = 0; pattern < 4; pattern++) {
        uint64_t s = 99;
        for (int i = 0; i < HN; i++) /* none; every third; the first half; at random */
            done[i] = pattern == 1 ? i % 3 == 0
                    : pattern == 2 ? i < HN / 2
                    : pattern == 3 ? lcg(&s) % 4 == 0
                                   : 0;
        for (size_t k = 0; k < sizeof ranks / sizeof *ranks; k++)
            for (uint64_t seed = 1; seed <= 5; seed++)
                simulate(ranks[k], done, seed * 7919 + (uint64_t)pattern);
    }
}
END_TEST

/* The ranges start as equal shares of the items to do, in rank order, and a rank works
 * through its own before it steals; a steal takes the back half of the largest range. */
START_TEST(test_handout_ranges)
{
    static unsigned char done[HN];
    for (int i = 0; i < HN; i++)
        done[i] = i % 3 == 0;
    handout_t h;
    upset_err_t err = {""};
    ck_assert_int_eq(handout_init(&h, 4, HN, done, &err), 0);
    const int64_t todo = h.n_left; /* 664 */
    for (int r = 0; r < 4; r++) {
        int64_t count = 0;
        for (int64_t i = h.lo[r]; i < h.hi[r]; i++)
            count += !done[i];
        ck_assert_int_eq(count, todo * (r + 1) / 4 - todo * r / 4);
        if (r > 0)
            ck_assert_int_eq(h.lo[r], h.hi[r - 1]);
    }
    ck_assert_int_eq(h.lo[0], 0);
    ck_assert_int_eq(h.hi[3], HN);
    /* rank 1 takes its whole range in one go, then steals from the largest (rank 3's,
     * untouched, since 0 and 2 have each taken a chunk) */
    int64_t first, got = 0;
    ck_assert_int_eq(handout_next(&h, 0), HANDOUT_OWN);
    handout_take(&h, 0, 5, &first);
    ck_assert_int_eq(handout_next(&h, 2), HANDOUT_OWN);
    handout_take(&h, 2, 5, &first);
    const int64_t lo3 = h.lo[3], hi3 = h.hi[3];
    while (handout_next(&h, 1) == HANDOUT_OWN && h.lo[1] < lo3)
        got += handout_take(&h, 1, 1000, &first);
    ck_assert_int_eq(got, todo * 2 / 4 - todo / 4);
    ck_assert_int_eq(h.n_steals, 1);
    ck_assert_int_eq(h.hi[1], hi3);
    ck_assert_int_ge(h.lo[1], lo3 + (hi3 - lo3) / 2);
    ck_assert_int_eq(h.hi[3], lo3 + (hi3 - lo3) / 2);
    handout_free(&h);
}
END_TEST

/* The ETA: ranges of 10, 20 and 30 items at 0.5 s, unmeasured (the mean of the others,
 * 1.25 s) and 2 s an item, shared by three ranks; with nothing measured, the items left at
 * the average rate, and no estimate at all without one. */
START_TEST(test_handout_seconds_left)
{
    static unsigned char done[60];
    handout_t h;
    upset_err_t err = {""};
    ck_assert_int_eq(handout_init(&h, 3, 60, done, &err), 0);
    h.hi[0] = 10, h.lo[1] = 10, h.hi[1] = 30, h.lo[2] = 30; /* 10, 20, 30 items */
    const double per_item[3] = {0.5, 0, 2.0}, none[3] = {0, 0, 0};
    ck_assert_double_eq_tol(handout_seconds_left(&h, per_item, 99), (5 + 25 + 60) / 3.0, 1e-12);
    ck_assert_double_eq_tol(handout_seconds_left(&h, none, 4), 60 / 4.0, 1e-12);
    ck_assert_double_eq(handout_seconds_left(&h, none, 0), -1);
    handout_free(&h);
}
END_TEST

/* Runs one case in a child with MPI initialised there. */
static void in_mpi_child(int (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        MPI_Init(NULL, NULL);
        int rc = fn();
        MPI_Finalize();
        _exit(rc); /* _exit: MPI's leftovers are not this test's leaks */
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the case failed (see stderr)");
}

START_TEST(test_every_item_once) { in_mpi_child(case_every_item_once); }
END_TEST
START_TEST(test_resume) { in_mpi_child(case_resume); }
END_TEST
START_TEST(test_failure) { in_mpi_child(case_failure); }
END_TEST
START_TEST(test_stop_signal) { in_mpi_child(case_stop_signal); }
END_TEST
START_TEST(test_stop_unsaved) { in_mpi_child(case_stop_unsaved); }
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("sched");
    TCase *tc = tcase_create("one rank");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_item_once);
    tcase_add_test(tc, test_resume);
    tcase_add_test(tc, test_failure);
    tcase_add_test(tc, test_stop_signal);
    tcase_add_test(tc, test_stop_unsaved);
    suite_add_tcase(s, tc);
    TCase *th = tcase_create("hand-out");
    tcase_add_test(th, test_handout_every_item_once);
    tcase_add_test(th, test_handout_ranges);
    tcase_add_test(th, test_handout_seconds_left);
    suite_add_tcase(s, th);
    return s;
}

UPSET_CHECK_MAIN(make_suite)
