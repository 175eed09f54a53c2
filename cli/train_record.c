/* What shapes a training run: the checks that refuse an option no block, optimizer or
 * schedule of the run would read (an accepted option must take effect), and the record of
 * the settings a run used, for its summary and its JSON. The model's side is asked of the
 * library (mn_model_config_uses, from the registry of layer kinds), never of kind names. */
#include "train_run.h"

#include <math.h>
#include <string.h>

int train_opt_given(const train_opts *o, const char *name) {
    for (int i = 0; o->table && i < o->ntable; i++)
        if (!strcmp(o->table[i].name, name)) return o->table[i].given;
    return 0;
}

typedef enum { USE_RECURRENT, USE_KEEP_GATE, USE_FORGET_BIAS } use_field;

static int uses(const mn_model_uses *u, use_field f) {
    return f == USE_RECURRENT ? u->recurrent : f == USE_KEEP_GATE ? u->keep_gate : u->forget_bias;
}

/* The registered kinds whose blocks read field f, as "lstm, gated, ln-lstm": each kind's
 * one-block model, asked of the library. */
static const char *kinds_with(use_field f, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = 0;
    for (const char *p = mn_layer_kind_names(); *p && used < cap;) {
        size_t len = strcspn(p, ", ");
        char kind[MN_KIND_NAME_MAX + 1];
        snprintf(kind, sizeof kind, "%.*s", (int)len, p);
        mn_model_config c;
        mn_model_uses u;
        mn_model_config_init(&c);
        if (mn_blocks_parse(kind, &c) == MN_OK && mn_model_config_uses(&c, &u) == MN_OK &&
            uses(&u, f)) {
            int w = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", kind);
            if (w < 0) break;
            used += (size_t)w;
        }
        p += len;
        while (*p == ',' || *p == ' ') p++;
    }
    return buf;
}

static const char *model_words(const train_opts *o, char *buf, size_t cap) {
    if (o->blocks_spec) snprintf(buf, cap, "--blocks \"%s\"", o->blocks_spec);
    else snprintf(buf, cap, "--model %s", o->model_name ? o->model_name : "?");
    return buf;
}

int train_check_init(const train_opts *o, const mn_model_config *probe) {
    mn_model_uses u;
    if (mn_model_config_uses(probe, &u) != MN_OK) return cli_fail("%s", mn_last_error());
    char kinds[160], model[MN_MAX_BLOCKS * 40];
    model_words(o, model, sizeof model);
    static const char *const init_opts[] = {"--init", "--init-gain", NULL};
    for (int i = 0; init_opts[i]; i++)
        if (train_opt_given(o, init_opts[i]) && !u.recurrent)
            return cli_fail("%s shapes the recurrent weights W_hh, and no block of %s has a "
                            "recurrence; drop %s, or add a recurrent block (%s)", init_opts[i],
                            model, init_opts[i], kinds_with(USE_RECURRENT, kinds, sizeof kinds));
    if ((o->chrono || o->no_chrono) && !u.keep_gate)
        return cli_fail("%s is about the biases of keep gates, and no block of %s has one; drop "
                        "%s, or use a kind with a keep gate (%s)", o->chrono ? "--chrono"
                        : "--no-chrono", model, o->chrono ? "--chrono" : "--no-chrono",
                        kinds_with(USE_KEEP_GATE, kinds, sizeof kinds));
    if (o->forget_bias_given && !u.forget_bias)
        return cli_fail("--forget-bias sets the forget-gate bias of %s blocks, and %s has "
                        "none%s; drop --forget-bias", kinds_with(USE_FORGET_BIAS, kinds,
                        sizeof kinds), model, u.keep_gate ? " (its keep gates take chrono init, "
                        "the default, or PyTorch's uniform biases with --no-chrono)" : "");
    return 0;
}

