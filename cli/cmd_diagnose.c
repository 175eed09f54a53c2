/* mnemo diagnose: train (or load) a model, then measure how its training signal travels
 * back through time: per-step gradient norms, horizon, gate half-lives, the recurrence's
 * spectrum and step-Jacobian products, and a verdict with what to try next. */
#include "mnemo.h"
#include "signals.h"
#include "diagnose_load.h"
#include "train_run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int max_T, every, rows, cap;
    mn_grad_recorder *rec;
    double *heat;          /* [cap × max_T] */
    int *steps;
} snapshots;

/* Every `every` steps the recorder's mean over that window becomes one heatmap row. */
static int snapshot_hook(void *ctx, int step, const mn_step_stats *ss) {
    (void)ss;
    snapshots *sn = ctx;
    if (step % sn->every || sn->rows >= sn->cap) return 0;
    double *row = sn->heat + (size_t)sn->rows * sn->max_T;
    int n = mn_grad_recorder_profile(sn->rec, 0, row, NULL);
    /* a first block without a recurrence has no dL/dh_t of its own: its input's, as the
     * profile of the analysis (measure_profile) */
    int any = 0;
    for (int t = 0; t < n && !any; t++) any = row[t] != 0;
    if (n > 0 && !any) mn_grad_recorder_input_profile(sn->rec, 0, row);
    if (n > 0) sn->steps[sn->rows++] = step;
    mn_grad_recorder_clear(sn->rec);
    return 0;
}

typedef struct {
    int T, L, span, horizon, cell_state, units, analysis_sequences;
    int cell_recurrent;      /* a block has a recurrent cell (rnn, lstm, gru, gated) */
    int recurrent_block;         /* the block the recurrence measures describe, or -1 */
    mn_cell_kind cell;           /* its cell */
    double *depth;               /* [L+1] mean over steps of |dL/dx_t| at each block's input,
                                    [L]: the last block's output */
    double threshold, train_loss, val_loss, baseline;
    double *dh, *dc, *ratio;     /* [T] layer 0 */
    int *horizon_by_layer;
    double *oldest_by_layer;     /* ratio span steps back, per layer */
    mn_gate_stats gates;
    double *half_life;           /* [units] */
    mn_recurrence_stats rec;
    mn_verdict verdict;
    /* attention blocks: what their heads look at */
    int attention_blocks;
    int attention_block[MN_MAX_BLOCKS];
    mn_attention_stats attn[8];      /* the first 8 attention blocks */
    double entropy_ratio;            /* mean over their heads of entropy / uniform */
    /* state-space blocks (decays, half-lives) and convolutions (a bounded receptive field
     * beyond one step): the first 8 */
    int memory_blocks;
    mn_ssm_stats mem[8];
    int mem_block[8];
} diagnosis;

static void usage(FILE *f, cli_opt *opts, int n) {
    fprintf(f,
            "usage: mnemo diagnose (--task T --length N | --data KIND:PATH) (--model M [training options] | --load FILE)\n"
            "                      [--plot FILE.svg] [--json]\n"
            "\n"
            "Train a model (or load one) and measure how the training signal travels back\n"
            "through time on held-out sequences: the gradient norm at every step, the horizon\n"
            "over which it stays above a threshold, the memory half-life of each gated unit,\n"
            "the spectrum of the recurrence, and a verdict (vanishing, exploding, healthy;\n"
            "under- or overfitting) with what to try next. --plot writes an SVG of the profile,\n"
            "its evolution during training, the half-lives, and for attention the distance\n"
            "and entropy of each head. With --load and no --task or --data, the file's task\n"
            "and length are used (as eval does); --length still sets the length.\n"
            "Tasks: %s. Models: %s.\n"
            "\n"
            "options:\n",
            mn_task_names(), family_model_list());
    cli_print_options(f, opts, n);
}

