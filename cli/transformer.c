/* `--model transformer` options and the block spec they write (see transformer.h). */
#include "transformer.h"

#include <string.h>

static const char *const positions_names[] = {"sin", "learned", "rope", "none", NULL};
enum { POS_SIN, POS_LEARNED, POS_ROPE, POS_NONE };
static const char *const activation_names[] = {"relu", "gelu", NULL};

void transformer_opts_init(cli_transformer *t) {
    memset(t, 0, sizeof *t);
    t->heads = 4;
    t->positions_name = "sin";
    t->activation_name = "relu";
}

int transformer_opts_table(cli_transformer *t, cli_opt *opts) {
    const cli_opt o[TRANSFORMER_OPTS] = {
        {"--heads", OPT_INT, &t->heads, "H",
         "transformer: attention heads (--hidden must divide by H)", NULL, "4", 1, 4096, 0, 0,
         0, 0, 0},
        {"--ff", OPT_INT, &t->ff, "F", "transformer: feed-forward inner width", "4 x hidden",
         "512", 1, 65536, 0, 0, 0, 0, 0},
        {"--positions", OPT_STR, &t->positions_name, "P",
         "transformer: sin, learned, rope or none (causal models may do without)", NULL, "rope",
         0, 0, 0, 0, 0, 0, 0},
        {"--causal", OPT_FLAG, &t->causal, NULL,
         "transformer: each step attends only to steps before it (a decoder)", NULL, NULL, 0,
         0, 0, 0, 0, 0, 0},
        {"--activation", OPT_STR, &t->activation_name, "A",
         "transformer: feed-forward activation, relu or gelu", NULL, "gelu", 0, 0, 0, 0, 0, 0,
         0},
    };
    memcpy(opts, o, sizeof o);
    return TRANSFORMER_OPTS;
}

int is_transformer(const char *model_name) {
    return model_name && strcmp(model_name, "transformer") == 0;
}

int transformer_opts_check(cli_transformer *t, const cli_opt *opts, int nopts, int transformer) {
    char list[64];
    for (int i = 0; i < nopts; i++) {
        const char *name = opts[i].name;
        if (opts[i].given && !transformer &&
            (!strcmp(name, "--heads") || !strcmp(name, "--ff") || !strcmp(name, "--positions") ||
             !strcmp(name, "--causal") || !strcmp(name, "--activation")))
            return cli_fail("%s shapes a Transformer; add --model transformer, or drop %s", name,
                            name);
    }
    t->positions = cli_choice(t->positions_name, positions_names);
    if (t->positions < 0)
        return cli_fail("unknown --positions \"%s\"; choose one of %s", t->positions_name,
                        cli_join(list, sizeof list, positions_names));
    int act = cli_choice(t->activation_name, activation_names);
    if (act < 0)
        return cli_fail("unknown --activation \"%s\"; choose one of %s", t->activation_name,
                        cli_join(list, sizeof list, activation_names));
    t->gelu = act == 1;
    if (transformer && t->positions == POS_NONE && !t->causal)
        return cli_fail("--positions none leaves a bidirectional Transformer blind to order "
                        "(attention without positions treats a sequence as a set); give "
                        "--positions sin, learned or rope, or --causal");
    return 0;
}

int transformer_spec(const cli_transformer *t, int layers, int d_model, int input_size,
                     mn_norm_place norm, mn_norm_kind norm_kind, int max_len, int final_norm,
                     char *spec, size_t cap) {
    if (d_model % t->heads)
        return cli_fail("--hidden %d does not split into %d heads; choose --heads dividing %d "
                        "(e.g. %d)", d_model, t->heads, d_model, d_model % 4 ? 1 : 4);
    if (t->positions == POS_ROPE && (d_model / t->heads) % 2)
        return cli_fail("--positions rope rotates pairs of features, and a head of %d "
                        "features (--hidden %d / --heads %d) is odd; make it even",
                        d_model / t->heads, d_model, t->heads);
    char wrap[48] = "";
    if (norm != MN_NORM_NONE)
        snprintf(wrap, sizeof wrap, ":%s:%s", norm == MN_NORM_PRE ? "pre" : "post",
                 norm_kind == MN_NORM_RMSNORM ? "rmsnorm" : "layernorm");
    size_t n = 0;
#define ADD(...)                                                                             \
    do {                                                                                     \
        if (n < cap) n += (size_t)snprintf(spec + n, cap - n, __VA_ARGS__);                 \
    } while (0)
    if (input_size > 0) ADD("linear:%d,", d_model);
    if (t->positions == POS_SIN) ADD("sin-positions,");
    if (t->positions == POS_LEARNED) ADD("learned-positions:max-len=%d,", max_len);
    int ff = t->ff > 0 ? t->ff : 4 * d_model;
    for (int k = 0; k < layers; k++)
        ADD("%sattention:heads=%d%s%s:residual%s,ff%s:%d:residual%s", k ? "," : "", t->heads,
            t->causal ? ":causal" : "", t->positions == POS_ROPE ? ":rope" : "", wrap,
            t->gelu ? "-gelu" : "", ff, wrap);
    if (final_norm) ADD(",%s", norm_kind == MN_NORM_RMSNORM ? "rmsnorm" : "layernorm");
#undef ADD
    if (n >= cap) return cli_fail("the Transformer's block list is too long; use fewer --layers");
    return 0;
}