int train_check_model(const train_opts *o, const mn_model_config *mc, const mn_task_info *info) {
    mn_model_uses u;
    if (mn_model_config_uses(mc, &u) != MN_OK) return cli_fail("%s", mn_last_error());
    char model[MN_MAX_BLOCKS * 40];
    model_words(o, model, sizeof model);
    /* (a plain stack spelled as blocks for --residual, --norm or --dropout carries
     * --hidden in its widths) */
    if (train_opt_given(o, "--hidden") && o->blocks_spec && !u.hidden_size)
        return cli_fail("--hidden is the width of blocks written without one, and every block "
                        "of %s has its own (or keeps its input's); drop --hidden", model);
    if (train_opt_given(o, "--ssm-lr") && !u.ssm_lr)
        return cli_fail("--ssm-lr sets the learning rate of state-space parameters (S4D's A and "
                        "delta), and no block of %s has them; drop --ssm-lr", model);
    if (o->tc.tbptt > 0 && !u.recurrent)
        return cli_fail("--tbptt cuts backpropagation through a recurrence, and no block of %s "
                        "has one; drop --tbptt", model);
    if (o->tc.tbptt > 0 && o->tc.tbptt >= info->max_steps)
        return cli_fail("--tbptt %d is not shorter than the sequences (%d steps), so every chunk "
                        "would be a whole sequence, which is full BPTT; give K below %d, or drop "
                        "--tbptt", o->tc.tbptt, info->max_steps, info->max_steps);
    return 0;
}

static int schedule_length(const mn_train_config *tc) {
    return tc->schedule_steps > 0 ? tc->schedule_steps : tc->steps;
}

void train_schedule_note(const train_opts *o, int done) {
    const mn_train_config *tc = &o->tc;
    const int len = schedule_length(tc);
    if (tc->schedule != MN_SCHED_COSINE || len == tc->steps) return;
    if (len < tc->steps)
        fprintf(stderr, "schedule: the cosine schedule ends at step %d; steps %d to %d stay at "
                "its floor, lr %g\n", len, (done > len ? done : len) + 1, tc->steps,
                (double)tc->lr * tc->min_lr_ratio);
    else
        fprintf(stderr, "schedule: this run stops at step %d of its %d-step cosine schedule; "
                "resume it with --steps %d --schedule-steps %d to finish\n", tc->steps, len,
                len, len);
}

/* ------------------------------------------------------------------ records */

static const char *const optimizer_word[] = {"adam", "adamw", "sgd"};
static const char *const init_word[] = {"uniform", "orthogonal", "identity"};

static const char *decay_text(const mn_train_config *tc, char *buf, size_t cap) {
    if (tc->weight_decay == 0) snprintf(buf, cap, "no weight decay");
    else if (tc->optimizer == MN_OPT_ADAMW)
        snprintf(buf, cap, "weight decay %g, decoupled (torch.optim.AdamW)",
                 (double)tc->weight_decay);
    else
        snprintf(buf, cap, "weight decay %g as L2 in the gradient (torch.optim.%s)",
                 (double)tc->weight_decay, tc->optimizer == MN_OPT_SGD ? "SGD" : "Adam");
    return buf;
}

