/* No silent failures: with allocations made to fail (mn_test_fail_allocs_after), every
 * call either returns a status with a message or does the whole work correctly. */
#include "test.h"
#include "gemm.h"
#include "init.h"
#include "model.h"
#include "safetensors.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static void fill(float *x, size_t n, mn_rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = mn_rng_uniform_range(r, -1.0f, 1.0f);
}

static double max_rel(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (d > worst || d != d) worst = d;
    }
    return worst;
}

/* ------------------------------------------------------------------- GEMM */

/* C = alpha·op(A)·op(B) + beta·C three ways: with the scratch, with B packed but no A
 * scratch (same bits), and with no memory at all (the reference loop's bits). */
static void gemm_without_scratch(const char *kernel, int threads) {
    static const int shapes[][5] = {   /* M, N, K, trans_a, trans_b */
        {9, 33, 17, 0, 1}, {64, 96, 300, 0, 1}, {70, 50, 600, 1, 0}, {5, 200, 40, 0, 0},
        {130, 47, 513, 1, 1}};
    if (mn_gemm_use(kernel) != MN_OK) { printf("    (kernel %s not supported here)\n", kernel); return; }
    mn_set_threads(threads);
    mn_rng r;
    mn_rng_seed(&r, 5);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        int ta = shapes[s][3], tb = shapes[s][4];
        int lda = ta ? M : K, ldb = tb ? K : N;
        size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
        float *A = malloc(na * 4), *B = malloc(nb * 4), *C0 = malloc(nc * 4);
        float *C1 = malloc(nc * 4), *C2 = malloc(nc * 4), *C3 = malloc(nc * 4);
        REQUIRE(A && B && C0 && C1 && C2 && C3, "malloc");
        fill(A, na, &r); fill(B, nb, &r); fill(C0, nc, &r);
        memcpy(C1, C0, nc * 4); memcpy(C2, C0, nc * 4); memcpy(C3, C0, nc * 4);
        mn_sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, -1.0f, C1, N);

        mn_clear_error();
        mn_gemm_release_scratch();
        mn_test_fail_allocs_after(1);   /* op(B)'s panels, then no A scratch on any thread */
        mn_sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, -1.0f, C2, N);
        mn_test_fail_allocs_after(-1);
        CHECK(memcmp(C1, C2, nc * 4) == 0, "%s, %d threads, %dx%dx%d: without the A scratch "
              "the bits differ (max rel %g)", kernel, threads, M, N, K, max_rel(C2, C1, nc));

        mn_gemm_release_scratch();
        mn_test_fail_allocs_after(0);   /* nothing at all */
        mn_sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, -1.0f, C3, N);
        mn_test_fail_allocs_after(-1);
        mn_sgemm_ref(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, -1.0f, C0, N);
        CHECK(memcmp(C3, C0, nc * 4) == 0, "%s, %dx%dx%d: without memory the product is not "
              "the reference loop's (max rel %g)", kernel, M, N, K, max_rel(C3, C0, nc));
        CHECK(max_rel(C3, C1, nc) < 1e-5, "%s: the fallback is wrong", kernel);
        CHECK(mn_last_error()[0] == 0, "a product that succeeded left the message \"%s\"",
              mn_last_error());
        free(A); free(B); free(C0); free(C1); free(C2); free(C3);
    }
    mn_gemm_use(NULL);
    mn_set_threads(0);
}

TEST(failures_gemm_without_scratch_avx512) { gemm_without_scratch("avx512", 2); }
TEST(failures_gemm_without_scratch_avx2) { gemm_without_scratch("avx2", 2); }
TEST(failures_gemm_without_scratch_portable) { gemm_without_scratch("portable", 1); }

