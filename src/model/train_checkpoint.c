/* Training checkpoints: a model file (checkpoint.c) plus the trainer's state, so that a
 * run killed at any moment and resumed from its last checkpoint ends with the same bits
 * as a run that never stopped.
 *
 * What makes the continuation exact: the parameters, Adam's moments and its step count
 * (bias correction), the trainer's step (schedule position), the NaN/Inf streak, and the
 * training stream's RNG state (data position). The held-out stream is reseeded at every
 * evaluation, so it has no state. Floats are stored bit for bit (F32 tensors, and the
 * options as hexadecimal floats in the metadata) so that the option check is exact too. */
#include "checkpoint.h"
#include "trainer.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The options that shape the trajectory, except `steps` (the total, which may grow). The
 * state-space learning rate (as used) only with a model that has such parameters, so the
 * checkpoints of every other model read as before it existed. */
static void options_string(const mn_train_config *c, const mn_task *t, int ssm, char *buf,
                           size_t n) {
    int k = snprintf(buf, n,
             "task=%s length=%d batch=%d optimizer=%d lr=%a beta1=%a beta2=%a eps=%a wd=%a "
             "momentum=%a schedule=%d warmup=%d min_lr=%a clip=%a clip_value=%a tbptt=%d "
             "seed=%" PRIu64,
             t->kind->name, t->info.length, c->batch_size, (int)c->optimizer, c->lr, c->beta1,
             c->beta2, c->eps, c->weight_decay, c->momentum, (int)c->schedule, c->warmup_steps,
             c->min_lr_ratio, c->clip_norm, c->clip_value, c->tbptt, c->seed);
    if (ssm && k > 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, " ssm_lr=%a", mn_ssm_lr(c));
}

#define MAX_META 40        /* key/value pairs of a training checkpoint, besides the model's */
#define MAX_READABLE 16    /* train.* pairs */

/* The options readably, each only where the optimizer or schedule reads it; values[] holds
 * the text. Returns the number of strings written into meta (pairs × 2). */
static int readable_options(const mn_train_config *c, int ssm,
                            char values[MAX_READABLE][48], const char **meta) {
    static const char *const opt_names[] = {"adam", "adamw", "sgd"};
    static const char *const sched_names[] = {"constant", "cosine"};
    int n = 0, v = 0, adam = c->optimizer != MN_OPT_SGD, cosine = c->schedule == MN_SCHED_COSINE;
#define PUT(key, ...) (snprintf(values[v], sizeof values[v], __VA_ARGS__), meta[n++] = (key), \
                       meta[n++] = values[v++])
#define PUTF(key, x) (mn_float_text(values[v], sizeof values[v], (x)), meta[n++] = (key), \
                      meta[n++] = values[v++])
    char b1[24], b2[24];
    PUT("train.optimizer", "%s",
        opt_names[(unsigned)c->optimizer <= MN_OPT_SGD ? c->optimizer : 0]);
    PUTF("train.lr", c->lr);
    if (ssm) PUTF("train.ssm_lr", mn_ssm_lr(c));
    if (adam) PUT("train.betas", "%s,%s", mn_float_text(b1, sizeof b1, c->beta1),
                  mn_float_text(b2, sizeof b2, c->beta2));
    if (adam) PUTF("train.eps", c->eps);
    if (!adam) PUTF("train.momentum", c->momentum);
    PUTF("train.weight_decay", c->weight_decay);
    PUT("train.schedule", "%s", sched_names[cosine]);
    if (cosine) PUT("train.schedule_steps", "%d", mn_schedule_length(c));
    if (cosine) PUTF("train.min_lr_ratio", c->min_lr_ratio);
    PUT("train.warmup", "%d", c->warmup_steps);
    PUTF("train.clip_norm", c->clip_norm);
    PUTF("train.clip_value", c->clip_value);
    PUT("train.tbptt", "%d", c->tbptt);
    PUT("train.batch", "%d", c->batch_size);
    PUT("train.seed", "%" PRIu64, c->seed);
#undef PUTF
#undef PUT
    return n;
}

