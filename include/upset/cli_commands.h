/* One function per subcommand; argv[0] is the subcommand name. Each returns the
 * process exit code (0 ok, 1 failure, 2 usage). */
#ifndef UPSET_CLI_COMMANDS_H
#define UPSET_CLI_COMMANDS_H
int cmd_info(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_samplesize(int argc, char **argv);
int cmd_rank(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_trial(int argc, char **argv);
int cmd_protect(int argc, char **argv);
#endif
