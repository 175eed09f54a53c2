/* The table of layer kinds (see registry.h), and the public names derived from it. */
#include "registry.h"
#include "cell.h"

#include <stdio.h>
#include <string.h>

#define KIND(name) &mn_kind_##name,
static const mn_layer_kind *const kinds[] = {
#include "kinds.def"
};
#undef KIND

#define NKINDS ((int)(sizeof kinds / sizeof kinds[0]))

int mn_layer_kind_count(void) { return NKINDS; }

const mn_layer_kind *mn_layer_kind_at(int i) { return i >= 0 && i < NKINDS ? kinds[i] : NULL; }

const mn_layer_kind *mn_layer_kind_find(const char *name) {
    for (int i = 0; name && i < NKINDS; i++)
        if (strcmp(kinds[i]->name, name) == 0) return kinds[i];
    return NULL;
}

const char *mn_layer_kind_names(void) {
    static char list[512];
    if (!list[0]) {
        size_t n = 0;
        for (int i = 0; i < NKINDS && n < sizeof list; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", kinds[i]->name);
    }
    return list;
}

const mn_layer_kind *mn_layer_kind_of_cell(mn_cell_kind cell) {
    for (int i = 0; i < NKINDS; i++)
        if ((kinds[i]->caps & MN_KIND_RECURRENT) && kinds[i]->cell == (int)cell) return kinds[i];
    return NULL;
}

/* The recurrent cells keep their public names: mn_cell_parse and mn_cell_name read them
 * from the kinds, so a new cell needs no second table. */
mn_status mn_cell_parse(const char *name, mn_cell_kind *out) {
    const mn_layer_kind *k = mn_layer_kind_find(name);
    if (k && k->cell >= 0) {
        *out = (mn_cell_kind)k->cell;
        return MN_OK;
    }
    char cells[256] = "";
    size_t n = 0;
    for (int i = 0; i < NKINDS && n < sizeof cells; i++)
        if (kinds[i]->cell >= 0)
            n += (size_t)snprintf(cells + n, sizeof cells - n, "%s%s", n ? ", " : "", kinds[i]->name);
    return mn_fail(MN_E_ARG, "unknown model '%s'; choose one of: %s", name ? name : "", cells);
}

const char *mn_cell_name(mn_cell_kind c) {
    const mn_layer_kind *k = mn_layer_kind_of_cell(c);
    return k ? k->name : "unknown";
}

mn_status mn_cell_describe(mn_cell_kind cell, mn_cell_info *out) {
    const mn_layer_kind *k = mn_layer_kind_of_cell(cell);
    const mn_cell_kernel *kern = mn_cell_kernel_for(cell);
    if (!k || !kern) return mn_fail(MN_E_ARG, "no recurrent cell has the number %d", (int)cell);
    *out = (mn_cell_info){
        .name = k->name, .family = k->family, .gates = kern->gates,
        .has_cell_state = kern->has_cell, .keep_gate = k->keep_gate, .candidate = k->candidate,
    };
    return MN_OK;
}

int64_t mn_kind_history(const mn_layer_kind *k, const mn_block_config *b) {
    if (k->history) return k->history(b);
    return k->caps & (MN_KIND_RECURRENT | MN_KIND_ATTENTION | MN_KIND_STATE) ? -1 : 0;
}