/* Gradients on held-out batches (no update), recorded per step and layer. */
static int measure_profile(mn_model *m, mn_task *held, int batches, int B, diagnosis *d,
                           double *loss) {
    mn_grad_recorder *rec = NULL;
    mn_status st = mn_grad_recorder_attach(m, d->T, &rec);
    if (st) return cli_lib_fail(st, NULL);
    double sum = 0;
    for (int i = 0; i < batches && !st; i++) {
        const mn_batch *b;
        double l = 0;
        if (!(st = mn_task_next(held, B, &b)) && !(st = mn_model_gradients(m, b, &l))) sum += l;
    }
    if (st) {
        mn_grad_recorder_detach(rec);
        return cli_lib_fail(st, "measuring the gradient profile failed");
    }
    *loss = sum / batches;
    double *row = malloc((size_t)d->T * sizeof(double));
    if (!row) {
        mn_grad_recorder_detach(rec);
        return cli_fail_code(CLI_EXIT_RUNTIME, "out of memory for the gradient profile");
    }
    for (int l = 0; l <= d->L; l++) {
        mn_grad_recorder_input_profile(rec, l, row);
        d->depth[l] = 0;
        for (int t = 0; t < d->T; t++) d->depth[l] += row[t] / d->T;
    }
    for (int l = 0; l < d->L; l++) {
        double *g = l == 0 ? d->dh : row;
        mn_grad_recorder_profile(rec, l, g, l == 0 ? d->dc : NULL);
        /* a block without a recurrence has no dL/dh_t of its own: use its input's */
        int any = 0;
        for (int t = 0; t < d->T && !any; t++) any = g[t] != 0;
        if (!any) mn_grad_recorder_input_profile(rec, l, g);
        d->horizon_by_layer[l] = mn_gradient_horizon(g, d->T, d->threshold);
        double last = g[d->T - 1];
        d->oldest_by_layer[l] = last > 0 ? g[d->T - 1 - d->span] / last : 0;
    }
    free(row);
    mn_grad_recorder_detach(rec);
    mn_gradient_ratio(d->dh, d->T, d->ratio);
    return 0;
}

static int analyze(mn_model *m, mn_task *held, int B, int sequences, diagnosis *d) {
    const mn_batch *b;
    mn_status st = mn_task_next(held, B, &b);
    /* the first block with a recurrence; MN_E_STATE says a block has none */
    d->recurrent_block = -1;
    for (int l = 0; !st && l < d->L && d->recurrent_block < 0; l++) {
        st = mn_gate_stats_measure(m, b, l, &d->gates, NULL, d->half_life);
        if (st == MN_E_STATE) { st = MN_OK; continue; }
        if (!st) st = mn_recurrence_measure(m, b, l, sequences, &d->rec);
        if (!st) d->recurrent_block = l;   /* its cell: d->cell, set from the config */
    }
    if (st) return cli_lib_fail(st, "analysing the recurrence failed");
    /* every attention block: the heads' distance and entropy */
    double ratio = 0;
    int heads = 0;
    for (int l = 0; l < d->L && !st; l++) {
        mn_attention_stats a;
        st = mn_attention_measure(m, b, l, &a);
        if (st == MN_E_STATE) { st = MN_OK; continue; }
        if (st) break;
        if (d->attention_blocks < 8) d->attn[d->attention_blocks] = a;
        d->attention_block[d->attention_blocks++] = l;
        for (int h = 0; h < a.heads && a.uniform_entropy > 0; h++, heads++)
            ratio += a.entropy[h] / a.uniform_entropy;
    }
    d->entropy_ratio = heads ? ratio / heads : 0;
    if (st) return cli_lib_fail(st, "measuring attention failed");
    for (int l = 0; l < d->L && d->memory_blocks < 8; l++) {
        mn_ssm_stats m_st;
        if ((st = mn_ssm_stats_measure(m, b, l, &m_st, NULL)))
            return cli_lib_fail(st, "measuring the state-space blocks failed");
        if (!m_st.has_decay && (m_st.receptive_field == MN_FIELD_UNBOUNDED ||
                                m_st.receptive_field <= 1))
            continue;
        d->mem[d->memory_blocks] = m_st;
        d->mem_block[d->memory_blocks++] = l;
    }
    return 0;
}

/* How far back each state-space block remembers and each convolution reads, against what
 * the task needs (span + 1 steps: the answer at the last step reads step 0). */
