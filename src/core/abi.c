/* The sizes of the public types, for bindings that mirror them without a compiler. */
#include "core.h"

#include <string.h>

#define SIZE_OF(type) {#type, sizeof(type)}

/* Every struct and enum typedef of mnemo.h (opaque handles have no size to mirror). */
static const struct {
    const char *name;
    size_t size;
} sizes[] = {
    SIZE_OF(mn_status),          SIZE_OF(mn_cell_kind),        SIZE_OF(mn_recurrent_init),
    SIZE_OF(mn_output_mode),     SIZE_OF(mn_loss_kind),        SIZE_OF(mn_norm_place),
    SIZE_OF(mn_ssm_init),        SIZE_OF(mn_norm_kind),        SIZE_OF(mn_block_config),
    SIZE_OF(mn_model_config),    SIZE_OF(mn_cell_info),        SIZE_OF(mn_model_uses),
    SIZE_OF(mn_batch),           SIZE_OF(mn_task_info),        SIZE_OF(mn_arrays),
    SIZE_OF(mn_data_options),
    SIZE_OF(mn_optimizer_kind),  SIZE_OF(mn_schedule_kind),    SIZE_OF(mn_train_config),
    SIZE_OF(mn_step_stats),      SIZE_OF(mn_eval_stats),       SIZE_OF(mn_bench_config),
    SIZE_OF(mn_bench_result),    SIZE_OF(mn_gate_stats),       SIZE_OF(mn_recurrence_stats),
    SIZE_OF(mn_ssm_stats),       SIZE_OF(mn_flow_verdict),     SIZE_OF(mn_fit_verdict),
    SIZE_OF(mn_verdict_input),   SIZE_OF(mn_verdict),          SIZE_OF(mn_attention_stats),
    SIZE_OF(mn_memory_estimate), SIZE_OF(mn_lab_options),      SIZE_OF(mn_lab_number),
    SIZE_OF(mn_lab_result),      SIZE_OF(mn_plot_diagnosis),   SIZE_OF(mn_array_dtype),
    SIZE_OF(mn_array),           SIZE_OF(mn_stack_config),     SIZE_OF(mn_comm),
    SIZE_OF(mn_plot_lines),
};

size_t mn_sizeof(const char *type_name) {
    if (!type_name) return 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (!strcmp(sizes[i].name, type_name)) return sizes[i].size;
    return 0;
}
