/* mnemo: the command-line tool. It parses arguments, calls the library (mnemo.h), prints,
 * and chooses the exit code: 0 success, 1 runtime failure, 2 bad usage or bad input. */
#include "common.h"
#include "families.h"
#include "ranks.h"
#include "progress.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"train", cmd_train, "train a model on a task and compare it with the task's baseline"},
    {"eval", cmd_eval, "evaluate a saved model on a task's held-out sequences"},
    {"bench", cmd_bench, "time a model at one shape (train step or inference)"},
    {"predict", cmd_predict, "run PyTorch RNN/LSTM/GRU or TransformerEncoder weights on a .npy array"},
    {"diagnose", cmd_diagnose, "train or load a model and report how its gradient flows"},
    {"memory", cmd_memory, "bytes a training run needs, and the longest T that fits"},
    {"lab", cmd_lab, "experiments that check the theory of long-range learning"},
    {"sweep", cmd_sweep, "train several models at several lengths; one table and plot"},
    {"tokenize", cmd_tokenize, "train a byte-level BPE tokenizer; encode text to ids, decode ids"},
    {"generate", cmd_generate, "sample text from a language model trained on text data"},
};
#define NCOMMANDS ((int)(sizeof commands / sizeof commands[0]))


static void usage(FILE *f) {
    fprintf(f,
            "mnemo %s: train sequence models and see how far back they learn.\n"
            "\n"
            "usage: mnemo COMMAND [options]      (mnemo COMMAND --help for its options)\n"
            "\n"
            "commands:\n",
            mn_version());
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "  help     this text, or 'mnemo help COMMAND'\n"
            "\n"
            "tasks:  %s\n"
            "models: %s\n"
            "\n"
            "Every command takes --threads N (default: all cores) and --seed S. Progress goes\n"
            "to stderr, results to stdout; with --json the last stdout line is one JSON\n"
            "object, on failure too. Exit codes: 0 success, 1 runtime failure, 2 bad usage\n"
            "or bad input, 130/143 stopped by SIGINT/SIGTERM (train, diagnose, lab finish\n"
            "the current step first; train writes a checkpoint to --save).\n"
            "\n"
            "example:\n"
            "  mnemo train --task adding --length 100 --model lstm --hidden 64 --chrono --lr 5e-3 "
            "--steps 2000\n",
            mn_task_names(), family_model_list());
}

static const command *find(const char *name) {
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

static int run(int argc, char **argv) {
    if (argc < 2)
        return cli_fail("no command given; run 'mnemo --help' for the list of commands");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        if (argc > 2)
            return cli_fail("%s takes no arguments, got \"%s\"; run 'mnemo --version'", cmd,
                            argv[2]);
        printf("mnemo %s\n", mn_version());
        return CLI_EXIT_OK;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        if (argc == 2) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        const command *c = find(argv[2]);
        if (!c)
            return cli_fail("no help for \"%s\"; run 'mnemo --help' for the list of commands",
                            argv[2]);
        if (argc > 3)
            return cli_fail("'mnemo help' takes one command name, got \"%s\" after \"%s\"; run "
                            "'mnemo help %s'", argv[3], argv[2], argv[2]);
        char help[] = "--help";
        char *args[] = {help, NULL};
        return c->run(1, args);
    }
    const command *c = find(cmd);
    /* Under mpirun with several ranks, train splits its batches over them; any other
     * command would only repeat the same work on every rank. */
    if (c && cli_mpi_size() > 1 && c->run != cmd_train &&
        !cli_wants_help(argc - 2, argv + 2))
        return cli_fail("mnemo %s runs in one process, and mpirun started %d; only train "
                        "splits its work over ranks (run %s without mpirun, or with -np 1)",
                        c->name, cli_mpi_size(), c->name);
    if (c) {
        int rc = c->run(argc - 2, argv + 2);
        if (rc != CLI_EXIT_OK && cli_json_armed()) {   /* a failure no JSON reported yet */
            json_obj j;
            json_failure_begin(&j, c->name, rc);
            json_end(&j);
        }
        /* A full disk or a closed pipe must not pass for success. */
        if ((fflush(stdout) != 0 || ferror(stdout)) && rc == CLI_EXIT_OK)
            return cli_fail_code(CLI_EXIT_RUNTIME, "writing the results to stdout failed: %s",
                                 strerror(errno));
        return rc;
    }
    if (cmd[0] == '-')
        return cli_fail("unknown option \"%s\" before the command; run 'mnemo --help'", cmd);
    return cli_fail("unknown command \"%s\"; run 'mnemo --help' for the list of commands", cmd);
}

int main(int argc, char **argv) {
    cli_mpi_start();
    return cli_mpi_finish(run(argc, argv));
}