static void print_memory(const diagnosis *d) {
    for (int i = 0; i < d->memory_blocks; i++) {
        const mn_ssm_stats *m = &d->mem[i];
        const char *head = i == 0 ? "memory      " : "            ";
        if (m->has_decay) {
            printf("  %sblock %d (%s): half-life of each channel's slowest mode min %.3g, median "
                   "%.3g, max %.3g steps (the task reaches %d back); delta %.3g..%.3g, median "
                   "%.3g", head, d->mem_block[i], m->kind, m->channel_half_life_min,
                   m->channel_half_life_median, m->channel_half_life_max, d->span, m->dt_min,
                   m->dt_max, m->dt_median);
            if (m->input_dependent)
                printf(" over %lld held-out positions (input-dependent; decays at each "
                       "channel's median)", (long long)m->positions);
            printf("\n");
        } else {
            long long need = (long long)d->span + 1, total = m->receptive_field_total;
            printf("  %sblock %d (%s): receptive field %lld steps; through blocks 0..%d: ", head,
                   d->mem_block[i], m->kind, (long long)m->receptive_field, d->mem_block[i]);
            if (total == MN_FIELD_UNBOUNDED) printf("every past step\n");
            else printf("%lld of the %lld the task needs%s\n", total, need,
                        total < need ? " (too short: the answer's inputs lie outside it)" : "");
        }
    }
}

static void print_report(const train_opts *o, const mn_model_config *mc, const diagnosis *d,
                         const char *load_path, int trained_steps, const train_session *s,
                         const train_outcome *out) {
    char desc[MN_MAX_BLOCKS * 48];
    printf("mnemo diagnose: %s, %s %s, length %d (%s)\n", cli_model_desc(mc, desc, sizeof desc),
           o->data_spec ? "data" : "task", o->data_spec ? o->data_spec : o->task_name, o->length,
           load_path ? "loaded" : "trained");
    if (!load_path) {
        printf("  trained     %d steps (batch %d, %s, lr %g)\n", trained_steps, o->tc.batch_size,
               o->opt_name, (double)o->tc.lr);
        train_record_print(o, s, out);
    }
    printf("  loss        train %.4g, validation %.4g, baseline %.4g\n", d->train_loss,
           d->val_loss, d->baseline);
    printf("  gradient    |dL/dh_t| relative to the last step, by lag (layer 0, mean of %d "
           "held-out sequences):\n", d->analysis_sequences);
    static const double fracs[] = {0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0};
    printf("     lag   ");
    int lags[8], prev = -1, nl = 0;
    for (int i = 0; i < 8; i++) {
        int lag = (int)lrint(fracs[i] * (d->T - 1));
        if (lag == prev) continue;
        lags[nl++] = prev = lag;
        printf(" %9d", lag);
    }
    printf("\n     ratio ");
    for (int i = 0; i < nl; i++) printf(" %9.3g", d->ratio[lags[i]]);
    printf("\n");
    for (int l = 0; l < d->L; l++) {
        printf("  %s", l == 0 ? "horizon     " : "            ");
        if (d->L > 1) printf("block %d: ", l);
        printf("%d steps (ratio >= %g); the task needs %d; %d steps back: %.3g\n",
               d->horizon_by_layer[l], d->threshold, d->span, d->span, d->oldest_by_layer[l]);
    }
    if (d->cell_state) {
        double last = d->dc[d->T - 1];
        printf("  cell path   |dL/dc_t| %d steps back / last step: %.3g\n", d->span,
               last > 0 ? d->dc[d->T - 1 - d->span] / last : 0);
    }
    printf("  depth       |dL/dx| at each block's input, mean over steps:");
    for (int l = 0; l <= d->L; l++)
        printf(" %.3g%s", d->depth[l], l == d->L ? " (output)" : l + 1 == d->L ? "," : ",");
    printf("\n");
    if (d->recurrent_block < 0) {
        printf("  recurrence  none: no block has a recurrent cell, so gate and Jacobian measures "
               "do not apply\n");
        goto verdict;
    }
    if (d->recurrent_block > 0)
        printf("  recurrence  measured on block %d, the first with a recurrence\n",
               d->recurrent_block);
    const mn_gate_stats *g = &d->gates;
    mn_cell_info ci = {0};
    mn_cell_describe(d->cell, &ci);
    if (g->has_gates)
        printf("  gates       %s mean %.3f; half-life min %.3g, median %.3g, mean %.3g, max %.3g "
               "steps\n", ci.keep_gate ? ci.keep_gate : "keep gate", g->keep_mean,
               g->half_life_min, g->half_life_median, g->half_life_mean, g->half_life_max);
    printf("  saturation  %.1f%% of sigmoid gates < 0.05 or > 0.95; %.1f%% of tanh values |v| > "
           "0.95\n", 100 * g->saturated_gates, 100 * g->saturated_tanh);
    const mn_recurrence_stats *r = &d->rec;
    /* with a projection the measure is the block times W_hr (jacobian.c) */
    int proj = mc->num_blocks > 0 && mc->blocks[d->recurrent_block].proj > 0;
    printf("  recurrence  W_hh%s%s%s%s: spectral radius %.4g, singular values",
           ci.gates > 1 ? " (" : "", ci.gates > 1 ? ci.candidate : "", ci.gates > 1 ? ")" : "",
           proj ? " times W_hr" : "", r->spectral_radius);
    for (int i = 0; i < MN_DIAG_SINGULAR && i < mc->hidden_size; i++) printf(" %.3g", r->singular[i]);
    printf("\n  jacobians   product of %d step Jacobians, mean over %d sequences: log10 singular "
           "values", r->steps, r->sequences);
    for (int i = 0; i < MN_DIAG_SINGULAR && i < r->state_size; i++)
        printf(" %.3g", r->jacobian_log10_singular[i]);
    printf("\n              largest Lyapunov exponent %.4g per step (%s)\n", r->lyapunov,
           r->lyapunov < -1e-3 ? "contracting" : r->lyapunov > 1e-3 ? "expanding" : "neutral");
verdict:;
    print_memory(d);
    for (int i = 0; i < d->attention_blocks && i < 8; i++) {
        const mn_attention_stats *a = &d->attn[i];
        printf("  %s block %d, per head: distance", i == 0 ? "attention  " : "           ",
               d->attention_block[i]);
        for (int h = 0; h < a->heads; h++) printf(" %.3g", a->distance[h]);
        printf(" steps; entropy");
        for (int h = 0; h < a->heads; h++) printf(" %.3g", a->entropy[h]);
        printf(" (uniform %.3g nats)\n", a->uniform_entropy);
    }
    const mn_verdict *v = &d->verdict;
    printf("  verdict     %s: %s\n", mn_flow_name(v->flow), v->flow_reason);
    printf("  fit         %s: %s\n", mn_fit_name(v->fit), v->fit_reason);
    printf("  next        %s\n", v->advice);
}

