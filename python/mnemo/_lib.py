"""Finding and loading libmnemo.so, the C prototypes, and one lock around every call.

The library is looked for, in order:
  1. the environment variable MNEMO_LIBRARY: the library file, or a folder holding
     libmnemo.so (when set, nothing else is tried);
  2. the build tree this package sits in: ../../build/libmnemo.so from this folder;
  3. an installed library, by ctypes.util.find_library("mnemo") (make install).
"""

import ctypes
import ctypes.util
import os
import threading
from ctypes import POINTER, byref, c_char_p, c_double, c_float, c_int, c_int32, c_size_t, \
    c_uint64, c_void_p

from . import _structs as S
from .errors import error_for


def _candidates():
    env = os.environ.get("MNEMO_LIBRARY")
    if env:
        path = os.path.join(env, "libmnemo.so") if os.path.isdir(env) else env
        return [("MNEMO_LIBRARY", path)]
    here = os.path.dirname(os.path.abspath(__file__))
    found = [("the build tree", os.path.normpath(os.path.join(here, "..", "..", "build",
                                                              "libmnemo.so")))]
    installed = ctypes.util.find_library("mnemo")
    found.append(('ctypes.util.find_library("mnemo")', installed))
    return found


def _load():
    tried = []
    for where, path in _candidates():
        if not path:
            tried.append("%s: not found" % where)
            continue
        if os.sep in path and not os.path.exists(path):
            tried.append("%s: %s does not exist" % (where, path))
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s: %s: %s" % (where, path, e))
    raise ImportError("mnemo: cannot load libmnemo.so; tried " + "; ".join(tried) +
                      ". Build it (make), install it (make install), or set MNEMO_LIBRARY to "
                      "its path")


lib, path = _load()

# Calls into the library must not overlap (process-wide GEMM scratch), and ctypes
# releases the GIL during a call: one lock serializes them. Reentrant, so a helper that
# calls others while holding it is fine.
lock = threading.RLock()

