/* The optimizer's parameter groups (optim.c): S4D's A and Δ (MN_GROUP_SSM) train with
 * ssm_lr and no weight decay, every other tensor exactly as without groups; checkpoints
 * record the group's rate and resume to the bits of a run never stopped. */
#include "test.h"
#include "model.h"
#include "optim.h"
#include "registry.h"

#include <stdlib.h>
#include <string.h>

static int is_ssm_name(const char *name) {
    const char *dot = strstr(name, "kernel.");
    return dot && (!strcmp(dot, "kernel.log_dt") || !strcmp(dot, "kernel.log_A_real") ||
                   !strcmp(dot, "kernel.A_imag"));
}

static mn_status groups_model(mn_model **m) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.input_size = 3;
    c.output_size = 1;
    mn_status st = mn_blocks_parse("linear:4,s4d:state=4:residual:pre,gelu,glu,s4d:state=2", &c);
    return st ? st : mn_model_create(&c, 11, m);
}

TEST(optim_groups_mark_s4d_a_and_dt) {
    mn_model *m;
    REQUIRE_OK(groups_model(&m));
    int ssm = 0;
    for (int i = 0; i < m->ntensors; i++) {
        const mn_tensor_view *t = &m->tensors[i];
        CHECK((t->group == MN_GROUP_SSM) == is_ssm_name(t->name), "%s in group %d", t->name,
              t->group);
        ssm += t->group == MN_GROUP_SSM;
    }
    CHECK(ssm == 6, "%d tensors in the SSM group, want 3 per S4D layer", ssm);
    mn_train_config tc;
    mn_train_config_init(&tc);
    mn_optimizer o;
    REQUIRE_OK(mn_optimizer_init(&o, &tc, m->nparams));
    REQUIRE_OK(mn_optimizer_use_groups(&o, &tc, m));
    CHECK(o.ssm == 1 && o.nseg >= 3 && o.seg[0].lo == 0 && o.seg[o.nseg - 1].hi == m->nparams,
          "segments: ssm %d, %d of them", o.ssm, o.nseg);
    for (int k = 1; k < o.nseg; k++)
        CHECK(o.seg[k].lo == o.seg[k - 1].hi, "segment %d starts at %zu after %zu", k,
              o.seg[k].lo, o.seg[k - 1].hi);
    mn_optimizer_free(&o);
    mn_model_free(m);
    /* the kind's capability says the same as its tensors, for every kind */
    for (int i = 0; i < mn_layer_kind_count(); i++) {
        const mn_layer_kind *k = mn_layer_kind_at(i);
        mn_block_config b = {.width = 4};
        snprintf(b.kind, sizeof b.kind, "%s", k->name);
        mn_layer *l = k->create(&b, 4, 0);
        REQUIRE(l, "%s: %s", k->name, mn_last_error());
        int any = 0;
        for (int s = 0; s < l->nspecs; s++) any |= l->specs[s].group == MN_GROUP_SSM;
        CHECK(any == !!(k->caps & MN_KIND_SSM_GROUP), "%s: SSM tensors %d, capability %d",
              k->name, any, !!(k->caps & MN_KIND_SSM_GROUP));
        mn_layer_destroy(l);
    }
    mn_model_uses u;
    mn_model_config c;
    mn_model_config_init(&c);
    REQUIRE_OK(mn_blocks_parse("s4d,gelu,s4d,lstm:4", &c));
    REQUIRE_OK(mn_model_config_uses(&c, &u));
    CHECK(u.ssm_lr == 2, "uses.ssm_lr %d", u.ssm_lr);
}

/* Two steps with weight decay on: each SSM tensor moves as a one-group optimizer with
 * lr·ssm_lr/lr and no decay moves it, every other tensor as one with lr and the decay,
 * bit for bit; with zero gradients under AdamW the SSM tensors do not move at all. */