mn_status mn_trainer_save(const mn_trainer *tr, const char *path, const char *const *extra) {
    char step[24], bad[24], opt_t[24], rng[80], drawn[24], opts[512], values[MAX_READABLE][48];
    snprintf(step, sizeof step, "%d", tr->step);
    snprintf(bad, sizeof bad, "%d", tr->bad_in_a_row);
    snprintf(opt_t, sizeof opt_t, "%ld", tr->opt.t);
    const uint64_t *s = tr->task->rng.s;
    snprintf(rng, sizeof rng, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, s[0],
             s[1], s[2], s[3]);
    options_string(&tr->cfg, tr->task, tr->opt.ssm, opts, sizeof opts);
    const char *meta[2 * MAX_META + 1];
    int n = 0;
    meta[n++] = "trainer.step";       meta[n++] = step;
    meta[n++] = "trainer.bad_streak"; meta[n++] = bad;
    meta[n++] = "trainer.opt_t";      meta[n++] = opt_t;
    meta[n++] = "trainer.rng";        meta[n++] = rng;
    meta[n++] = "trainer.options";    meta[n++] = opts;
    if (tr->task->data) {   /* a data task's position: sequences drawn from its orders */
        snprintf(drawn, sizeof drawn, "%" PRIu64, tr->task->drawn);
        meta[n++] = "trainer.data_drawn"; meta[n++] = drawn;
    }
    n += readable_options(&tr->cfg, tr->opt.ssm, values, meta + n);
    const int own = n;
    for (int i = 0; extra && extra[i] && extra[i + 1]; i += 2) {
        if (n + 2 > 2 * MAX_META)   /* never drop what the caller asked to record */
            return mn_fail(MN_E_ARG, "%s: more metadata than a training checkpoint holds (at "
                           "most %d extra key/value pairs)", path, (2 * MAX_META - own) / 2);
        meta[n++] = extra[i];
        meta[n++] = extra[i + 1];
    }
    meta[n] = NULL;
    int64_t shape[1] = {(int64_t)tr->opt.n};
    mn_st_entry e[2];
    int ne = 0;
    if (tr->opt.m) e[ne++] = (mn_st_entry){"optimizer.m", MN_ST_F32, 1, shape, tr->opt.m};
    if (tr->opt.v) e[ne++] = (mn_st_entry){"optimizer.v", MN_ST_F32, 1, shape, tr->opt.v};
    return mn_model_save_with(tr->m, path, meta, e, ne);
}

static mn_status meta_long(const mn_st_file *f, const char *path, const char *key, long lo,
                           long hi, long *out) {
    const char *v = mn_st_meta(f, key);
    if (!v)
        return mn_fail(MN_E_INPUT, "%s has no '%s': it is a model file, not a training "
                       "checkpoint (write one with --checkpoint-every or --save)", path, key);
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    char shown[MN_ESCAPE_CAP];
    if (errno || end == v || *end || x < lo || x > hi)
        return mn_fail(MN_E_INPUT, "%s: metadata '%s' = \"%s\" is not a whole number in [%ld, %ld]",
                       path, key, mn_escape(shown, sizeof shown, v), lo, hi);
    *out = x;
    return MN_OK;
}

static mn_status read_rng(const mn_st_file *f, const char *path, uint64_t s[4]) {
    const char *v = mn_st_meta(f, "trainer.rng");
    if (!v || strlen(v) != 64)
        return mn_fail(MN_E_INPUT, "%s: metadata 'trainer.rng' is missing or not 64 hex digits",
                       path);
    for (int i = 0; i < 4; i++) {
        char word[17];
        memcpy(word, v + 16 * i, 16);
        word[16] = '\0';
        char *end;
        errno = 0;
        s[i] = strtoull(word, &end, 16);
        if (errno || *end)
            return mn_fail(MN_E_INPUT, "%s: metadata 'trainer.rng' is not hexadecimal", path);
    }
    if (!(s[0] | s[1] | s[2] | s[3]))
        return mn_fail(MN_E_INPUT, "%s: metadata 'trainer.rng' is all zero (not a valid state)",
                       path);
    return MN_OK;
}

