/* The trainer's state, shared by train.c and its checkpoints (train_checkpoint.c). */
#ifndef MN_TRAINER_H
#define MN_TRAINER_H

#include "comm.h"
#include "model.h"
#include "optim.h"
#include "task.h"

struct mn_trainer {
    mn_model *m;
    mn_task *task;
    mn_task *eval_task;        /* same task kind and length, held-out stream */
    mn_train_config cfg;
    mn_optimizer opt;
    int step, bad_in_a_row;
    const volatile sig_atomic_t *stop;   /* the caller's stop request (mn_trainer_set_stop) */
    /* Data parallelism (mn_trainer_set_comm): the ranks, this rank's part of each batch,
     * whether the ranks were found to agree since the comm was attached or the trainer
     * resumed, and a stop that some rank saw. */
    mn_comm comm;
    mn_batch_part part;
    int agreed;
};

#endif
