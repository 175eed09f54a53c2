/* What `mnemo diagnose --load FILE` reads from its command line and from the file. */
#ifndef CLI_DIAGNOSE_LOAD_H
#define CLI_DIAGNOSE_LOAD_H

#include "args.h"
#include "train_run.h"

#include <stddef.h>

/* The file defines the model and nothing is trained: an option of the model or of training
 * would change nothing. 0, or 2 after printing which option to drop. */
int diagnose_load_conflicts(cli_opt *opts, int n);

/* Without --task or --data: the task the file records, into task [cap] and o->task_name,
 * and (unless length_given) its length into o->length, as eval takes them. 0, or 2 after
 * printing the error. */
int diagnose_task_from_file(const char *path, train_opts *o, int length_given, char *task,
                            size_t cap);

#endif
