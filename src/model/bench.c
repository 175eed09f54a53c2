/* mn_bench_run: time training steps (forward + backward + Adam) or forward passes of a
 * recurrent stack at one shape, and count useful FLOPs and memory. */
#include "model.h"
#include "optim.h"
#include "registry.h"

#include <string.h>

/* Seconds per iteration of T streamed steps of B sequences, each iteration from a reset
 * (the state, and a recurrent layer's packed weights, made again), as a device feeding
 * frames would run them. */
static mn_status stream_steps(mn_model *m, const mn_bench_config *cfg, const float *x,
                              double *secs) {
    mn_stream *s;
    mn_status st = mn_stream_create(m, cfg->B, &s);
    if (st) return st;
    float *y = mn_alloc((size_t)cfg->B * sizeof(float));
    if (!y) st = MN_E_NOMEM;
    size_t step = (size_t)cfg->B * cfg->input_size;
    double t0 = 0;
    for (int it = 0; !st && it < cfg->warmup + cfg->iterations; it++) {
        if (it == cfg->warmup) t0 = mn_now();
        mn_stream_reset(s);
        for (int t = 0; !st && t < cfg->T; t++)
            st = mn_stream_step(s, x + (size_t)t * step, NULL, y);
    }
    *secs = (mn_now() - t0) / cfg->iterations;
    mn_release(y);
    mn_stream_free(s);
    return st;
}

mn_status mn_bench_run(const mn_bench_config *cfg, mn_bench_result *res) {
    memset(res, 0, sizeof *res);
    if (cfg->T < 1 || cfg->B < 1 || cfg->input_size < 1 || cfg->iterations < 1 || cfg->warmup < 0)
        return mn_fail(MN_E_ARG, "bench needs length, batch, input size and iterations >= 1");
    mn_memory_reset_peak();
    size_t base = mn_memory_in_use();

    mn_status st;
    double secs_stream = 0;
    mn_model_config c;
    mn_model_config_init(&c);
    c.cell = cfg->cell;
    c.input_size = cfg->input_size;
    c.hidden_size = cfg->hidden_size;
    c.num_layers = cfg->num_layers > 0 ? cfg->num_layers : 1;
    c.bidirectional = cfg->bidirectional;
    if (cfg->blocks && (st = mn_blocks_parse(cfg->blocks, &c))) return st;
    c.output = MN_OUTPUT_EVERY;      /* a 1-wide head at every step: negligible work */
    c.output_size = 1;
    mn_model *m;
    if ((st = mn_model_create(&c, cfg->seed, &m))) return st;

    size_t rows = (size_t)cfg->T * cfg->B;
    float *x = mn_alloc(rows * cfg->input_size * sizeof(float));
    float *target = mn_alloc(rows * sizeof(float));
    int32_t *lengths = mn_alloc((size_t)cfg->B * sizeof(int32_t));
    mn_optimizer opt = {0};
    mn_train_config tc;
    mn_train_config_init(&tc);
    if (!x || !target || !lengths ||
        (cfg->train && ((st = mn_optimizer_init(&opt, &tc, m->nparams)) ||
                        (st = mn_optimizer_use_groups(&opt, &tc, m))))) {
        st = st ? st : MN_E_NOMEM;
        goto done;
    }
    mn_rng r;
    mn_rng_seed(&r, cfg->seed + 1);
    for (size_t i = 0; i < rows * cfg->input_size; i++) x[i] = mn_rng_uniform_range(&r, -1, 1);
    for (size_t i = 0; i < rows; i++) target[i] = mn_rng_uniform_range(&r, -1, 1);
    for (int b = 0; b < cfg->B; b++) lengths[b] = cfg->T;
    mn_batch batch = {.T = cfg->T, .B = cfg->B, .input_size = cfg->input_size, .x = x,
                     .lengths = lengths, .output_size = 1, .target = target};
    double inv = 1.0 / (double)rows, sum, t0 = 0;
    if (cfg->stream) {
        if (cfg->train) {
            st = mn_fail(MN_E_ARG, "bench: a stream is inference; train must be 0");
            goto done;
        }
        if ((st = stream_steps(m, cfg, x, &secs_stream))) goto done;
    }
    for (int it = 0; !cfg->stream && it < cfg->warmup + cfg->iterations; it++) {
        if (it == cfg->warmup) t0 = mn_now();
        if (cfg->train) memset(m->grads, 0, m->nparams * sizeof(float));
        if ((st = mn_model_run(m, &batch, 0, cfg->T, 0, cfg->train, inv, &sum))) goto done;
        if (cfg->train) mn_optimizer_step(&opt, m->params, m->grads, tc.lr);
    }
    double secs = cfg->stream ? secs_stream : (mn_now() - t0) / cfg->iterations;

    /* useful FLOPs: the products of every block, as its kind counts them (elementwise
     * work not counted); backward: input and weight gradients, twice the forward */
    double flops = 0;
    int in = cfg->input_size;
    for (int l = 0; l < m->L; l++) {
        const mn_layer_kind *k = mn_layer_kind_find(m->blocks[l].kind);
        flops += 2.0 * rows * k->macs_per_row(&m->blocks[l], in) * (cfg->train ? 3 : 1);
        if (k->macs_per_pair) {
            double T = cfg->T, pairs = m->blocks[l].causal ? T * (T + 1) / 2 : T * T;
            flops += 2.0 * cfg->B * pairs * k->macs_per_pair(&m->blocks[l], in) *
                     (cfg->train ? 3 : 1);
        }
        in = m->layers[l]->out_size;
    }
    res->ms_per_step = secs * 1e3;
    res->tokens_per_s = (double)rows / secs;
    res->flops_per_step = flops;
    res->gflops = flops / secs / 1e9;
    res->peak_bytes = mn_memory_peak() - base;
    res->model_bytes = m->nparams * sizeof(float) * (cfg->train ? 4 : 1) +
                       mn_model_activation_bytes(m);
done:
    mn_optimizer_free(&opt);
    mn_release(x);
    mn_release(target);
    mn_release(lengths);
    mn_model_free(m);
    return st;
}
