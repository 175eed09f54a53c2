/* `--model transformer | tcn | s4d | mamba`: options and the block spec they write (see
 * families.h). */
#include "families.h"

#include <string.h>

static const char *const family_list[] = {"transformer", "tcn", "s4d", "mamba", NULL};
static const char *const positions_names[] = {"sin", "learned", "rope", "none", NULL};
enum { POS_SIN, POS_LEARNED, POS_ROPE, POS_NONE };
static const char *const activation_names[] = {"relu", "gelu", NULL};

/* which family reads each option */
static const struct {
    const char *name;
    unsigned families;   /* 1 << cli_family_kind */
} readers[FAMILY_OPTS] = {
    {"--heads", 1u << FAMILY_TRANSFORMER},     {"--ff", 1u << FAMILY_TRANSFORMER},
    {"--positions", 1u << FAMILY_TRANSFORMER}, {"--causal", 1u << FAMILY_TRANSFORMER},
    {"--activation", 1u << FAMILY_TRANSFORMER}, {"--kernel", 1u << FAMILY_TCN},
    {"--state", 1u << FAMILY_S4D | 1u << FAMILY_MAMBA}, {"--weight-norm", 1u << FAMILY_TCN},
};

/* an option array ending in FAMILY_OPT_SLOTS has room for exactly the table below */
_Static_assert(sizeof((cli_opt[]){FAMILY_OPT_SLOTS}) / sizeof(cli_opt) == FAMILY_OPTS,
               "FAMILY_OPT_SLOTS must hold FAMILY_OPTS rows");

void family_opts_init(cli_family *f) {
    memset(f, 0, sizeof *f);
    f->heads = 4;
    f->positions_name = "sin";
    f->activation_name = "relu";
    f->kernel = 3;
}

int family_opts_table(cli_family *f, cli_opt *opts) {
    const cli_opt o[FAMILY_OPTS] = {
        {"--heads", OPT_INT, &f->heads, "H",
         "transformer: attention heads (--hidden must divide by H)", NULL, "4", 1, 4096, 0, 0,
         0, 0, 0},
        {"--ff", OPT_INT, &f->ff, "F", "transformer: feed-forward inner width", "4 x hidden",
         "512", 1, 65536, 0, 0, 0, 0, 0},
        {"--positions", OPT_STR, &f->positions_name, "P",
         "transformer: sin, learned, rope or none (causal models may do without)", NULL, "rope",
         0, 0, 0, 0, 0, 0, 0},
        {"--causal", OPT_FLAG, &f->causal, NULL,
         "transformer: each step attends only to steps before it (a decoder)", NULL, NULL, 0,
         0, 0, 0, 0, 0, 0},
        {"--activation", OPT_STR, &f->activation_name, "A",
         "transformer: feed-forward activation, relu or gelu", NULL, "gelu", 0, 0, 0, 0, 0, 0,
         0},
        {"--kernel", OPT_INT, &f->kernel, "K",
         "tcn: taps per convolution (receptive field 1+2(K-1)(2^L-1))", NULL, "5", 2, 64, 0, 0,
         0, 0, 0},
        {"--state", OPT_INT, &f->state, "N", "s4d, mamba: state size N per channel",
         "s4d 64, mamba 16", "32", 1, 4096, 0, 0, 0, 0, 0},
        {"--weight-norm", OPT_FLAG, &f->weight_norm, NULL,
         "tcn: weight normalization w = g*v/|v| on each block's two convolutions (Bai et "
         "al.'s TCN; torch.nn.utils.weight_norm's weight_g, weight_v)", NULL, NULL, 0, 0, 0,
         0, 0, 0, 0},
    };
    memcpy(opts, o, sizeof o);
    return FAMILY_OPTS;
}

int family_tcn_layers(int kernel, int64_t T) {
    int L = 1;
    while (L < FAMILY_TCN_MAX_LAYERS && 1 + 2 * (int64_t)(kernel - 1) * ((INT64_C(1) << L) - 1) < T)
        L++;
    return L;
}

const char *family_names(void) { return "transformer, tcn, s4d, mamba"; }

cli_family_kind family_of(const char *model_name) {
    int i = model_name ? cli_choice(model_name, family_list) : -1;
    return i < 0 ? FAMILY_NONE : (cli_family_kind)(i + 1);
}

int family_option_read(const char *opt_name, cli_family_kind kind) {
    for (int r = 0; r < FAMILY_OPTS; r++)
        if (!strcmp(opt_name, readers[r].name)) return (readers[r].families >> kind) & 1u;
    return -1;
}

