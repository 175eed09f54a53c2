/* Graceful stops for the long commands (train, diagnose, lab).
 *
 * The first SIGINT or SIGTERM only sets a flag (and writes one line to stderr): the command
 * finishes the optimizer step under way, writes what it can (train: a checkpoint to --save),
 * prints what was done and exits with 128 + the signal (130, 143). A second one aborts at
 * once: the default action, so files written atomically keep their last complete version.
 * SIGUSR1 asks train for a checkpoint after the current step, and the run goes on. The
 * library installs nothing; the CLI hands it the same flag (mn_trainer_set_stop). */
#ifndef MNEMO_CLI_SIGNALS_H
#define MNEMO_CLI_SIGNALS_H

#include <signal.h>
#include <stddef.h>

/* Handlers for SIGINT, SIGTERM and SIGUSR1, except for a signal the process started with
 * ignored: a background job of a script ignores SIGINT, and it stays ignored. */
void cli_signals_install(void);
/* The flag the handlers set: the number of the signal that asked to stop, 0 while none. */
const volatile sig_atomic_t *cli_stop_flag(void);
int cli_stop_signal(void);
/* 1 once after each SIGUSR1 (several during one step count once), else 0. */
int cli_take_checkpoint_request(void);
const char *cli_signal_name(int sig);   /* "SIGINT", "SIGTERM", "signal N" */
int cli_signal_exit_code(int sig);      /* 128 + sig: 130 for SIGINT, 143 for SIGTERM */

/* The command line that continues a stopped run: "mnemo COMMAND ARGS... --resume FILE",
 * with any --resume of argv dropped and words quoted for a POSIX shell where needed.
 * Cut (ending in "...") when it does not fit cap. */
const char *cli_resume_command(char *buf, size_t cap, const char *command, int argc,
                               char **argv, const char *file);

#endif