TEST(failures_pack_b_failure_leaves_no_stale_panel) {
    enum { K = 20, N = 40, M = 6 };
    static float B[K * N], A[M * K], C[M * N], before[M * N];
    mn_rng r;
    mn_rng_seed(&r, 9);
    fill(B, K * N, &r); fill(A, M * K, &r); fill(C, M * N, &r);
    mn_packed p = {0};
    REQUIRE_OK(mn_pack_b(&p, 0, 4, 8, B, 8));        /* a small panel first */
    mn_clear_error();
    mn_test_fail_allocs_after(0);
    mn_status st = mn_pack_b(&p, 0, K, N, B, N);      /* needs a larger block: fails */
    mn_test_fail_allocs_after(-1);
    CHECK(st == MN_E_NOMEM, "a pack without memory returned %d", (int)st);
    CHECK(mn_last_error()[0] != 0, "a failed pack left no message");
    CHECK(p.N == 0 && p.K == 0, "a failed pack left a %dx%d panel behind", p.K, p.N);
    memcpy(before, C, sizeof C);
    mn_sgemm_packed(0, M, 1.0f, A, K, &p, 0.0f, C, N);   /* misuse: must not read old panels */
    CHECK(memcmp(before, C, sizeof C) == 0, "a product with a failed pack wrote C");
    /* and the panel still works after a successful pack */
    REQUIRE_OK(mn_pack_b(&p, 0, K, N, B, N));
    static float R[M * N];
    mn_sgemm_packed(0, M, 1.0f, A, K, &p, 0.0f, C, N);
    mn_sgemm_ref(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, R, N);
    CHECK(max_rel(C, R, M * N) < 1e-5, "packed product after a failed pack is wrong");
    mn_packed_free(&p);
}

/* A panel packed for one kernel is multiplied by that kernel after a switch, never
 * skipped (the product used to return without computing). */
TEST(failures_packed_product_after_kernel_switch) {
    enum { K = 30, N = 50, M = 7 };
    static float B[K * N], A[M * K], C[M * N], R[M * N];
    mn_rng r;
    mn_rng_seed(&r, 10);
    fill(B, K * N, &r); fill(A, M * K, &r);
    mn_packed p = {0};
    REQUIRE_OK(mn_pack_b(&p, 0, K, N, B, N));
    REQUIRE_OK(mn_gemm_use("portable"));
    memset(C, 0, sizeof C);
    mn_sgemm_packed(0, M, 1.0f, A, K, &p, 0.0f, C, N);
    mn_gemm_use(NULL);
    mn_sgemm_ref(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, R, N);
    CHECK(max_rel(C, R, M * N) < 1e-5, "product after a kernel switch is wrong (max rel %g)",
          max_rel(C, R, M * N));
    mn_packed_free(&p);
}

/* ------------------------------------------------------------------ model */

/* One gradient pass of a fresh model (built before the hook) with the first n allocations
 * of the pass allowed: MN_OK with the reference loss and gradients, or a status with a
 * message. Returns 1 when the pass succeeded. */
typedef struct {
    mn_model_config c;
    const mn_batch *b;
    double loss;
    float *grads;
    size_t n;
} grad_ref;

static int gradients_with_allocs(const grad_ref *ref, long n, int *checked) {
    mn_model *m = NULL;
    if (mn_model_create(&ref->c, 3, &m) != MN_OK) {
        mn_test_fail(__FILE__, __LINE__, "model: %s", mn_last_error());
        return 1;
    }
    mn_gemm_release_scratch();
    mn_clear_error();
    double loss = 0;
    mn_test_fail_allocs_after(n);
    mn_status st = mn_model_gradients(m, ref->b, &loss);
    mn_test_fail_allocs_after(-1);
    mn_status late = mn_parallel_status();
    CHECK(late == MN_OK, "after %ld allocations: a failure raised in a parallel region was "
          "never collected: %s", n, mn_last_error());
    if (st != MN_OK) {
        CHECK(mn_last_error()[0] != 0, "after %ld allocations: status %d without a message", n,
              (int)st);
        CHECK(st == MN_E_NOMEM, "after %ld allocations: status %d (%s)", n, (int)st,
              mn_last_error());
    } else {
        double e = max_rel(m->grads, ref->grads, ref->n);
        CHECK(fabs(loss - ref->loss) <= 1e-5 * (1 + fabs(ref->loss)) && e < 1e-4,
              "after %ld allocations: MN_OK but loss %.9g (expected %.9g), gradients off by %g",
              n, loss, ref->loss, e);
        (*checked)++;
    }
    mn_model_free(m);
    return st == MN_OK;
}