int family_opts_check(cli_family *f, const cli_opt *opts, int nopts, const char *model_name) {
    char list[64];
    f->kind = family_of(model_name);
    for (int i = 0; i < nopts; i++)
        for (int r = 0; r < FAMILY_OPTS; r++) {
            if (!opts[i].given || strcmp(opts[i].name, readers[r].name) ||
                (readers[r].families & (1u << f->kind)))
                continue;
            return cli_fail("%s shapes %s model; %s", opts[i].name,
                            readers[r].families == (1u << FAMILY_TRANSFORMER) ? "a transformer"
                            : readers[r].families == (1u << FAMILY_TCN) ? "a tcn"
                            : "an s4d or mamba",
                            f->kind ? "drop it" : "use --model with that family (with --blocks, "
                            "write the option on the block: heads=H, kernel=K, weight-norm, "
                            "state=N), or drop it");
        }
    f->positions = cli_choice(f->positions_name, positions_names);
    if (f->positions < 0)
        return cli_fail("unknown --positions \"%s\"; choose one of %s", f->positions_name,
                        cli_join(list, sizeof list, positions_names));
    int act = cli_choice(f->activation_name, activation_names);
    if (act < 0)
        return cli_fail("unknown --activation \"%s\"; choose one of %s", f->activation_name,
                        cli_join(list, sizeof list, activation_names));
    f->gelu = act == 1;
    if (f->kind == FAMILY_TRANSFORMER && f->positions == POS_NONE && !f->causal)
        return cli_fail("--positions none leaves a bidirectional Transformer blind to order "
                        "(attention without positions treats a sequence as a set); give "
                        "--positions sin, learned or rope, or --causal");
    if (f->state % 2 && f->kind == FAMILY_S4D)
        return cli_fail("--state %d: S4D's state holds N/2 complex conjugate pairs, so N must be "
                        "even", f->state);
    if (f->state % 2 && f->kind == FAMILY_MAMBA)
        return cli_fail("--state %d: a mamba block takes an even state size from 2 to 4096 (one "
                        "rule for every state-space block), e.g. --state %d", f->state,
                        f->state + 1);
    return 0;
}

int family_spec(const cli_family *f, int layers, int width, int input_size, mn_norm_place norm,
                mn_norm_kind norm_kind, int max_len, int final_norm, char *spec, size_t cap) {
    if (f->kind == FAMILY_TRANSFORMER && width % f->heads)
        return cli_fail("--hidden %d does not split into %d heads; choose --heads dividing %d "
                        "(e.g. %d)", width, f->heads, width, width % 4 ? 1 : 4);
    if (f->kind == FAMILY_TRANSFORMER && f->positions == POS_ROPE && (width / f->heads) % 2)
        return cli_fail("--positions rope rotates pairs of features, and a head of %d "
                        "features (--hidden %d / --heads %d) is odd; make it even",
                        width / f->heads, width, f->heads);
    if (f->kind == FAMILY_TCN && layers > FAMILY_TCN_MAX_LAYERS)
        return cli_fail("--layers %d: a TCN's dilations 1, 2, 4, ... would reach 2^%d, and a "
                        "block's dilation is at most 2^%d; use at most %d layers", layers,
                        layers - 1, FAMILY_TCN_MAX_LAYERS - 1, FAMILY_TCN_MAX_LAYERS);
    char wrap[48] = "";
    if (norm != MN_NORM_NONE)
        snprintf(wrap, sizeof wrap, ":%s:%s", norm == MN_NORM_PRE ? "pre" : "post",
                 norm_kind == MN_NORM_RMSNORM ? "rmsnorm" : "layernorm");
    size_t n = 0;
#define ADD(...)                                                                             \
    do {                                                                                     \
        if (n < cap) n += (size_t)snprintf(spec + n, cap - n, __VA_ARGS__);                 \
    } while (0)
    if (input_size > 0 && f->kind != FAMILY_TCN) ADD("linear:%d,", width);
    if (f->kind == FAMILY_TRANSFORMER && f->positions == POS_SIN) ADD("sin-positions,");
    if (f->kind == FAMILY_TRANSFORMER && f->positions == POS_LEARNED)
        ADD("learned-positions:max-len=%d,", max_len);
    char state[24] = "";
    if (f->state > 0) snprintf(state, sizeof state, ":state=%d", f->state);
    for (int k = 0; k < layers; k++) {
        const char *sep = k ? "," : "";
        switch (f->kind) {
        case FAMILY_TRANSFORMER:
            ADD("%sattention:heads=%d%s%s:residual%s,ff%s:%d:residual%s", sep, f->heads,
                f->causal ? ":causal" : "", f->positions == POS_ROPE ? ":rope" : "", wrap,
                f->gelu ? "-gelu" : "", f->ff > 0 ? f->ff : 4 * width, wrap);
            break;
        case FAMILY_TCN:
            ADD("%stcn:%d:kernel=%d:dilation=%d%s", sep, width, f->kernel, 1 << k,
                f->weight_norm ? ":weight-norm" : "");
            break;
        case FAMILY_S4D:
        case FAMILY_MAMBA:
            ADD("%s%s%s:residual%s", sep, f->kind == FAMILY_S4D ? "s4d" : "mamba", state, wrap);
            break;
        default:
            break;
        }
    }
    if (final_norm) ADD(",%s", norm_kind == MN_NORM_RMSNORM ? "rmsnorm" : "layernorm");
#undef ADD
    if (n >= cap) return cli_fail("the model's block list is too long; use fewer --layers");
    return 0;
}

