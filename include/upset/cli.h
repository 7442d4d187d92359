#ifndef UPSET_CLI_H
#define UPSET_CLI_H
/* Runs the upset command line (initialises and finalises MPI). Returns the exit code. */
int upset_main(int argc, char **argv);
#endif