_P = POINTER
_f32p, _i32p, _f64p = _P(c_float), _P(c_int32), _P(c_double)
_vp = c_void_p
_PROTOTYPES = {
    # name: (restype, argtypes)
    "mn_last_error": (c_char_p, []),
    "mn_version": (c_char_p, []),
    "mn_sizeof": (c_size_t, [c_char_p]),
    "mn_set_threads": (None, [c_int]),
    "mn_get_threads": (c_int, []),
    "mn_memory_in_use": (c_size_t, []),
    "mn_model_config_init": (None, [_P(S.ModelConfig)]),
    "mn_cell_parse": (c_int, [c_char_p, _P(c_int)]),
    "mn_cell_name": (c_char_p, [c_int]),
    "mn_cell_describe": (c_int, [c_int, _P(S.CellInfo)]),
    "mn_layer_kind_names": (c_char_p, []),
    "mn_blocks_parse": (c_int, [c_char_p, _P(S.ModelConfig)]),
    "mn_blocks_format": (c_int, [_P(S.ModelConfig), c_char_p, c_size_t]),
    "mn_model_receptive_field": (ctypes.c_int64, [_P(S.ModelConfig)]),
    "mn_model_create": (c_int, [_P(S.ModelConfig), c_uint64, _P(_vp)]),
    "mn_model_free": (None, [_vp]),
    "mn_model_get_config": (_P(S.ModelConfig), [_vp]),
    "mn_model_param_count": (c_size_t, [_vp]),
    "mn_model_tensor_count": (c_int, [_vp]),
    "mn_model_tensor": (c_int, [_vp, c_int, _P(c_char_p), _P(c_int), _P(_P(c_int)),
                                _P(_f32p), _P(_f32p)]),
    "mn_model_save": (c_int, [_vp, c_char_p, _P(c_char_p)]),
    "mn_model_load": (c_int, [c_char_p, _P(_vp)]),
    "mn_model_metadata": (c_char_p, [_vp, c_char_p]),
    "mn_model_forward": (c_int, [_vp, _P(S.Batch), _P(_f32p)]),
    "mn_model_loss": (c_int, [_vp, _P(S.Batch), _f64p]),
    "mn_model_gradients": (c_int, [_vp, _P(S.Batch), _f64p]),
    "mn_task_names": (c_char_p, []),
    "mn_task_create": (c_int, [c_char_p, c_int, c_uint64, _P(_vp)]),
    "mn_task_free": (None, [_vp]),
    "mn_task_get_info": (_P(S.TaskInfo), [_vp]),
    "mn_task_configure_model": (None, [_vp, _P(S.ModelConfig)]),
    "mn_arrays_init": (None, [_P(S.Arrays)]),
    "mn_task_from_arrays": (c_int, [_P(S.Arrays), c_uint64, _P(_vp)]),
    "mn_train_config_init": (None, [_P(S.TrainConfig)]),
    "mn_optimizer_parse": (c_int, [c_char_p, _P(c_int)]),
    "mn_trainer_create": (c_int, [_vp, _vp, _P(S.TrainConfig), _P(_vp)]),
    "mn_trainer_free": (None, [_vp]),
    "mn_trainer_step": (c_int, [_vp, _P(S.StepStats)]),
    "mn_trainer_evaluate": (c_int, [_vp, _P(S.EvalStats)]),
    "mn_evaluate": (c_int, [_vp, _vp, c_int, c_int, _P(S.EvalStats)]),
    "mn_grad_recorder_attach": (c_int, [_vp, c_int, _P(_vp)]),
    "mn_grad_recorder_detach": (None, [_vp]),
    "mn_grad_recorder_profile": (c_int, [_vp, c_int, _f64p, _f64p]),
    "mn_grad_recorder_input_profile": (c_int, [_vp, c_int, _f64p]),
    "mn_gradient_ratio": (None, [_f64p, c_int, _f64p]),
    "mn_gradient_horizon": (c_int, [_f64p, c_int, c_double]),
    "mn_gate_stats_measure": (c_int, [_vp, _P(S.Batch), c_int, _P(S.GateStats), _f64p, _f64p]),
    "mn_recurrence_measure": (c_int, [_vp, _P(S.Batch), c_int, c_int,
                                      _P(S.RecurrenceStats)]),
    "mn_attention_measure": (c_int, [_vp, _P(S.Batch), c_int, _P(S.AttentionStats)]),
    "mn_flow_name": (c_char_p, [c_int]),
    "mn_fit_name": (c_char_p, [c_int]),
    "mn_diagnose_verdict": (c_int, [_P(S.VerdictInput), _P(S.Verdict)]),
}

for _name, (_res, _args) in _PROTOTYPES.items():
    try:
        _fn = getattr(lib, _name)
    except AttributeError:
        raise ImportError("mnemo: the library %s has no %s: it is older than this Python "
                          "binding; rebuild it (make) from the same version" % (path, _name))
    _fn.restype = _res
    _fn.argtypes = _args

S.check_mirrors(lambda name: lib.mn_sizeof(name.encode()))


def text(b):
    """A C string as str ('' for NULL)."""
    return b.decode("utf-8", "replace") if b else ""


def call(name, *args):
    """Call a function returning mn_status under the lock; a non-OK status raises the
    matching mnemo.Error with the library's message, read on the same thread."""
    with lock:
        status = getattr(lib, name)(*args)
        if status != 0:
            raise error_for(status, text(lib.mn_last_error()))
    return status


def status_of(name, *args):
    """Call a function returning mn_status under the lock; returns (status, message)
    without raising (for statuses the caller expects, such as MN_E_STATE)."""
    with lock:
        status = getattr(lib, name)(*args)
        return status, (text(lib.mn_last_error()) if status else "")


def plain(name, *args):
    """Call a function that cannot fail, under the lock."""
    with lock:
        return getattr(lib, name)(*args)


__all__ = ["lib", "path", "lock", "call", "status_of", "plain", "text", "byref"]
