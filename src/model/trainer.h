/* The trainer's state, shared by train.c and its checkpoints (train_checkpoint.c). */
#ifndef MN_TRAINER_H
#define MN_TRAINER_H

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
};

#endif
