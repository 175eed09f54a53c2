"""ctypes mirrors of the public structs of include/mnemo.h that the binding reads or
fills, field for field. Enums are C ints. At import every mirror is checked against the
library's own size of the type (mn_sizeof): see check_mirrors."""

import ctypes
from ctypes import POINTER, c_char, c_char_p, c_double, c_float, c_int, c_int32, c_uint64

from .errors import MirrorError

MAX_BLOCKS = 64
KIND_NAME_MAX = 24
DIAG_SINGULAR = 4
DIAG_MAX_HEADS = 64


class BlockConfig(ctypes.Structure):
    _fields_ = [("kind", c_char * KIND_NAME_MAX), ("width", c_int), ("bidirectional", c_int),
                ("residual", c_int), ("norm", c_int), ("norm_kind", c_int),
                ("dropout", c_float), ("heads", c_int), ("causal", c_int), ("rope", c_int),
                ("max_len", c_int), ("kernel", c_int), ("dilation", c_int), ("state", c_int),
                ("ssm_init", c_int), ("proj", c_int), ("no_bias", c_int),
                ("weight_norm", c_int)]


class ModelConfig(ctypes.Structure):
    _fields_ = [("cell", c_int), ("input_size", c_int), ("vocab_size", c_int),
                ("embed_size", c_int), ("hidden_size", c_int), ("num_layers", c_int),
                ("bidirectional", c_int), ("output_size", c_int), ("output", c_int),
                ("loss", c_int), ("recurrent_init", c_int), ("init_gain", c_float),
                ("forget_bias", c_float), ("chrono_tmax", c_int), ("num_blocks", c_int),
                ("blocks", BlockConfig * MAX_BLOCKS), ("encoder_blocks", c_int)]


class CellInfo(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("family", c_char_p), ("gates", c_int),
                ("has_cell_state", c_int), ("keep_gate", c_char_p), ("candidate", c_char_p)]


class Batch(ctypes.Structure):
    _fields_ = [("T", c_int), ("B", c_int), ("input_size", c_int), ("x", POINTER(c_float)),
                ("tokens", POINTER(c_int32)), ("lengths", POINTER(c_int32)),
                ("output_size", c_int), ("target", POINTER(c_float)),
                ("labels", POINTER(c_int32)), ("S", c_int), ("src_tokens", POINTER(c_int32)),
                ("src_lengths", POINTER(c_int32))]


class TaskInfo(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("length", c_int), ("max_steps", c_int),
                ("input_size", c_int), ("vocab_size", c_int), ("output_size", c_int),
                ("output", c_int), ("loss", c_int), ("baseline_loss", c_double),
                ("baseline_desc", c_char_p), ("has_accuracy", c_int),
                ("accuracy_desc", c_char_p), ("seq2seq", c_int), ("max_source_steps", c_int),
                ("eval_sequences", c_int), ("tokens_per_char", c_double),
                ("tokens_per_byte", c_double), ("data_spec", c_char_p),
                ("baseline_mse", c_double), ("baseline_mae", c_double),
                ("data_state", c_char_p)]


class Arrays(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("sequences", c_int), ("steps", c_int),
                ("input_size", c_int), ("x", POINTER(c_float)), ("vocab_size", c_int),
                ("tokens", POINTER(c_int32)), ("lengths", POINTER(c_int32)), ("loss", c_int),
                ("output", c_int), ("output_size", c_int), ("target", POINTER(c_float)),
                ("labels", POINTER(c_int32)), ("heldout", c_int)]


class TrainConfig(ctypes.Structure):
    _fields_ = [("steps", c_int), ("batch_size", c_int), ("optimizer", c_int),
                ("lr", c_float), ("beta1", c_float), ("beta2", c_float), ("eps", c_float),
                ("weight_decay", c_float), ("momentum", c_float), ("ssm_lr", c_float),
                ("schedule", c_int), ("warmup_steps", c_int), ("min_lr_ratio", c_float),
                ("schedule_steps", c_int), ("clip_norm", c_float), ("clip_value", c_float),
                ("tbptt", c_int), ("seed", c_uint64), ("eval_size", c_int),
                ("max_bad_steps", c_int)]


