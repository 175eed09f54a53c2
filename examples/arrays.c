/* Train on your own arrays, save, reload and predict: the whole round trip of a program
 * that embeds mnemo.
 *
 *   cc arrays.c $(pkg-config --cflags --libs mnemo) -o arrays
 *   ./arrays [model.safetensors] [steps]
 *
 * The data: N sequences of T steps of one feature, each with its own length; the target
 * is the mean of a sequence's real steps. In a real program x, y and lengths come from
 * your files; here they are drawn at random. */
#include <mnemo.h>

#include <stdio.h>
#include <stdlib.h>

#define NSEQ 512
#define STEPS 20

static int fail(const char *what) {
    fprintf(stderr, "arrays: %s: %s\n", what, mn_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "arrays_model.safetensors";
    static float x[NSEQ * STEPS], y[NSEQ];   /* x[N,T,1], row-major as NumPy's */
    static int32_t lengths[NSEQ];
    srand(1);
    for (int n = 0; n < NSEQ; n++) {
        lengths[n] = 5 + rand() % (STEPS - 4);
        double sum = 0;
        for (int t = 0; t < STEPS; t++) {
            x[n * STEPS + t] = 2.0f * rand() / RAND_MAX - 1;
            if (t < lengths[n]) sum += x[n * STEPS + t];
        }
        y[n] = (float)(sum / lengths[n]);
    }

    mn_arrays a;
    mn_arrays_init(&a);
    a.sequences = NSEQ, a.steps = STEPS, a.input_size = 1, a.x = x, a.lengths = lengths;
    a.loss = MN_LOSS_MSE, a.output = MN_OUTPUT_LAST, a.output_size = 1, a.target = y;
    a.heldout = 64;                       /* evaluation set, never trained on */
    mn_task *task;
    if (mn_task_from_arrays(&a, 1, &task)) return fail("data");

    mn_model_config mc;
    mn_model_config_init(&mc);
    mc.cell = MN_GRU;
    mc.hidden_size = 32;
    mn_task_configure_model(task, &mc);
    mn_model *m;
    if (mn_model_create(&mc, 1, &m)) return fail("model");
    mn_train_config tc;
    mn_train_config_init(&tc);
    tc.steps = argc > 2 ? atoi(argv[2]) : 400, tc.batch_size = 32, tc.lr = 0.01f;
    mn_trainer *tr;
    if (mn_trainer_create(m, task, &tc, &tr)) return fail("trainer");
    mn_step_stats st;
    for (int s = 0; s < tc.steps; s++)
        if (mn_trainer_step(tr, &st)) return fail("step");
    mn_eval_stats ev;
    if (mn_trainer_evaluate(tr, &ev)) return fail("evaluate");
    printf("held-out MSE %.5f on %d sequences (baseline %.5f)\n", ev.loss, ev.sequences,
           mn_task_get_info(task)->baseline_loss);
    if (mn_model_save(m, path, NULL)) return fail("save");

    /* Reload and predict three new sequences: a batch is [T,B,I], time first. */
    mn_model *loaded;
    if (mn_model_load(path, &loaded)) return fail("load");
    enum { B = 3 };
    float bx[STEPS * B] = {0}, truth[B];
    int32_t blen[B] = {STEPS, 10, 5};
    for (int b = 0; b < B; b++) {
        double sum = 0;
        for (int t = 0; t < blen[b]; t++) {
            bx[t * B + b] = (float)(t % 3) / 2 - 0.5f + 0.1f * b;
            sum += bx[t * B + b];
        }
        truth[b] = (float)(sum / blen[b]);
    }
    mn_batch batch = {.T = STEPS, .B = B, .input_size = 1, .x = bx, .lengths = blen,
                      .output_size = 1, .target = truth};
    const float *out;
    if (mn_model_forward(loaded, &batch, &out)) return fail("predict");
    for (int b = 0; b < B; b++)
        printf("sequence %d (%2d steps): predicted %+.3f, true mean %+.3f\n", b, blen[b],
               out[b], truth[b]);
    mn_model_free(loaded);
    mn_trainer_free(tr);
    mn_model_free(m);
    mn_task_free(task);
    return 0;
}