static void model_allocation_sweep(mn_cell_kind cell, int layers, int bidir) {
    mn_set_threads(2);
    mn_task *task = NULL;
    REQUIRE_OK(mn_task_create("adding", 12, 1, &task));
    grad_ref ref = {.b = NULL};
    mn_model_config_init(&ref.c);
    mn_task_configure_model(task, &ref.c);
    ref.c.cell = cell;
    ref.c.hidden_size = 32;
    ref.c.num_layers = layers;
    ref.c.bidirectional = bidir;
    REQUIRE_OK(mn_task_next(task, 16, &ref.b));
    mn_model *m = NULL;
    REQUIRE_OK(mn_model_create(&ref.c, 3, &m));
    REQUIRE_OK(mn_model_gradients(m, ref.b, &ref.loss));
    ref.n = m->nparams;
    ref.grads = malloc(ref.n * sizeof(float));
    REQUIRE(ref.grads, "malloc");
    memcpy(ref.grads, m->grads, ref.n * sizeof(float));
    /* A model that has run once holds its workspace: with no memory at all, only the GEMM
     * scratch is missing, and the pass must still compute the gradients (the reference
     * loop's rounding where op(B) could not be packed). */
    mn_gemm_release_scratch();
    mn_clear_error();
    double loss = 0;
    mn_test_fail_allocs_after(0);
    mn_status st = mn_model_gradients(m, ref.b, &loss);
    mn_test_fail_allocs_after(-1);
    CHECK(st == MN_OK, "a warm model without GEMM scratch failed: %s", mn_last_error());
    CHECK(fabs(loss - ref.loss) <= 1e-6 * (1 + fabs(ref.loss)) &&
          max_rel(m->grads, ref.grads, ref.n) < 1e-5, "without GEMM scratch: loss %.9g (expected %.9g), gradients off by %g", loss,
          ref.loss, max_rel(m->grads, ref.grads, ref.n));
    CHECK(mn_last_error()[0] == 0, "a pass that succeeded left the message \"%s\"",
          mn_last_error());
    mn_model_free(m);

    int failed = 0, ok = 0, checked = 0;
    long n = 0;
    /* up to the first pass that needed no failed allocation at all, and then some */
    for (int clean = 0; n < 400 && clean < 3; n++) {
        if (gradients_with_allocs(&ref, n, &checked)) { ok++; clean++; }
        else { failed++; clean = 0; }
    }
    CHECK(failed > 0 && ok > 0, "the sweep saw %d failures and %d successes", failed, ok);
    printf("    %s, %d layer(s)%s: %d passes failed with a message, %d computed correctly\n",
           mn_cell_name(cell), layers, bidir ? ", bidirectional" : "", failed, checked);
    free(ref.grads);
    mn_task_free(task);
    mn_set_threads(0);
}

TEST(failures_model_allocation_sweep_lstm) { model_allocation_sweep(MN_LSTM, 2, 0); }
TEST(failures_model_allocation_sweep_gru_bidirectional) { model_allocation_sweep(MN_GRU, 1, 1); }

/* ------------------------------------------------------- parallel regions */