void train_record_print(const train_opts *o, const train_session *s, const train_outcome *out) {
    const mn_train_config *tc = &o->tc;
    const mn_model_config *mc = mn_model_get_config(s->model);
    char buf[160], warm[64] = "";
    if (tc->optimizer == MN_OPT_SGD)
        printf("  optimizer   sgd: momentum %g; %s\n", (double)tc->momentum,
               decay_text(tc, buf, sizeof buf));
    else
        printf("  optimizer   %s: betas %g, %g, eps %g; %s\n", optimizer_word[tc->optimizer],
               (double)tc->beta1, (double)tc->beta2, (double)tc->eps,
               decay_text(tc, buf, sizeof buf));
    if (tc->warmup_steps > 0)
        snprintf(warm, sizeof warm, " after a linear warmup of %d steps", tc->warmup_steps);
    if (tc->schedule == MN_SCHED_COSINE)
        printf("  schedule    cosine from lr %g to %g (min-lr-ratio %g) at step %d%s; "
               "last lr %.4g\n", (double)tc->lr, (double)tc->lr * tc->min_lr_ratio, (double)tc->min_lr_ratio,
               schedule_length(tc), warm, out->last_lr);
    else
        printf("  schedule    constant lr %g%s; last lr %.4g\n", (double)tc->lr, warm,
               out->last_lr);
    printf("  gradients   ");
    if (tc->clip_norm > 0) printf("global norm clipped to %g", (double)tc->clip_norm);
    else printf("norm not clipped");
    if (tc->clip_value > 0) printf(", each clamped to +-%g", (double)tc->clip_value);
    if (tc->tbptt > 0) printf(", truncated BPTT in chunks of %d steps\n", tc->tbptt);
    else printf(", full BPTT\n");
    mn_model_uses u;
    if (mn_model_config_uses(mc, &u) != MN_OK) return;
    if (u.ssm_lr)
        printf("  ssm         A and delta at lr %g%s, no weight decay\n", (double)mn_ssm_lr(tc),
               train_opt_given(o, "--ssm-lr") ? " (--ssm-lr)" : " (min(lr, 1e-3), as the S4 "
               "repository)");
    if (!u.recurrent) {
        printf("  init        PyTorch's defaults (no block has a recurrent cell)\n");
        return;
    }
    printf("  init        W_hh %s", init_word[mc->recurrent_init]);
    if (mc->recurrent_init == MN_INIT_UNIFORM) printf(" U(+-1/sqrt(H)) as PyTorch");
    else printf(" (gain %g)", (double)mc->init_gain);
    if (u.keep_gate && mc->chrono_tmax > 1)
        printf("; keep-gate biases by chrono init, T_max %d", mc->chrono_tmax);
    else if (u.forget_bias)
        printf("; forget-gate bias %g%s", (double)mc->forget_bias,
               u.keep_gate > u.forget_bias ? ", other gate biases uniform as PyTorch" : "");
    else if (u.keep_gate)
        printf("; gate biases uniform as PyTorch");
    printf("\n");
}

void train_record_json(json_obj *j, const train_opts *o, const train_session *s,
                       const train_outcome *out) {
    const mn_train_config *tc = &o->tc;
    const mn_model_config *mc = mn_model_get_config(s->model);
    if (tc->optimizer == MN_OPT_SGD) {
        json_num(j, "momentum", tc->momentum);
    } else {
        json_num(j, "beta1", tc->beta1);
        json_num(j, "beta2", tc->beta2);
        json_num(j, "eps", tc->eps);
    }
    json_num(j, "weight_decay", tc->weight_decay);
    json_str(j, "schedule", tc->schedule == MN_SCHED_COSINE ? "cosine" : "constant");
    if (tc->schedule == MN_SCHED_COSINE) {
        json_int(j, "schedule_steps", schedule_length(tc));
        json_num(j, "min_lr_ratio", tc->min_lr_ratio);
    }
    json_int(j, "warmup", tc->warmup_steps);
    json_num(j, "last_lr", out->last_lr);
    json_num(j, "clip", tc->clip_norm);
    json_num(j, "clip_value", tc->clip_value);
    json_int(j, "tbptt", tc->tbptt);
    json_int(j, "max_faults", tc->max_bad_steps);
    mn_model_uses u;
    if (mn_model_config_uses(mc, &u) != MN_OK) return;
    if (u.ssm_lr) json_num(j, "ssm_lr", mn_ssm_lr(tc));
    if (!u.recurrent) return;
    json_str(j, "init", init_word[mc->recurrent_init]);
    if (mc->recurrent_init != MN_INIT_UNIFORM) json_num(j, "init_gain", mc->init_gain);
    if (u.keep_gate && mc->chrono_tmax > 1) json_int(j, "chrono_tmax", mc->chrono_tmax);
    else if (u.forget_bias) json_num(j, "forget_bias", mc->forget_bias);
}