int family_parse_cell(const char *model_name, mn_cell_kind *cell) {
    if (mn_cell_parse(model_name, cell) == MN_OK) return 0;
    return cli_fail("unknown model \"%s\"; choose one of %s, %s", model_name, cli_cell_list(),
                    family_names());
}

int family_seq2seq_spec(const cli_family *f, int layers, int width, mn_norm_place norm,
                        mn_norm_kind norm_kind, int max_len, int final_norm, char *spec,
                        size_t cap, int *encoder_blocks) {
    if (f->kind != FAMILY_TRANSFORMER)
        return cli_fail("this task maps a source sequence to a target sequence, which takes an "
                        "encoder-decoder: use --model transformer");
    if (f->causal)
        return cli_fail("--causal: an encoder-decoder's decoder is causal already and its "
                        "encoder reads the whole source; drop --causal");
    if (family_spec(f, layers, width, 0, norm, norm_kind, max_len, final_norm, spec, cap))
        return CLI_EXIT_USAGE;
    int blocks = 1;
    for (const char *p = spec; *p; p++) blocks += *p == ',';
    *encoder_blocks = blocks;
    /* the decoder: positions, then per layer causal self-attention, cross-attention and the
     * feed-forward block (torch.nn.TransformerDecoderLayer), and the same final norm */
    char wrap[48] = "";
    if (norm != MN_NORM_NONE)
        snprintf(wrap, sizeof wrap, ":%s:%s", norm == MN_NORM_PRE ? "pre" : "post",
                 norm_kind == MN_NORM_RMSNORM ? "rmsnorm" : "layernorm");
    size_t n = strlen(spec);
#define ADD(...)                                                                             \
    do {                                                                                     \
        if (n < cap) n += (size_t)snprintf(spec + n, cap - n, __VA_ARGS__);                 \
    } while (0)
    if (f->positions == POS_SIN) ADD(",sin-positions");
    if (f->positions == POS_LEARNED) ADD(",learned-positions:max-len=%d", max_len);
    for (int k = 0; k < layers; k++)
        ADD(",attention:heads=%d:causal%s:residual%s,cross-attention:heads=%d:residual%s,"
            "ff%s:%d:residual%s", f->heads, f->positions == POS_ROPE ? ":rope" : "", wrap,
            f->heads, wrap, f->gelu ? "-gelu" : "", f->ff > 0 ? f->ff : 4 * width, wrap);
    if (final_norm) ADD(",%s", norm_kind == MN_NORM_RMSNORM ? "rmsnorm" : "layernorm");
#undef ADD
    if (n >= cap) return cli_fail("the model's block list is too long; use fewer --layers");
    return 0;
}

const char *family_model_list(void) {
    static char buf[192];
    if (!buf[0]) snprintf(buf, sizeof buf, "%s, %s", cli_cell_list(), family_names());
    return buf;
}

void family_blocks_help(FILE *f) {
    fprintf(f, "Block kinds (--blocks): %s.\n"
            "Block options: residual, bidirectional, pre, post, layernorm, rmsnorm, dropout=P;\n"
            "rnn, rnn-relu, lstm, gru, gated: nobias; lstm: proj=P (PyTorch's proj_size);\n"
            "attention: heads=H, causal, rope; learned-positions: max-len=N; conv, tcn:\n"
            "kernel=K, dilation=D; tcn: weight-norm; s4d, mamba: state=N, init=lin|inv|real.\n",
            mn_layer_kind_names());
}