TEST(optim_groups_ssm_lr_and_no_weight_decay) {
    mn_model *m;
    REQUIRE_OK(groups_model(&m));
    size_t n = m->nparams;
    float *p = malloc(n * 4), *pa = malloc(n * 4), *pb = malloc(n * 4), *g = malloc(n * 4);
    static const mn_optimizer_kind kinds[] = {MN_OPT_ADAM, MN_OPT_ADAMW, MN_OPT_SGD};
    static const float ssm_lrs[] = {2e-3f, 0.0f};   /* 0: min(lr, 1e-3) */
    mn_rng r;
    mn_rng_seed(&r, 5);
    for (int kk = 0; kk < 3; kk++)
        for (int si = 0; si < 2; si++) {
            mn_train_config tc, ta, tb;
            mn_train_config_init(&tc);
            tc.optimizer = kinds[kk];
            tc.lr = 0.01f;
            tc.ssm_lr = ssm_lrs[si];
            tc.weight_decay = 0.1f;
            ta = tc;                          /* the default group, alone */
            tb = tc;                          /* the SSM group, alone */
            tb.weight_decay = 0;
            float want_ssm = si == 0 ? 2e-3f : 1e-3f;
            CHECK(mn_ssm_lr(&tc) == want_ssm, "ssm lr %g", (double)mn_ssm_lr(&tc));
            mn_optimizer o, oa, ob;
            REQUIRE_OK(mn_optimizer_init(&o, &tc, n));
            REQUIRE_OK(mn_optimizer_use_groups(&o, &tc, m));
            REQUIRE_OK(mn_optimizer_init(&oa, &ta, n));
            REQUIRE_OK(mn_optimizer_init(&ob, &tb, n));
            memcpy(p, m->params, n * 4);
            memcpy(pa, p, n * 4);
            memcpy(pb, p, n * 4);
            for (int step = 0; step < 2; step++) {
                float lr = step ? 0.006f : 0.01f;     /* as a schedule would move it */
                for (size_t i = 0; i < n; i++) g[i] = mn_rng_uniform_range(&r, -1, 1);
                mn_optimizer_step(&o, p, g, lr);
                mn_optimizer_step(&oa, pa, g, lr);
                mn_optimizer_step(&ob, pb, g, (float)(lr * ((double)want_ssm / tc.lr)));
            }
            int bad = 0, moved = 0;
            for (int i = 0; i < m->ntensors; i++) {
                const mn_tensor_view *t = &m->tensors[i];
                const float *ref = t->group == MN_GROUP_SSM ? pb : pa;
                bad += memcmp(p + t->offset, ref + t->offset, t->size * 4) != 0;
                for (size_t j = 0; j < t->size; j++)
                    moved += p[t->offset + j] != m->params[t->offset + j];
            }
            CHECK(bad == 0 && moved > 0, "optimizer %d, ssm_lr %g: %d tensors differ from their "
                  "group's update (%d moved)", (int)kinds[kk], (double)tc.ssm_lr, bad, moved);
            /* no gradient, fresh moments: decay alone moves a tensor (AdamW's shrink, SGD's
             * and Adam's g += wd·p), and only outside the SSM group */
            mn_optimizer o2;
            REQUIRE_OK(mn_optimizer_init(&o2, &tc, n));
            REQUIRE_OK(mn_optimizer_use_groups(&o2, &tc, m));
            memset(g, 0, n * 4);
            memcpy(pa, p, n * 4);
            mn_optimizer_step(&o2, p, g, 0.01f);
            int ssm_moved = 0, other_moved = 0;
            for (int i = 0; i < m->ntensors; i++) {
                const mn_tensor_view *t = &m->tensors[i];
                for (size_t j = 0; j < t->size; j++) {
                    size_t e = t->offset + j;
                    if (t->group == MN_GROUP_SSM) ssm_moved += p[e] != pa[e];
                    else other_moved += p[e] != pa[e];
                }
            }
            CHECK(ssm_moved == 0 && other_moved > 0, "optimizer %d, no gradient: %d SSM "
                  "elements decayed, %d others", (int)kinds[kk], ssm_moved, other_moved);
            mn_optimizer_free(&o2);
            mn_optimizer_free(&o);
            mn_optimizer_free(&oa);
            mn_optimizer_free(&ob);
        }
    mn_train_config bad;
    mn_train_config_init(&bad);
    bad.ssm_lr = -1;
    mn_optimizer o;
    CHECK(mn_optimizer_init(&o, &bad, 4) == MN_E_ARG, "a negative ssm_lr accepted");
    free(p); free(pa); free(pb); free(g);
    mn_model_free(m);
}

