/* Stream step-by-step inference: train a small GRU on the adding problem, then feed it one
 * sequence one time step at a time, as a device receiving a sample every few milliseconds
 * would, printing the model's answer after each step.
 *
 *   cc stream.c $(pkg-config --cflags --libs mnemo) -lm -o stream   (-lm: its own fabsf)
 *   ./stream [steps]
 *
 * The stream keeps the GRU's state between calls; the answer after step t is what the whole
 * model would answer if the sequence ended at t (an output=last model's head at every step),
 * and after the last step it equals mn_model_forward on the whole sequence. */
#include <mnemo.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define STEPS 20

static int fail(const char *what) {
    fprintf(stderr, "stream: %s: %s\n", what, mn_last_error());
    return 1;
}

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 300;
    mn_task *task;
    if (mn_task_create("adding", STEPS, 1, &task)) return fail("task");
    mn_model_config mc;
    mn_model_config_init(&mc);
    mc.cell = MN_GRU;
    mc.hidden_size = 32;
    mn_task_configure_model(task, &mc);   /* 2 inputs (value, marker), 1 output, MSE */
    mn_model *m;
    if (mn_model_create(&mc, 1, &m)) return fail("model");
    mn_train_config tc;
    mn_train_config_init(&tc);
    tc.steps = steps, tc.batch_size = 32, tc.lr = 0.01f, tc.clip_norm = 1;
    mn_trainer *tr;
    if (mn_trainer_create(m, task, &tc, &tr)) return fail("trainer");
    mn_step_stats st;
    for (int s = 0; s < steps; s++)
        if (mn_trainer_step(tr, &st)) return fail("step");
    mn_trainer_free(tr);

    /* one sequence: values t/STEPS, marked at steps 3 and 12 (the answer: their sum, 0.75) */
    float x[STEPS][2];
    for (int t = 0; t < STEPS; t++) x[t][0] = (float)t / STEPS, x[t][1] = t == 3 || t == 12;
    mn_stream *s;
    if (mn_stream_create(m, 1, &s)) return fail("stream");
    float y = 0;
    printf("streaming %d steps through a GRU trained %d steps on adding (answer 0.75):\n", STEPS,
           steps);
    for (int t = 0; t < STEPS; t++) {
        if (mn_stream_step(s, x[t], NULL, &y)) return fail("stream step");
        printf("  step %2d  value %.2f%s  ->  %.4f\n", t, x[t][0], x[t][1] ? " marked" : "       ",
               y);
    }
    /* the whole sequence at once gives the same final answer */
    int32_t len = STEPS;
    float target = 0;
    mn_batch b = {.T = STEPS, .B = 1, .input_size = 2, .x = &x[0][0], .lengths = &len,
                  .output_size = 1, .target = &target};
    const float *out;
    if (mn_model_forward(m, &b, &out)) return fail("forward");
    printf("whole sequence: %.4f (streamed %.4f, %lld steps)\n", out[0], y,
           (long long)mn_stream_steps(s));
    int same = fabsf(out[0] - y) <= 1e-5f * fmaxf(1, fabsf(out[0]));
    mn_stream_free(s);
    mn_model_free(m);
    mn_task_free(task);
    if (!same) {
        fprintf(stderr, "stream: the streamed answer differs from the whole-sequence one\n");
        return 1;
    }
    return 0;
}
