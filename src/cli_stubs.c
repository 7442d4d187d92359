/* Subcommands whose modules are not built yet. */
#include <stdio.h>

#include "upset/cli_commands.h"

int cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "upset run: not available yet\n");
    return 1;
}

int cmd_samplesize(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "upset samplesize: not available yet\n");
    return 1;
}