/* ------------------------------------------------------------ checkpoints */

typedef struct {
    mn_task *task;
    mn_model *m;
    mn_trainer *tr;
} run;

static mn_status run_open(run *r, const char *spec, const mn_train_config *tc) {
    memset(r, 0, sizeof *r);
    mn_model_config c;
    mn_status st = mn_task_create("adding", 8, 3, &r->task);
    if (st) return st;
    mn_model_config_init(&c);
    mn_task_configure_model(r->task, &c);
    c.hidden_size = 4;
    if ((st = mn_blocks_parse(spec, &c)) || (st = mn_model_create(&c, 3, &r->m))) return st;
    return mn_trainer_create(r->m, r->task, tc, &r->tr);
}

static void run_close(run *r) {
    mn_trainer_free(r->tr);
    mn_model_free(r->m);
    mn_task_free(r->task);
}

static mn_status steps(run *r, int n) {
    for (int i = 0; i < n; i++) {
        mn_step_stats s;
        mn_status st = mn_trainer_step(r->tr, &s);
        if (st) return st;
    }
    return MN_OK;
}

TEST(optim_groups_checkpoint_resume_same_bits) {
    char dir[256], path[320];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "groups"), "no temporary folder");
    snprintf(path, sizeof path, "%s/s4d.safetensors", dir);
    const char *spec = "linear:4,s4d:state=4,gelu,glu";
    mn_train_config tc;
    mn_train_config_init(&tc);
    tc.steps = 7;
    tc.batch_size = 3;
    tc.eval_size = 3;
    tc.optimizer = MN_OPT_ADAMW;
    tc.weight_decay = 0.05f;
    tc.schedule = MN_SCHED_COSINE;
    tc.ssm_lr = 3e-3f;
    run a, b, whole;
    REQUIRE_OK(run_open(&a, spec, &tc));
    REQUIRE_OK(steps(&a, 3));
    REQUIRE_OK(mn_trainer_save(a.tr, path, NULL));
    run_close(&a);
    mn_model *m;
    REQUIRE_OK(mn_model_load(path, &m));
    const char *rec = mn_model_metadata(m, "train.ssm_lr");
    CHECK(rec && (float)atof(rec) == 3e-3f, "train.ssm_lr %s", rec ? rec : "absent");
    mn_model_free(m);

    REQUIRE_OK(run_open(&b, spec, &tc));
    REQUIRE_OK(mn_trainer_resume(b.tr, path));
    REQUIRE_OK(steps(&b, 4));
    REQUIRE_OK(run_open(&whole, spec, &tc));
    REQUIRE_OK(steps(&whole, 7));
    CHECK(memcmp(b.m->params, whole.m->params, b.m->nparams * sizeof(float)) == 0,
          "3 steps, save, resume, 4 steps differ from 7 steps");
    run_close(&b);
    run_close(&whole);

    /* another state-space rate is another run: refused */
    tc.ssm_lr = 1e-3f;
    REQUIRE_OK(run_open(&b, spec, &tc));
    CHECK(mn_trainer_resume(b.tr, path) == MN_E_ARG, "resumed under another ssm_lr");
    run_close(&b);

    /* a model without state spaces records no ssm_lr, and resumes whatever it is */
    snprintf(path, sizeof path, "%s/lstm.safetensors", dir);
    REQUIRE_OK(run_open(&a, "lstm:4", &tc));
    REQUIRE_OK(steps(&a, 2));
    REQUIRE_OK(mn_trainer_save(a.tr, path, NULL));
    run_close(&a);
    REQUIRE_OK(mn_model_load(path, &m));
    CHECK(!mn_model_metadata(m, "train.ssm_lr"), "an LSTM checkpoint records train.ssm_lr");
    mn_model_free(m);
    tc.ssm_lr = 0;
    REQUIRE_OK(run_open(&b, "lstm:4", &tc));
    CHECK_OK(mn_trainer_resume(b.tr, path));
    run_close(&b);
}

