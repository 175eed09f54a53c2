"""Small helpers shared by the modules: option names, checked integers and floats."""

import os
from ctypes import byref, c_int

import numpy as np

from . import _data as D
from ._lib import call
from .errors import ArgumentError

LOSSES = {"mse": D.MSE, "ce": D.CE}
OUTPUTS = {"last": D.LAST, "every": D.EVERY}
INITS = {"uniform": 0, "orthogonal": 1, "identity": 2}
SCHEDULES = {"constant": 0, "cosine": 1}
INT_MAX = 2 ** 31 - 1


def name_of(table, value):
    for k, v in table.items():
        if v == value:
            return k
    return str(value)


def choice(value, table, what):
    if not isinstance(value, str) or value not in table:
        raise ArgumentError('unknown %s "%s"; choose one of %s' % (what, value, ", ".join(table)))
    return table[value]


def check_int(value, name, lo, hi):
    """value as an int in [lo, hi] (ctypes would wrap a larger one silently)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentError("%s must be an integer, got %r" % (name, value))
    v = int(value)
    if v < lo or v > hi:
        raise ArgumentError("%s must be from %d to %d, got %d" % (name, lo, hi, v))
    return v


def check_float(value, name):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ArgumentError("%s must be a number, got %r" % (name, value))


def c_path(path):
    """A file name as C reads it."""
    try:
        p = os.fsencode(path)
    except TypeError:
        raise ArgumentError("a path must be a str or bytes file name, got %r" % (path,))
    if b"\0" in p or not p:
        raise ArgumentError("the path %r is not a file name C can open" % (path,))
    return p


def cell_kind(name):
    if not isinstance(name, str):
        raise ArgumentError("cell must be a name such as \"lstm\", got %r" % (name,))
    k = c_int()
    call("mn_cell_parse", name.encode(), byref(k))
    return k.value


def eval_dict(ev, info=None):
    d = {"loss": ev.loss, "accuracy": None if ev.accuracy < 0 else ev.accuracy,
         "sequences": ev.sequences}
    if info is not None:
        d["baseline_loss"] = info.baseline_loss
    return d