/* A failure raised on a worker thread reaches the thread that opened the region. */
TEST(failures_worker_thread_failure_reaches_the_caller) {
#ifdef _OPENMP
    mn_clear_error();
    int workers = 0;
    void *got = NULL;
    mn_test_fail_allocs_after(0);
    #pragma omp parallel num_threads(2)
    {
        if (omp_get_thread_num() == 1) {   /* only a worker fails */
            workers = 1;
            got = mn_alloc(1000);
        }
    }
    mn_test_fail_allocs_after(-1);
    if (!workers) { printf("    (OpenMP gave the region one thread)\n"); mn_parallel_status(); return; }
    CHECK(got == NULL, "the hook did not fail the worker's allocation");
    CHECK(mn_last_error()[0] == 0, "the caller's message was set from another thread");
    mn_status st = mn_parallel_status();
    CHECK(st == MN_E_NOMEM, "mn_parallel_status returned %d, expected MN_E_NOMEM", (int)st);
    CHECK(strstr(mn_last_error(), "out of memory") != NULL,
          "the caller's message is \"%s\", not the worker's", mn_last_error());
    CHECK(mn_parallel_status() == MN_OK, "the slot was not emptied");
    mn_release(got);

    /* a failure on the calling thread outside any region never enters the slot */
    mn_fail(MN_E_ARG, "outside");
    CHECK(mn_parallel_status() == MN_OK, "a failure outside a region was reported as one");
    mn_clear_error();
#else
    printf("    (built without OpenMP: no worker threads)\n");
#endif
}

/* ------------------------------------------------------------------ sizes */

TEST(failures_layer_rows_bounds) {
    mn_layer *l = mn_linear_create(3, 2);
    REQUIRE(l, "linear: %s", mn_last_error());
    size_t rows = 1;
    CHECK_OK(mn_layer_rows(l, 46340, 46340, &rows));
    CHECK(rows == (size_t)46340 * 46340, "rows %zu", rows);
    CHECK_OK(mn_layer_rows(l, 2147483647, 1, &rows));
    CHECK_OK(mn_layer_rows(l, 0, 5, &rows));
    CHECK(rows == 0, "0 steps gave %zu rows", rows);
    CHECK(mn_layer_rows(l, 46341, 46341, &rows) == MN_E_ARG && rows == 0,
          "46341² rows (past INT_MAX) were accepted");
    CHECK(mn_layer_rows(l, -1, 5, &rows) == MN_E_ARG, "a negative length was accepted");
    CHECK(mn_layer_rows(l, 5, -1, &rows) == MN_E_ARG, "a negative batch was accepted");
    mn_layer_destroy(l);
}

/* T·B past INT_MAX used to wrap in int: 65536·65536 became 0 rows and the pass returned
 * MN_OK having computed nothing (or tried a huge allocation). Now every layer refuses it
 * before touching memory, with a message. */
static void refuses_huge_pass(mn_layer *l, const char *what) {
    static const int sizes[][2] = {{65536, 65536}, {50000, 50000}, {1 << 24, 1 << 8}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int T = sizes[i][0], B = sizes[i][1];
        size_t before = mn_memory_in_use();
        mn_clear_error();
        mn_status st = l->ops->forward(l, NULL, NULL, T, B, NULL);
        CHECK(st == MN_E_ARG, "%s forward T=%d B=%d returned %d (%s)", what, T, B, (int)st,
              mn_last_error());
        CHECK(strstr(mn_last_error(), "rows") != NULL, "%s: message \"%s\"", what,
              mn_last_error());
        CHECK(mn_memory_in_use() == before, "%s allocated before refusing", what);
        if (l->ops->backward) {
            mn_clear_error();
            st = l->ops->backward(l, NULL, NULL, T, B, NULL);
            CHECK(st != MN_OK && mn_last_error()[0], "%s backward T=%d B=%d returned %d",
                  what, T, B, (int)st);
        }
    }
}

TEST(failures_layers_refuse_rows_past_int) {
    mn_layer *lin = mn_linear_create(3, 2);
    mn_layer *rec = mn_recurrent_create(MN_LSTM, 3, 4, "_l0");
    mn_layer *bi = mn_stack_layer_create(MN_GRU, 3, 4, 0, 1);
    REQUIRE(lin && rec && bi, "layers: %s", mn_last_error());
    refuses_huge_pass(lin, "linear");
    refuses_huge_pass(rec, "lstm");
    refuses_huge_pass(bi, "bidirectional gru");
    mn_layer_destroy(lin);
    mn_layer_destroy(rec);
    mn_layer_destroy(bi);
}

