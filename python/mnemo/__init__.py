"""mnemo from Python: NumPy arrays in and out of libmnemo (through ctypes; no compiler).

    import numpy as np, mnemo
    m = mnemo.Model(cell="lstm", hidden=32)
    hist = m.fit(x, y, lengths, steps=500, heldout=100)    # x [N,T,I], y [N,O]
    print(hist["test_loss"], hist["baseline_loss"])
    p = m.predict(x_new)                                   # [N,O]
    m.save("model.safetensors");  m2 = mnemo.load("model.safetensors")

The library is found through MNEMO_LIBRARY, the build tree, or an installed libmnemo
(see mnemo._lib). Every failing call raises a mnemo.Error subclass carrying mnemo's
message. Calls into the library are serialized by one lock: threads may share it.
"""

from . import _lib
from .errors import (ArgumentError, Error, FileError, InputError, MirrorError, NumericError,
                     OutOfMemoryError, StateError, StoppedError)
from .model import Model, load

__version__ = _lib.text(_lib.lib.mn_version())
library_path = _lib.path


def version():
    """The loaded library's version ("0.1.0")."""
    return __version__


def set_threads(n):
    """Threads the library's parallel loops use (default: all cores). Results are
    reproducible for a given thread count."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1 or n > 4096:
        raise ArgumentError("threads must be an integer from 1 to 4096, got %r" % (n,))
    _lib.plain("mn_set_threads", n)


def get_threads():
    """Threads the library uses."""
    return int(_lib.plain("mn_get_threads"))


def task_names():
    """The built-in tasks, for Model.fit_task: ["adding", "adding-1997", "copy", ...]."""
    return [s.strip() for s in _lib.text(_lib.plain("mn_task_names")).split(",") if s.strip()]


def layer_kinds():
    """The layer kinds a block spec may name: ["rnn", "rnn-relu", "lstm", ...]."""
    return [s.strip() for s in _lib.text(_lib.plain("mn_layer_kind_names")).split(",")
            if s.strip()]


def memory_in_use():
    """Bytes the library holds now."""
    return int(_lib.plain("mn_memory_in_use"))


__all__ = ["Model", "load", "Error", "ArgumentError", "InputError", "FileError",
           "OutOfMemoryError", "NumericError", "StateError", "StoppedError", "MirrorError",
           "version", "set_threads", "get_threads", "task_names", "layer_kinds",
           "memory_in_use", "library_path"]