static void print_json(const train_opts *o, const mn_model_config *mc, const diagnosis *d,
                       int trained_steps, const char *plot, const train_session *s,
                       const train_outcome *out) {
    json_obj j;
    json_begin(&j, stdout);
    json_str(&j, "command", "diagnose");
    train_json_task(&j, o);
    json_model(&j, mc);
    json_int(&j, "length", o->length);
    json_int(&j, "steps", trained_steps);
    if (trained_steps > 0) {   /* what shaped the training diagnosed */
        json_int(&j, "batch", o->tc.batch_size);
        json_str(&j, "optimizer", o->opt_name);
        json_num(&j, "lr", o->tc.lr);
        train_record_json(&j, o, s, out);
    }
    json_u64(&j, "seed", o->seed);
    json_int(&j, "threads", mn_get_threads());
    json_str(&j, "verdict", mn_flow_name(d->verdict.flow));
    json_str(&j, "fit", mn_fit_name(d->verdict.fit));
    json_int(&j, "horizon", d->horizon);
    json_int(&j, "span", d->span);
    json_num(&j, "threshold", d->threshold);
    json_num(&j, "train_loss", d->train_loss);
    json_num(&j, "val_loss", d->val_loss);
    json_num(&j, "baseline_loss", d->baseline);
    json_num_array(&j, "grad_norm_by_step", d->dh, d->T);
    json_num_array(&j, "grad_norm_by_block", d->depth, d->L + 1);
    json_int(&j, "recurrent_block", d->recurrent_block);
    if (d->attention_blocks > 0) {
        const mn_attention_stats *a = &d->attn[0];
        json_int(&j, "attention_blocks", d->attention_blocks);
        json_num_array(&j, "attention_distance_by_head", a->distance, a->heads);
        json_num_array(&j, "attention_entropy_by_head", a->entropy, a->heads);
        json_num(&j, "attention_uniform_entropy", a->uniform_entropy);
        json_num(&j, "attention_entropy_ratio", d->entropy_ratio);
    }
    if (d->memory_blocks > 0) {
        json_array_open(&j, "memory_blocks");
        for (int i = 0; i < d->memory_blocks; i++) {
            const mn_ssm_stats *m = &d->mem[i];
            json_obj e = json_array_item(&j, i);
            json_int(&e, "block", d->mem_block[i]);
            json_str(&e, "kind", m->kind);
            if (m->receptive_field == MN_FIELD_UNBOUNDED) json_null(&e, "receptive_field");
            else json_int(&e, "receptive_field", m->receptive_field);
            if (m->receptive_field_total == MN_FIELD_UNBOUNDED)
                json_null(&e, "receptive_field_total");
            else json_int(&e, "receptive_field_total", m->receptive_field_total);
            if (m->has_decay) {
                json_bool(&e, "input_dependent", m->input_dependent);
                json_num(&e, "dt_min", m->dt_min);
                json_num(&e, "dt_median", m->dt_median);
                json_num(&e, "dt_max", m->dt_max);
                json_num(&e, "half_life_median", m->half_life_median);
                json_num(&e, "channel_half_life_min", m->channel_half_life_min);
                json_num(&e, "channel_half_life_median", m->channel_half_life_median);
                json_num(&e, "channel_half_life_max", m->channel_half_life_max);
            }
            json_close(&e);
        }
        json_array_close(&j);
    }
    if (d->cell_state) json_num_array(&j, "cell_grad_norm_by_step", d->dc, d->T);
    {
        double hl[CLI_MAX_LAYERS];
        int n = d->L < CLI_MAX_LAYERS ? d->L : CLI_MAX_LAYERS;
        for (int l = 0; l < n; l++) hl[l] = d->horizon_by_layer[l];
        json_num_array(&j, "horizon_by_layer", hl, n);
    }
    json_num(&j, "spectral_radius", d->rec.spectral_radius);
    json_num_array(&j, "singular_values", d->rec.singular,
                   mc->hidden_size < MN_DIAG_SINGULAR ? mc->hidden_size : MN_DIAG_SINGULAR);
    json_num_array(&j, "jacobian_log10_singular", d->rec.jacobian_log10_singular,
                   d->rec.state_size < MN_DIAG_SINGULAR ? d->rec.state_size : MN_DIAG_SINGULAR);
    json_num(&j, "lyapunov", d->rec.lyapunov);
    if (d->gates.has_gates) {
        json_num(&j, "keep_gate_mean", d->gates.keep_mean);
        json_obj h = json_child(&j, "half_life");
        json_num(&h, "min", d->gates.half_life_min);
        json_num(&h, "median", d->gates.half_life_median);
        json_num(&h, "mean", d->gates.half_life_mean);
        json_num(&h, "max", d->gates.half_life_max);
        json_close(&h);
    }
    json_num(&j, "saturated_gates", d->gates.saturated_gates);
    json_num(&j, "saturated_tanh", d->gates.saturated_tanh);
    json_str(&j, "advice", d->verdict.advice);
    if (plot) json_str(&j, "plot", plot);
    json_end(&j);
}

