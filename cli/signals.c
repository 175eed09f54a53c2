/* Graceful stops: see signals.h. */
#include "signals.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_sig, checkpoint_asked;
static int stderr_tty;

/* write(2) only: the one output call a handler may make. */
#define SAY(lit) do { ssize_t w_ = write(2, lit, sizeof lit - 1); (void)w_; } while (0)

static void on_stop(int sig) {
    int saved = errno;
    if (stop_sig) {
        /* The second: die now, by the signal itself, so the parent sees how it ended.
         * A write under way leaves its temporary file; the target keeps its last version. */
        SAY("\nmnemo: second stop signal: aborting at once\n");
        signal(sig, SIG_DFL);
        raise(sig);   /* blocked while this handler runs: delivered as it returns */
        errno = saved;
        return;
    }
    stop_sig = sig;
    if (stderr_tty) SAY("\n");   /* off the in-place progress line */
    if (sig == SIGINT)
        SAY("mnemo: SIGINT: stopping after the current step (press Ctrl-C again to abort at "
            "once)\n");
    else
        SAY("mnemo: SIGTERM: stopping after the current step (a second signal aborts at "
            "once)\n");
    errno = saved;
}

static void on_usr1(int sig) {
    (void)sig;
    checkpoint_asked = 1;
}

static void install(int sig, void (*fn)(int)) {
    struct sigaction sa, old;
    if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN) return;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;   /* the progress and file writes go on undisturbed */
    sigaction(sig, &sa, NULL);
}

void cli_signals_install(void) {
    stderr_tty = isatty(2);
    install(SIGINT, on_stop);
    install(SIGTERM, on_stop);
    install(SIGUSR1, on_usr1);
}

const volatile sig_atomic_t *cli_stop_flag(void) { return &stop_sig; }
int cli_stop_signal(void) { return stop_sig; }

int cli_take_checkpoint_request(void) {
    if (!checkpoint_asked) return 0;
    checkpoint_asked = 0;
    return 1;
}

const char *cli_signal_name(int sig) {
    static char buf[24];
    if (sig == SIGINT) return "SIGINT";
    if (sig == SIGTERM) return "SIGTERM";
    snprintf(buf, sizeof buf, "signal %d", sig);
    return buf;
}

int cli_signal_exit_code(int sig) { return 128 + sig; }

/* Appends one word, in single quotes unless it is made of characters no shell treats
 * specially. 0 when it did not fit. */
static int put_word(char *buf, size_t cap, size_t *n, const char *w) {
    int plain = *w != 0;
    for (const char *p = w; *p && plain; p++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                       "-_./=:,+@%", *p) != NULL;
    char q[4096];
    size_t k = 0;
    if (strlen(w) > 1000) return 0;   /* quoted, at most 4 bytes a character */
    if (plain) {
        k = (size_t)snprintf(q, sizeof q, "%s", w);
    } else {
        q[k++] = '\'';
        for (const char *p = w; *p; p++) {
            if (*p == '\'') {   /* ' -> '\'' */
                memcpy(q + k, "'\\''", 4);
                k += 4;
            } else {
                q[k++] = *p;
            }
        }
        q[k++] = '\'';
        q[k] = 0;
    }
    if (*n + 1 + k + 1 > cap) return 0;
    if (*n) buf[(*n)++] = ' ';
    memcpy(buf + *n, q, k + 1);
    *n += k;
    return 1;
}

const char *cli_resume_command(char *buf, size_t cap, const char *command, int argc,
                               char **argv, const char *file) {
    size_t n = 0;
    if (cap < 8) {
        if (cap) buf[0] = 0;
        return buf;
    }
    buf[0] = 0;
    int ok = put_word(buf, cap, &n, "mnemo") && put_word(buf, cap, &n, command);
    for (int i = 0; ok && i < argc; i++) {
        if (!strcmp(argv[i], "--resume")) {
            i++;   /* and its value */
            continue;
        }
        if (!strncmp(argv[i], "--resume=", 9)) continue;
        ok = put_word(buf, cap, &n, argv[i]);
    }
    if (ok) ok = put_word(buf, cap, &n, "--resume") && put_word(buf, cap, &n, file);
    if (!ok) snprintf(buf + (n + 4 < cap ? n : cap - 4), 4, "...");
    return buf;
}