/* ------------------------------------------------- other silent failures */

/* Orthogonal init used to leave the block as it was (uniform) when its double scratch
 * could not be allocated, and recurrent_init ignored the status. */
TEST(failures_orthogonal_init_without_memory) {
    static const int shapes[][2] = {{12, 12}, {20, 8}, {6, 15}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int rows = shapes[s][0], cols = shapes[s][1];
        float w[20 * 20], ref[20 * 20];
        mn_rng r1, r2;
        mn_rng_seed(&r1, 4);
        mn_rng_seed(&r2, 4);
        REQUIRE_OK(mn_init_orthogonal(ref, rows, cols, 0.5f, &r1));
        for (int i = 0; i < rows * cols; i++) w[i] = 7.0f;
        mn_clear_error();
        mn_test_fail_allocs_after(0);
        mn_status st = mn_init_orthogonal(w, rows, cols, 0.5f, &r2);
        mn_test_fail_allocs_after(-1);
        CHECK(st == MN_OK && mn_last_error()[0] == 0, "%dx%d: status %d, message \"%s\"", rows,
              cols, (int)st, mn_last_error());
        CHECK(max_rel(w, ref, (size_t)rows * cols) < 1e-5,
              "%dx%d: in place differs from the double version by %g", rows, cols,
              max_rel(w, ref, (size_t)rows * cols));
        CHECK(memcmp(&r1, &r2, sizeof r1) == 0, "%dx%d: a different number of draws", rows, cols);
    }
}

/* mn_task_create did not record its seed, so every task's held-out set was the one of
 * seed 0 whatever seed was given. */
TEST(failures_heldout_set_follows_the_task_seed) {
    mn_task *t1 = NULL, *t1b = NULL, *t2 = NULL;
    mn_model *m = NULL;
    mn_model_config c;
    REQUIRE_OK(mn_task_create("adding", 10, 1, &t1));
    REQUIRE_OK(mn_task_create("adding", 10, 1, &t1b));
    REQUIRE_OK(mn_task_create("adding", 10, 2, &t2));
    mn_model_config_init(&c);
    mn_task_configure_model(t1, &c);
    c.hidden_size = 8;
    REQUIRE_OK(mn_model_create(&c, 1, &m));
    mn_eval_stats a, b, d;
    REQUIRE_OK(mn_evaluate(m, t1, 16, 8, &a));
    REQUIRE_OK(mn_evaluate(m, t1b, 16, 8, &b));
    REQUIRE_OK(mn_evaluate(m, t2, 16, 8, &d));
    CHECK(a.loss == b.loss, "the same seed gave test losses %.9g and %.9g", a.loss, b.loss);
    CHECK(a.loss != d.loss, "seeds 1 and 2 gave the same held-out set (test loss %.9g)", a.loss);
    mn_model_free(m);
    mn_task_free(t1);
    mn_task_free(t1b);
    mn_task_free(t2);
}

/* Metadata past the writer's table used to be dropped without a word. */
TEST(failures_save_refuses_metadata_it_cannot_hold) {
    char dir[512], path[600];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "failures"), "tmpdir");
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    mn_model_config c;
    mn_model_config_init(&c);
    c.hidden_size = 4;
    mn_model *m = NULL;
    REQUIRE_OK(mn_model_create(&c, 1, &m));
    static char keys[40][24];
    const char *extra[2 * 40 + 1];
    for (int i = 0; i < 40; i++) {
        snprintf(keys[i], sizeof keys[i], "note.%d", i);
        extra[2 * i] = keys[i];
        extra[2 * i + 1] = "x";
    }
    extra[80] = NULL;
    mn_clear_error();
    mn_status st = mn_model_save(m, path, extra);
    CHECK(st == MN_E_ARG && mn_last_error()[0], "40 extra pairs: status %d (%s)", (int)st,
          mn_last_error());
    FILE *f = fopen(path, "rb");
    CHECK(!f, "a refused save wrote the file");
    if (f) fclose(f);
    extra[2 * 10] = NULL;   /* 10 pairs fit */
    CHECK_OK(mn_model_save(m, path, extra));
    remove(path);
    rmdir(dir);
    mn_model_free(m);
}