static mn_status read_moment(const mn_st_file *f, const char *path, const char *name,
                             size_t n, float *dst) {
    const mn_st_tensor *t = mn_st_find(f, name);
    if (!dst) {
        if (t) return mn_fail(MN_E_INPUT, "%s holds '%s', which this optimizer does not use; "
                              "resume with the --optimizer the checkpoint was written with",
                              path, name);
        return MN_OK;
    }
    if (!t || t->dtype != MN_ST_F32 || t->ndim != 1 || (size_t)t->shape[0] != n)
        return mn_fail(MN_E_INPUT, "%s: tensor '%s' must be F32 of shape [%zu] for this model "
                       "and optimizer", path, name, n);
    memcpy(dst, t->data, n * sizeof(float));
    return MN_OK;
}

/* A cosine schedule decays over its length: resuming under another length would move the
 * learning rate at once (a warm restart nobody asked for), so it must be the checkpoint's.
 * A constant schedule does not depend on its length. */
static mn_status check_schedule_length(const mn_st_file *f, const char *path,
                                       const mn_train_config *c, long step) {
    if (c->schedule != MN_SCHED_COSINE) return MN_OK;
    long had;
    if (!mn_st_meta(f, "train.schedule_steps"))
        return mn_fail(MN_E_ARG, "%s records no schedule length (an older mnemo wrote it), so "
                       "its cosine schedule cannot be continued exactly; start a new run", path);
    mn_status st = meta_long(f, path, "train.schedule_steps", 2, 2000000000L, &had);
    if (st) return st;
    const int len = mn_schedule_length(c);
    if (had == len) return MN_OK;
    mn_train_config old = *c;
    old.schedule_steps = (int)had;
    double last = mn_schedule_lr(&old, (int)step - 1), next = mn_schedule_lr(c, (int)step);
    return mn_fail(MN_E_ARG, "%s was trained under a cosine schedule over %ld steps (lr %g at "
                   "step %ld); a schedule over %d steps would move the learning rate to %g at "
                   "step %ld, a restart nobody asked for. To go on with the original schedule, "
                   "give --schedule-steps %ld (schedule_steps): the learning rate follows it "
                   "to step %ld and stays at its floor %g after; to train under another "
                   "schedule, start a new run", path, had, last, step, len, next, step + 1, had,
                   had, (double)c->lr * c->min_lr_ratio);
}

mn_status mn_trainer_resume(mn_trainer *tr, const char *path) {
    mn_st_file *f;
    mn_status st = mn_st_read(path, &f);
    if (st) return st;
    long step, bad, opt_t, drawn = 0;
    uint64_t rng[4];
    char want[512];
    options_string(&tr->cfg, tr->task, tr->opt.ssm, want, sizeof want);
    const char *have = mn_st_meta(f, "trainer.options");
    if ((st = meta_long(f, path, "trainer.step", 0, 2000000000L, &step)) ||
        (st = meta_long(f, path, "trainer.bad_streak", 0, 2000000000L, &bad)) ||
        (st = meta_long(f, path, "trainer.opt_t", 0, 2000000000L, &opt_t)) ||
        (st = read_rng(f, path, rng)) ||
        (tr->task->data && (st = meta_long(f, path, "trainer.data_drawn", 0, LONG_MAX, &drawn))))
        goto done;
    if (!have || strcmp(have, want)) {
        char shown[240];   /* the file's text */
        st = mn_fail(MN_E_ARG, "%s was written with other training options (%s) than these "
                     "(%s); resume with the same options (only --steps may change)", path,
                     have ? mn_escape(shown, sizeof shown, have) : "none recorded", want);
        goto done;
    }
    if ((st = check_schedule_length(f, path, &tr->cfg, step))) goto done;
    /* everything is checked before anything is changed, except the tensors, which are
     * checked one by one: read them into the live buffers last */
    if ((st = mn_model_read_params(tr->m, f, path)) ||
        (st = read_moment(f, path, "optimizer.m", tr->opt.n, tr->opt.m)) ||
        (st = read_moment(f, path, "optimizer.v", tr->opt.n, tr->opt.v)))
        goto done;
    tr->step = (int)step;
    tr->bad_in_a_row = (int)bad;
    tr->opt.t = opt_t;
    memcpy(tr->task->rng.s, rng, sizeof rng);
    tr->task->drawn = (uint64_t)drawn;
    tr->agreed = 0;   /* with ranks, the next step checks they all resumed the same state */
done:
    mn_st_free(f);
    return st;
}

int mn_trainer_steps_done(const mn_trainer *tr) { return tr->step; }