/* Who the plot is of: a recurrent stack by its cell; a family (--model transformer, ...)
 * by its name; other block models (--blocks, or loaded) by their blocks, cut short to
 * stay readable in the page title. */
static void plot_model_name(const mn_model_config *mc, const train_opts *o, char *buf,
                            size_t cap) {
    if (mc->num_blocks == 0) {
        snprintf(buf, cap, "%s, hidden %d", mn_cell_name(mc->cell), mc->hidden_size);
    } else if (o->model_name && family_of(o->model_name) != FAMILY_NONE) {
        snprintf(buf, cap, "%s, hidden %d", o->model_name, mc->hidden_size);
    } else {
        char desc[MN_MAX_BLOCKS * 48];
        cli_model_desc(mc, desc, sizeof desc);
        size_t n = strlen(desc), keep = cap > 91 ? 90 : cap - 1;
        if (n > keep) {
            memcpy(desc + keep - 3, "...", 3);
            n = keep;
        }
        memcpy(buf, desc, n);
        buf[n] = 0;
    }
}

/* The first attention block's heads, when its figures can be drawn: a model gone NaN
 * still gets its gradient plot, without the attention panel (the report prints them). */
static int plot_heads(const diagnosis *d) {
    if (d->attention_blocks < 1) return 0;
    const mn_attention_stats *a = &d->attn[0];
    if (!isfinite(a->uniform_entropy) || a->uniform_entropy < 0) return 0;
    for (int h = 0; h < a->heads; h++)
        if (!isfinite(a->distance[h]) || a->distance[h] < 0 || !isfinite(a->entropy[h]))
            return 0;
    return a->heads;
}