class StepStats(ctypes.Structure):
    _fields_ = [("step", c_int), ("loss", c_double), ("grad_norm", c_double), ("lr", c_double),
                ("tokens", c_double), ("skipped", c_int)]


class EvalStats(ctypes.Structure):
    _fields_ = [("loss", c_double), ("accuracy", c_double), ("sequences", c_int),
                ("token_accuracy", c_double), ("mse", c_double), ("mae", c_double)]


class GateStats(ctypes.Structure):
    _fields_ = [("units", c_int), ("has_gates", c_int), ("keep_mean", c_double),
                ("half_life_min", c_double), ("half_life_median", c_double),
                ("half_life_mean", c_double), ("half_life_max", c_double),
                ("saturated_gates", c_double), ("saturated_tanh", c_double)]


class RecurrenceStats(ctypes.Structure):
    _fields_ = [("state_size", c_int), ("steps", c_int), ("sequences", c_int),
                ("spectral_radius", c_double), ("singular", c_double * DIAG_SINGULAR),
                ("jacobian_log10_singular", c_double * DIAG_SINGULAR), ("lyapunov", c_double)]


class AttentionStats(ctypes.Structure):
    _fields_ = [("heads", c_int), ("distance", c_double * DIAG_MAX_HEADS),
                ("entropy", c_double * DIAG_MAX_HEADS), ("uniform_entropy", c_double),
                ("queries", c_int)]


class VerdictInput(ctypes.Structure):
    _fields_ = [("grad_norm", POINTER(c_double)), ("T", c_int), ("span", c_int),
                ("threshold", c_double), ("tbptt", c_int), ("train_loss", c_double),
                ("val_loss", c_double), ("baseline_loss", c_double), ("cell", c_int),
                ("recurrent_init", c_int), ("chrono", c_int), ("clip_norm", c_double),
                ("no_recurrence", c_int), ("attention_blocks", c_int),
                ("entropy_ratio", c_double), ("state_space", c_int)]


class Verdict(ctypes.Structure):
    _fields_ = [("flow", c_int), ("fit", c_int), ("horizon", c_int),
                ("flow_reason", c_char * 400), ("fit_reason", c_char * 256),
                ("advice", c_char * 768)]


# The C type each mirror stands for; enums the binding passes as c_int are checked too.
MIRRORS = {
    "mn_block_config": BlockConfig, "mn_model_config": ModelConfig, "mn_cell_info": CellInfo,
    "mn_batch": Batch, "mn_task_info": TaskInfo, "mn_arrays": Arrays,
    "mn_train_config": TrainConfig, "mn_step_stats": StepStats, "mn_eval_stats": EvalStats,
    "mn_gate_stats": GateStats, "mn_recurrence_stats": RecurrenceStats,
    "mn_attention_stats": AttentionStats, "mn_verdict_input": VerdictInput,
    "mn_verdict": Verdict,
    "mn_status": c_int, "mn_cell_kind": c_int, "mn_output_mode": c_int,
    "mn_loss_kind": c_int, "mn_recurrent_init": c_int, "mn_optimizer_kind": c_int,
    "mn_schedule_kind": c_int, "mn_flow_verdict": c_int, "mn_fit_verdict": c_int,
}


def check_mirrors(sizeof, mirrors=None):
    """Compare each mirror's size with sizeof(name) (the library's mn_sizeof). Raises
    MirrorError naming the first type that differs or that the library does not know."""
    for name, mirror in (MIRRORS if mirrors is None else mirrors).items():
        want = sizeof(name)
        have = ctypes.sizeof(mirror)
        if want == 0:
            raise MirrorError("the mnemo library does not know the type %s that the Python "
                              "binding mirrors: the library and the binding come from "
                              "different versions of mnemo" % name)
        if want != have:
            raise MirrorError("%s is %d bytes in the mnemo library and %d in the Python "
                              "binding's mirror: the library was built from another version "
                              "of mnemo.h than python/mnemo; use the binding of the same "
                              "version" % (name, want, have))