/* An unknown model.recurrent_init in a file was ignored (and its message left behind). */
TEST(failures_load_refuses_unknown_recurrent_init) {
    char dir[512], path[600], bad[600];
    REQUIRE(mn_test_tmpdir(dir, sizeof dir, "failures"), "tmpdir");
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    mn_model_config c;
    mn_model_config_init(&c);
    c.hidden_size = 4;
    mn_model *m = NULL, *back = NULL;
    REQUIRE_OK(mn_model_create(&c, 1, &m));
    REQUIRE_OK(mn_model_save(m, path, NULL));
    mn_st_file *f = NULL;
    REQUIRE_OK(mn_st_read(path, &f));
    const char *meta[2 * 64 + 1];
    int n = 0;
    for (int i = 0; i < mn_st_meta_count(f) && n < 2 * 64; i++) {
        const char *k, *v;
        mn_st_meta_at(f, i, &k, &v);
        meta[n++] = k;
        meta[n++] = strcmp(k, "model.recurrent_init") ? v : "bogus";
    }
    meta[n] = NULL;
    mn_st_entry e[16];
    int ne = 0;
    for (int i = 0; i < mn_st_count(f) && ne < 16; i++, ne++) {
        const mn_st_tensor *t = mn_st_at(f, i);
        e[ne] = (mn_st_entry){t->name, t->dtype, t->ndim, t->shape, t->data};
    }
    REQUIRE_OK(mn_st_write(bad, e, ne, meta));
    mn_st_free(f);
    REQUIRE_OK(mn_model_load(path, &back));   /* the original loads */
    mn_model_free(back);
    back = NULL;
    mn_status st = mn_model_load(bad, &back);
    CHECK(st == MN_E_INPUT && strstr(mn_last_error(), "recurrent_init"),
          "a file with recurrent_init \"bogus\" loaded: status %d (%s)", (int)st, mn_last_error());
    mn_model_free(back);
    mn_model_free(m);
    remove(path);
    remove(bad);
    rmdir(dir);
}

/* A state carried from a pass of one batch into a pass of another used to be replaced by
 * zeros without a word. */
TEST(failures_carried_state_of_another_batch_refused) {
    mn_layer *l = mn_recurrent_create(MN_GRU, 3, 4, "");
    REQUIRE(l, "layer: %s", mn_last_error());
    float *p = calloc(l->param_count, 4), *g = calloc(l->param_count, 4);
    float x[2 * 3 * 3], y[2 * 3 * 4];
    REQUIRE(p && g, "calloc");
    l->params = p;
    l->grads = g;
    mn_rng r;
    mn_rng_seed(&r, 1);
    mn_init_config ic = {MN_INIT_UNIFORM, 1.0f, 1.0f, 0};
    l->ops->init(l, &r, &ic);
    fill(x, sizeof x / 4, &r);
    REQUIRE_OK(l->ops->forward(l, x, y, 2, 2, NULL));
    REQUIRE_OK(l->ops->carry_state(l));
    REQUIRE_OK(l->ops->forward(l, x, y, 2, 2, NULL));   /* same batch: carried */
    REQUIRE_OK(l->ops->carry_state(l));
    mn_clear_error();
    mn_status st = l->ops->forward(l, x, y, 2, 3, NULL);
    CHECK(st == MN_E_STATE && mn_last_error()[0], "a state of 2 sequences carried into a pass of "
          "3 gave status %d (%s)", (int)st, mn_last_error());
    l->ops->reset_state(l);
    CHECK_OK(l->ops->forward(l, x, y, 2, 3, NULL));      /* from zero: fine */
    mn_layer_destroy(l);
    free(p);
    free(g);
}
