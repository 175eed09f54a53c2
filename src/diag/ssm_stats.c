/* How far back convolution and state-space blocks remember (mnemo.h, mn_ssm_stats): the
 * receptive field of every block from the registry, and a state-space kind's own decay
 * measures through its ssm_stats hook (S4D: s4d.c; Mamba: mamba.c, whose Δ depends on the
 * input, from a forward over the batch). */
#include "model.h"
#include "registry.h"

#include <stdio.h>
#include <string.h>

/* the block's own field: the steps it reads back (mn_kind_history), and step t itself */
static int64_t field_of(const mn_layer_kind *k, const mn_block_config *b) {
    int64_t h = mn_kind_history(k, b);
    return h < 0 ? MN_FIELD_UNBOUNDED : h + 1;
}

mn_status mn_ssm_stats_measure(mn_model *m, const mn_batch *b, int block, mn_ssm_stats *out,
                               double *half_life_per_channel) {
    memset(out, 0, sizeof *out);
    if (!m || block < 0 || block >= m->L)
        return mn_fail(MN_E_ARG, "block %d does not exist; the model has %d block%s (0..%d)",
                       block, m ? m->L : 0, m && m->L == 1 ? "" : "s", m ? m->L - 1 : -1);
    int64_t total = 1;
    for (int k = 0; k <= block; k++) {
        const mn_layer_kind *kind = mn_layer_kind_find(m->blocks[k].kind);
        if (!kind) return mn_fail(MN_E_STATE, "block %d has no registered kind", k);
        int64_t f = field_of(kind, &m->blocks[k]);
        if (k == block) out->receptive_field = f;
        if (total == MN_FIELD_UNBOUNDED || f == MN_FIELD_UNBOUNDED || f - 1 > INT64_MAX - total)
            total = MN_FIELD_UNBOUNDED;       /* past int64 counts as every step too */
        else
            total += f - 1;
    }
    out->receptive_field_total = total;
    const mn_layer_kind *kind = mn_layer_kind_find(m->blocks[block].kind);
    snprintf(out->kind, sizeof out->kind, "%s", kind->name);
    if (!kind->ssm_stats) return MN_OK;
    /* decays that depend on the input are read from a forward over b */
    mn_status st = b ? mn_model_forward(m, b, NULL) : MN_OK;
    if (!st) st = kind->ssm_stats(m, block, m->layers[block], &m->blocks[block], b, out,
                                   half_life_per_channel);
    if (st) {
        mn_ssm_stats keep = *out;
        memset(out, 0, sizeof *out);
        memcpy(out->kind, keep.kind, sizeof out->kind);
        out->receptive_field = keep.receptive_field;
        out->receptive_field_total = keep.receptive_field_total;
    }
    return st;
}
