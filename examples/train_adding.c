/* Train an LSTM on the adding problem in a few calls, then evaluate it.
 *
 *   cc train_adding.c $(pkg-config --cflags --libs mnemo) -o train_adding
 *   ./train_adding [steps]
 *
 * The adding problem (Hochreiter & Schmidhuber 1997): two of T values are marked; the
 * model must output their sum at the end. Always answering 1 scores MSE 1/6. */
#include <mnemo.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what) {
    fprintf(stderr, "train_adding: %s: %s\n", what, mn_last_error());
    return 1;
}

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 300;
    mn_task *task;
    if (mn_task_create("adding", 20, 1, &task)) return fail("task");

    mn_model_config mc;
    mn_model_config_init(&mc);            /* an LSTM */
    mc.hidden_size = 32;
    mn_task_configure_model(task, &mc);   /* input, output and loss from the task */
    mn_model *m;
    if (mn_model_create(&mc, 1, &m)) return fail("model");

    mn_train_config tc;
    mn_train_config_init(&tc);            /* Adam */
    tc.steps = steps, tc.batch_size = 32, tc.lr = 0.01f, tc.clip_norm = 1;
    mn_trainer *tr;
    if (mn_trainer_create(m, task, &tc, &tr)) return fail("trainer");
    mn_step_stats st;
    for (int s = 0; s < steps; s++)
        if (mn_trainer_step(tr, &st)) return fail("step");
    mn_eval_stats ev;
    if (mn_trainer_evaluate(tr, &ev)) return fail("evaluate");
    printf("adding T=20: held-out MSE %.4f after %d steps (baseline %.4f)\n", ev.loss, steps,
           mn_task_get_info(task)->baseline_loss);
    mn_trainer_free(tr);
    mn_model_free(m);
    mn_task_free(task);
    return 0;
}
