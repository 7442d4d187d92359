/* `upset run CAMPAIGN.yaml`: the command line, the stop signals and the exit status around
 * run_campaign (campaign/run.c). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "campaign/run.h"
#include "upset/cli_commands.h"
#include "upset/fileutil.h"
#include "upset/sched.h"

static int run_usage(void)
{
    fprintf(stderr,
            "usage: [mpirun -np N] upset run CAMPAIGN.yaml [--resume] [--force] [--quiet]\n"
            "                         [--output PATH] [--set KEY=VALUE]... [--full]\n"
            "  --resume   continue from OUTPUT.ckpt after an interruption\n"
            "  --force    overwrite an existing results file, or start over from scratch\n"
            "             where an interrupted run left a checkpoint\n"
            "  --quiet    no progress lines on stderr\n"
            "  --output   write the results to PATH instead of the campaign's output\n"
            "  --full     re-run the whole network for every fault and every sample, repeated\n"
            "             ones included (reference path)\n"
            "  --set      override a campaign key, e.g. --set data.count=500\n");
    return 2;
}

static int parse_args(int argc, char **argv, run_args_t *a)
{
    memset(a, 0, sizeof *a);
    a->quiet = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--resume"))
            a->resume = 1;
        else if (!strcmp(argv[i], "--force"))
            a->force = 1;
        else if (!strcmp(argv[i], "--quiet"))
            a->quiet = 1;
        else if (!strcmp(argv[i], "--full"))
            a->full = 1;
        else if (!strcmp(argv[i], "--output") && i + 1 < argc)
            a->output = argv[++i];
        else if (!strcmp(argv[i], "--set") && i + 1 < argc) {
            if (a->n_set == CAMPAIGN_MAX_SETS) {
                fprintf(stderr, "upset run: more than %d --set options\n", CAMPAIGN_MAX_SETS);
                return -1;
            }
            a->set[a->n_set++] = argv[++i];
        } else if (argv[i][0] != '-' && !a->yaml)
            a->yaml = argv[i];
        else
            return -1;
    }
    return a->yaml ? 0 : -1;
}

static void on_stop_signal(int sig)
{
    sched_stop_signal = sig;
}

/* SIGTERM (a batch system's kill, Ctrl-C through mpirun), SIGUSR1/SIGUSR2 (what
 * mpirun forwards, and SLURM's --signal warning): checkpoint and stop, on every
 * rank, so that no rank dies of the signal while the others wait for it. */
static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
}

/* Exit status of a run stopped by a signal after saving its checkpoint (EX_TEMPFAIL:
 * try again later, with --resume). A stop whose checkpoint could not be written is an
 * error (1): its message says what was lost. */
#define RUN_EXIT_STOPPED 75

int cmd_run(int argc, char **argv)
{
    run_args_t a;
    if (parse_args(argc, argv, &a))
        return run_usage();
    MPI_Init(NULL, NULL);
    catch_stop_signals();
    run_ctx_t r;
    memset(&r, 0, sizeof r);
    campaign_defaults(&r.c);
    r.comm = MPI_COMM_WORLD;
    MPI_Comm_rank(r.comm, &r.rank);
    MPI_Comm_size(r.comm, &r.size);
    upset_err_t err = {{0}};
    file_lock_t lock = FILE_LOCK_INIT;
    int rc = run_campaign(&r, &a, &lock, &err);
    if (rc && r.rank == 0)
        fprintf(stderr, "upset run: %s\n", err.msg);
    const int stopped = rc && r.stop_saved;
    file_unlock(&lock);
    run_free(&r);
    MPI_Finalize();
    return rc ? (stopped ? RUN_EXIT_STOPPED : 1) : 0;
}
