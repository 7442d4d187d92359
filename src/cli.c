/* The upset command line: dispatches subcommands. */
#include "upset/cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "upset/cli_commands.h"

#ifndef UPSET_VERSION
#define UPSET_VERSION "0.1.0"
#endif

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} COMMANDS[] = {
    {"run", cmd_run, "run a campaign: [mpirun -np N] upset run CAMPAIGN.yaml [--resume] [--quiet] [--output PATH]"},
    {"eval", cmd_eval, "fault-free evaluation: upset eval --model M --data D [--count N] [--offset K]"},
    {"info", cmd_info, "describe a model: upset info MODEL.h5"},
    {"rank", cmd_rank, "sensitivity metrics and bit ranking: [mpirun -np N] upset rank CAMPAIGN.yaml"},
    {"analyze", cmd_analyze, "score rankings and methods against an oracle: upset analyze --oracle O.h5 ..."},
    {"protect", cmd_protect, "a protection plan and its cost curve: upset protect --oracle O.h5 --rate U --out DIR"},
    {"trial", cmd_trial, "the bits a multibit trial flipped: upset trial RESULTS.h5 TRIAL..."},
    {"samplesize", cmd_samplesize, "statistical fault-injection sample size: upset samplesize (--population N | --model M) [--confidence C] [--margin E] [--p P]"},
};

static void usage(FILE *f)
{
    fprintf(f, "upset %s: bit-flip fault-injection campaigns for quantized neural networks\n\n",
            UPSET_VERSION);
    fprintf(f, "usage: upset COMMAND [ARGS]\n\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
        fprintf(f, "  %-11s %s\n", COMMANDS[i].name, COMMANDS[i].help);
    fprintf(f, "\nSee README.md and docs/ for file formats.\n");
}

int upset_main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("upset %s\n", UPSET_VERSION);
        return 0;
    }
    /* a file-size limit (ulimit -f) then fails the write that crosses it with EFBIG, which
     * every writer reports and cleans up after as it does a full disk; by default SIGXFSZ
     * killed the process mid-write, without a message and leaving its .tmp file */
    signal(SIGXFSZ, SIG_IGN);
    for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++) {
        if (strcmp(argv[1], COMMANDS[i].name))
            continue;
        if (argc == 3 && (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help"))) {
            /* asked for: the command's usage on stdout, success (each command prints its
             * usage to stderr when it refuses its arguments) */
            fflush(stderr);
            if (dup2(STDOUT_FILENO, STDERR_FILENO) < 0)
                return 2;
            char *args[] = {argv[1], "--help", NULL};
            COMMANDS[i].fn(2, args);
            return 0;
        }
        return COMMANDS[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "upset: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