/* Mamba's A_log and D train at the model's learning rate without weight decay
 * (mamba_simple.py's _no_weight_decay): under AdamW, each step of them equals a one-group
 * optimizer without decay, every other tensor one with it. */
TEST(optim_groups_mamba_a_log_and_d_skip_weight_decay) {
    mn_model_config c;
    mn_model_config_init(&c);
    c.input_size = 3;
    c.output_size = 1;
    REQUIRE_OK(mn_blocks_parse("linear:4,mamba:state=4:residual:pre", &c));
    mn_model *m;
    REQUIRE_OK(mn_model_create(&c, 5, &m));
    size_t n = m->nparams;
    int marked = 0;
    for (int i = 0; i < m->ntensors; i++) {
        const char *dot = strrchr(m->tensors[i].name, '.');
        const char *leaf = dot ? dot + 1 : m->tensors[i].name;
        int want = !strcmp(leaf, "A_log") || !strcmp(leaf, "D");
        CHECK((m->tensors[i].group == MN_GROUP_NO_DECAY) == want, "%s in group %d",
              m->tensors[i].name, m->tensors[i].group);
        marked += want;
    }
    CHECK(marked == 2, "%d tensors without decay, want A_log and D", marked);
    float *p = malloc(n * 4), *pa = malloc(n * 4), *pb = malloc(n * 4), *g = malloc(n * 4);
    mn_train_config tc, tb;
    mn_train_config_init(&tc);
    tc.optimizer = MN_OPT_ADAMW;
    tc.lr = 0.01f;
    tc.weight_decay = 0.1f;
    tb = tc;
    tb.weight_decay = 0;
    mn_optimizer o, oa, ob;
    REQUIRE_OK(mn_optimizer_init(&o, &tc, n));
    REQUIRE_OK(mn_optimizer_use_groups(&o, &tc, m));
    REQUIRE_OK(mn_optimizer_init(&oa, &tc, n));
    REQUIRE_OK(mn_optimizer_init(&ob, &tb, n));
    memcpy(p, m->params, n * 4);
    memcpy(pa, p, n * 4);
    memcpy(pb, p, n * 4);
    mn_rng r;
    mn_rng_seed(&r, 9);
    for (int step = 0; step < 2; step++) {
        for (size_t i = 0; i < n; i++) g[i] = mn_rng_uniform_range(&r, -1, 1);
        mn_optimizer_step(&o, p, g, 0.01f);
        mn_optimizer_step(&oa, pa, g, 0.01f);
        mn_optimizer_step(&ob, pb, g, 0.01f);
    }
    int bad = 0, differ = 0;
    for (int i = 0; i < m->ntensors; i++) {
        const mn_tensor_view *t = &m->tensors[i];
        const float *ref = t->group == MN_GROUP_NO_DECAY ? pb : pa;
        bad += memcmp(p + t->offset, ref + t->offset, t->size * 4) != 0;
        /* the two references differ (decay matters here), so the check can fail */
        differ += memcmp(pa + t->offset, pb + t->offset, t->size * 4) != 0;
    }
    CHECK(bad == 0 && differ == m->ntensors, "%d tensors off their group's update; decay "
          "changed %d of %d", bad, differ, m->ntensors);
    mn_optimizer_free(&o);
    mn_optimizer_free(&oa);
    mn_optimizer_free(&ob);
    free(p); free(pa); free(pb); free(g);
    mn_model_free(m);
}