static int write_plot(const char *path, const mn_model_config *mc, const train_opts *o,
                      const diagnosis *d, const snapshots *sn) {
    char name[128], title[256];
    plot_model_name(mc, o, name, sizeof name);
    snprintf(title, sizeof title, "%s: %s T=%d (%s)", name, o->data_spec ? o->data_spec : o->task_name, o->length,
             mn_flow_name(d->verdict.flow));
    const mn_attention_stats *a = &d->attn[0];
    mn_plot_diagnosis p = {
        .title = title, .T = d->T, .grad_h = d->dh, .grad_c = d->cell_state ? d->dc : NULL,
        .snapshots = sn->rows, .snapshot_step = sn->steps, .heat = sn->heat,
        .units = d->gates.has_gates ? d->units : 0, .half_life = d->half_life,
        .horizon = d->horizon, .threshold = d->threshold,
        .heads = plot_heads(d), .head_distance = a->distance, .head_entropy = a->entropy,
        .uniform_entropy = a->uniform_entropy,
        .attention_block = d->attention_blocks > 0 ? d->attention_block[0] : 0,
    };
    mn_status st = mn_plot_diagnosis_svg(path, &p);
    return st ? cli_lib_fail(st, "writing the --plot file failed") : 0;
}

static int alloc_diagnosis(diagnosis *d, int T, int L, int H) {
    d->T = T;
    d->L = L;
    d->units = H;
    d->dh = calloc((size_t)T * 3, sizeof(double));
    d->horizon_by_layer = calloc((size_t)L, sizeof(int));
    d->oldest_by_layer = calloc((size_t)L, sizeof(double));
    d->half_life = calloc((size_t)H, sizeof(double));
    d->depth = calloc((size_t)L + 1, sizeof(double));
    if (!d->dh || !d->horizon_by_layer || !d->oldest_by_layer || !d->half_life || !d->depth)
        return cli_fail_code(CLI_EXIT_RUNTIME, "out of memory for a diagnosis of %d steps", T);
    d->dc = d->dh + T;
    d->ratio = d->dc + T;
    return 0;
}

static void free_diagnosis(diagnosis *d) {
    free(d->dh);
    free(d->horizon_by_layer);
    free(d->oldest_by_layer);
    free(d->half_life);
    free(d->depth);
}

/* A stop signal while training, or between the parts of the analysis after it: diagnose
 * keeps no checkpoint, so it says what was done and ends with 130 or 143. */
static int stopped(const train_opts *o, const train_session *s, const train_outcome *out,
                   int json) {
    int sig = cli_stop_signal(), done = s->tr ? mn_trainer_steps_done(s->tr) : 0;
    int rc = cli_fail_code(cli_signal_exit_code(sig), "stopped by %s after %d of %d training "
                           "steps; nothing was diagnosed (to keep a long training, run 'mnemo "
                           "train --save FILE' and then 'mnemo diagnose --load FILE')",
                           cli_signal_name(sig), done, o->tc.steps);
    if (json) {
        json_obj j;
        json_failure_begin(&j, "diagnose", rc);
        json_str(&j, "interrupted", cli_signal_name(sig));
        train_json_task(&j, o);
        json_int(&j, "length", o->length);
        json_int(&j, "steps", o->tc.steps);
        json_int(&j, "steps_done", done);
        json_num(&j, "train_loss", out->train_loss);
        json_end(&j);
    }
    return rc;
}

int cmd_diagnose(int argc, char **argv) {
    train_opts o;
    train_opts_init(&o);
    const char *load_path = NULL, *plot_path = NULL;
    int json = 0, nsnap = 20, sequences = 8, batches = 8;
    float threshold_f = 1e-3f;
    cli_opt opts[TRAIN_OPTS_MAX + 8];
    int n = train_opts_table(&o, opts, 0);
    opts[n++] = (cli_opt){"--load", OPT_STR, &load_path, "FILE",
                          "diagnose a saved model instead of training one", "", "model.safetensors",
                          0, 0, 0, 0, 0, 0, 0};
    opts[n++] = (cli_opt){"--plot", OPT_STR, &plot_path, "FILE",
                          "write an SVG: profile, its evolution in training, half-lives", "",
                          "diagnosis.svg", 0, 0, 0, 0, 0, 0, 0};
    opts[n++] = (cli_opt){"--threshold", OPT_FLOAT, &threshold_f, "X",
                          "gradient ratio that bounds the horizon", NULL, "1e-3", 0, 0, 0, 1, 1,
                          0, 0};
    opts[n++] = (cli_opt){"--snapshots", OPT_INT, &nsnap, "N",
                          "profiles recorded during training (heatmap rows)", NULL, "20", 1, 1000,
                          0, 0, 0, 0, 0};
    opts[n++] = (cli_opt){"--sequences", OPT_INT, &sequences, "N",
                          "held-out sequences whose step Jacobians are multiplied", NULL, "8", 1,
                          4096, 0, 0, 0, 0, 0};
    opts[n++] = (cli_opt){"--batches", OPT_INT, &batches, "N",
                          "held-out batches averaged for the final gradient profile", NULL, "8",
                          1, 100000, 0, 0, 0, 0, 0};
    opts[n++] = (cli_opt){"--json", OPT_FLAG, &json, NULL, "end stdout with one JSON summary line",
                          NULL, NULL, 0, 0, 0, 0, 0, 0, 0};

    if (cli_wants_help(argc, argv)) {
        usage(stdout, opts, n);
        return CLI_EXIT_OK;
    }
    int rc = cli_parse("diagnose", argc, argv, opts, n);
    if (rc) return rc;
    if (load_path && (rc = diagnose_load_conflicts(opts, n))) return rc;
    char file_task[64];
    if (load_path && !cli_find(opts, n, "--task")->given && !o.data_spec) {
        cli_opt *len = cli_find(opts, n, "--length");
        if ((rc = diagnose_task_from_file(load_path, &o, len->given, file_task, sizeof file_task)))
            return rc;
        cli_find(opts, n, "--task")->given = len->given = 1;   /* as if given: the file's */
    }
    if (!load_path && !o.model_name && !o.blocks_spec)
        return cli_fail("diagnose needs a model: give --model M or --blocks SPEC to train one, "
                        "or --load FILE");
    if ((rc = train_opts_check(&o))) return rc;
    if (plot_path && cli_check_writable("--plot", plot_path)) return CLI_EXIT_USAGE;
    if (!plot_path && cli_find(opts, n, "--snapshots")->given)
        return cli_fail("--snapshots sets the rows of the --plot heatmap, and no --plot is "
                        "asked for; add --plot FILE.svg or drop --snapshots");
    if (!load_path && cli_find(opts, n, "--snapshots")->given && nsnap > o.tc.steps)
        return cli_fail("--snapshots %d asks for more heatmap rows than the %d steps trained "
                        "(one row per step at most); give --snapshots %d or fewer", nsnap,
                        o.tc.steps, o.tc.steps);
    cli_json_arm(json);
    if (!load_path) cli_signals_install();   /* a loaded model has no training to stop */

    train_session s;
    memset(&s, 0, sizeof s);
    snapshots sn = {0};
    diagnosis d = {0};
    train_outcome out = {0};
    mn_task *held = NULL;
    mn_status st;
    double threshold = threshold_f;
    d.threshold = threshold;
    if (load_path) {
        if ((st = mn_model_load(load_path, &s.model))) {
            rc = cli_lib_fail(st, NULL);
            goto done;
        }
        cli_warn_nonfinite_params(s.model, load_path);
        /* a model of BPE ids reads text through its own tokenizer (the file records it) */
        const char *tok = NULL;
        if (o.data_spec && !strncmp(o.data_spec, "text:", 5) &&
            (rc = cli_model_tokenizer(s.model, load_path, o.tokenizer, &tok)))
            goto done;
        if (tok) o.tokenizer = tok;
        if ((rc = train_task_create(&o, o.seed, &s.task))) goto done;
        s.info = mn_task_get_info(s.task);
        o.mc = *mn_model_get_config(s.model);
    } else if ((rc = train_session_open(&o, &s))) {
        goto done;
    }
    mn_model_uses uses;
    if (cli_find(opts, n, "--sequences")->given &&
        mn_model_config_uses(mn_model_get_config(s.model), &uses) == MN_OK && !uses.recurrent) {
        rc = cli_fail("--sequences sets how many step Jacobians of a recurrence are multiplied, "
                      "and no block of this model has a recurrence; drop --sequences");
        goto done;
    }
    const mn_model_config *mc = mn_model_get_config(s.model);
    o.cell = mc->cell;
    int T = s.info->max_steps;
    int widest = mc->hidden_size;   /* the half-life table holds any block's units */
    for (int k = 0; k < mc->num_blocks; k++)
        if (mc->blocks[k].width > widest) widest = mc->blocks[k].width;
    if ((rc = alloc_diagnosis(&d, T, mc->num_layers, widest))) goto done;
    d.span = T - 1;
    /* the cell of the first recurrent block (a plain stack's config cell); a stack with
     * none (a TCN, a Transformer) has no cell path to report */
    mn_cell_kind cell = mc->cell;
    int recurrent = mc->num_blocks == 0;
    for (int k = 0; k < mc->num_blocks && !recurrent; k++)
        recurrent = mn_cell_parse(mc->blocks[k].kind, &cell) == MN_OK;
    mn_cell_info ci = {0};
    d.cell_state = recurrent && mn_cell_describe(cell, &ci) == MN_OK && ci.has_cell_state;
    d.cell_recurrent = recurrent;
    d.cell = cell;
    d.baseline = s.info->baseline_loss;

    if (!load_path) {
        /* the heatmap: at most nsnap rows, and at most ~16M numbers */
        sn.max_T = T;
        sn.cap = nsnap;
        if ((double)sn.cap * T > 16e6) sn.cap = (int)(16e6 / T) > 1 ? (int)(16e6 / T) : 1;
        sn.every = o.tc.steps / sn.cap > 0 ? o.tc.steps / sn.cap : 1;
        sn.heat = calloc((size_t)sn.cap * T, sizeof(double));
        sn.steps = calloc((size_t)sn.cap, sizeof(int));
        if (!sn.heat || !sn.steps) {
            rc = cli_fail_code(CLI_EXIT_RUNTIME, "out of memory for %d profile snapshots", sn.cap);
            goto done;
        }
        if ((st = mn_grad_recorder_attach(s.model, T, &sn.rec))) {
            rc = cli_lib_fail(st, NULL);
            goto done;
        }
        if ((rc = train_session_run(&o, &s, snapshot_hook, &sn, &out))) goto done;
        mn_grad_recorder_detach(sn.rec);
        sn.rec = NULL;
        if (cli_stop_signal()) {
            rc = stopped(&o, &s, &out, json);
            goto done;
        }
    }

    /* held-out sequences from a stream of their own */
    /* (a data task: the same split, read from its evaluation set) */
    if ((rc = train_task_create(&o, o.data_spec ? o.seed : o.seed ^ 0xd1a6u, &held))) goto done;
    mn_task_use_heldout(held);
    int B = o.tc.batch_size;
    double held_loss = 0;
    if ((rc = measure_profile(s.model, held, batches, B, &d, &held_loss))) goto done;
    if (cli_stop_signal()) {
        rc = stopped(&o, &s, &out, json);
        goto done;
    }
    d.analysis_sequences = batches * B;
    d.horizon = d.horizon_by_layer[0];
    d.val_loss = load_path ? held_loss : out.ev.loss;
    d.train_loss = load_path ? held_loss : out.train_loss;
    if ((rc = analyze(s.model, held, B, sequences, &d))) goto done;
    d.units = d.recurrent_block >= 0 ? d.gates.units : 0;

    mn_verdict_input vi = {
        .grad_norm = d.dh, .T = T, .span = d.span, .threshold = threshold, .tbptt = o.tc.tbptt,
        .train_loss = d.train_loss, .val_loss = d.val_loss, .baseline_loss = d.baseline,
        .cell = d.cell, .recurrent_init = mc->recurrent_init, .chrono = mc->chrono_tmax > 0,
        .clip_norm = o.tc.clip_norm,
        /* no block reaches every earlier step (a recurrence, state space or attention) */
        .no_recurrence = mn_model_receptive_field(mc) > 0,
        .attention_blocks = d.attention_blocks, .entropy_ratio = d.entropy_ratio,
        /* the memory is a state space's: no recurrent cell, no attention, yet no bound */
        .state_space = !d.cell_recurrent && d.attention_blocks == 0 &&
                       mn_model_receptive_field(mc) <= 0,
    };
    if ((st = mn_diagnose_verdict(&vi, &d.verdict))) {
        rc = cli_lib_fail(st, NULL);
        goto done;
    }
    if (plot_path && (rc = write_plot(plot_path, mc, &o, &d, &sn))) goto done;
    print_report(&o, mc, &d, load_path, o.tc.steps, &s, &out);
    if (plot_path) printf("  plot        %s\n", plot_path);
    if (json) print_json(&o, mc, &d, load_path ? 0 : o.tc.steps, plot_path, &s, &out);
    fflush(stdout);
    rc = 0;

done:
    if (sn.rec) mn_grad_recorder_detach(sn.rec);
    free(sn.heat);
    free(sn.steps);
    free_diagnosis(&d);
    if (held) mn_task_free(held);
    train_session_close(&s);
    return rc;
}
