"""NumPy arrays in: checked in Python (dtype, rank, shape, integer ranges) before any
pointer reaches C, converted to C-contiguous float32 / int32, and laid out as mnemo's
batches ([N,T,...] sequence-first as the caller holds them, [T,B,...] time-first as
mn_batch wants them)."""

import ctypes

import numpy as np

from . import _structs as S
from .errors import ArgumentError, InputError

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
MSE, CE = 0, 1
LAST, EVERY = 0, 1


def _array(a, name):
    try:
        arr = np.asarray(a)
    except Exception as e:   # a ragged list, an object numpy cannot read
        raise ArgumentError("%s: cannot read it as a NumPy array (%s)" % (name, e))
    if arr.dtype.kind not in "biuf":
        raise ArgumentError("%s has dtype %s; mnemo reads numbers (float32 inputs and "
                            "targets, int32 tokens, labels and lengths)" % (name, arr.dtype))
    return arr


def floats(a, name):
    """a as a C-contiguous float32 array (values are converted, not checked: NaN is for
    the library to refuse where it must)."""
    arr = _array(a, name)
    with np.errstate(over="ignore"):   # float64 beyond float32's range becomes inf
        return np.ascontiguousarray(arr, dtype=np.float32)


def ints(a, name, lo=INT32_MIN, hi=INT32_MAX, what=None):
    """a as a C-contiguous int32 array; integers only, every value in [lo, hi]."""
    arr = _array(a, name)
    if arr.dtype.kind == "f":
        raise ArgumentError("%s has dtype %s; it holds integers (%s): convert it with "
                            ".astype(np.int32)" % (name, arr.dtype, what or "int32"))
    if arr.size:
        mn, mx = int(arr.min()), int(arr.max())
        if mn < lo or mx > hi:
            bad = mn if mn < lo else mx
            idx = np.unravel_index(int(np.argmin(arr) if mn < lo else np.argmax(arr)),
                                   arr.shape)
            raise InputError("%s[%s] is %d; %s must be in [%d, %d]" % (
                name, ", ".join(str(int(i)) for i in idx), bad, what or "values", lo, hi))
    return np.ascontiguousarray(arr, dtype=np.int32)


def _dims(arr, name, want, shape_text):
    if arr.ndim != want:
        raise ArgumentError("%s has shape %s; mnemo wants %s" % (name, tuple(arr.shape),
                                                                 shape_text))
    for d in arr.shape:
        if d < 1 or d > INT32_MAX:
            raise ArgumentError("%s has shape %s; every size must be from 1 to %d" % (
                name, tuple(arr.shape), INT32_MAX))


class Inputs:
    """Checked inputs of N sequences of T steps: x [N,T,I] float32 or tokens [N,T] int32,
    lengths [N] int32 (all T when not given)."""

    def __init__(self, x, lengths, input_size=None, vocab_size=0):
        if vocab_size > 0:
            self.tokens = ints(x, "x", 0, vocab_size - 1, "tokens of a vocabulary of %d" %
                               vocab_size)
            _dims(self.tokens, "x", 2, "[N, T] tokens (a model with a vocabulary)")
            self.x = None
            self.N, self.T = self.tokens.shape
            self.I = 0
        else:
            self.x = floats(x, "x")
            _dims(self.x, "x", 3, "[N, T, I]: N sequences of T steps of I features")
            self.tokens = None
            self.N, self.T, self.I = self.x.shape
            if input_size is not None and self.I != input_size:
                raise ArgumentError("x has %d features per step (shape %s); the model reads "
                                    "%d" % (self.I, tuple(self.x.shape), input_size))
        if lengths is None:
            self.lengths = np.full(self.N, self.T, dtype=np.int32)
        else:
            self.lengths = ints(lengths, "lengths", 1, self.T,
                                "lengths of sequences of T=%d steps" % self.T)
            if self.lengths.shape != (self.N,):
                raise ArgumentError("lengths has shape %s; it wants one length per sequence, "
                                    "shape (%d,)" % (tuple(self.lengths.shape), self.N))


class Targets:
    """Checked targets for N sequences of T steps: MSE target [N,O] or [N,T,O] float32
    (a 1-D [N] or 2-D [N,T] array reads as O = 1), or CE labels [N] or [N,T] int32
    (-1: ignore the position)."""

    def __init__(self, y, inp, loss, output, output_size):
        N, T = inp.N, inp.T
        self.loss, self.output = loss, output
        if loss == MSE:
            t = floats(y, "y")
            if output == LAST:
                if t.ndim == 1:
                    t = t.reshape(-1, 1)
                _dims(t, "y", 2, "[N, O]: one target of O values per sequence")
                if t.shape[0] != N:
                    raise ArgumentError("y has %d sequences (shape %s) and x has %d" % (
                        t.shape[0], tuple(t.shape), N))
            else:
                if t.ndim == 2:
                    t = t.reshape(t.shape[0], t.shape[1], 1)
                _dims(t, "y", 3, "[N, T, O]: a target at every step")
                if t.shape[:2] != (N, T):
                    raise ArgumentError("y has shape %s; with output at every step it wants "
                                        "[N, T, O] with N=%d, T=%d as x" % (tuple(t.shape), N, T))
            O = t.shape[-1]
            if output_size is not None and O != output_size:
                raise ArgumentError("y has %d values per target (shape %s); the model has %d "
                                    "outputs" % (O, tuple(t.shape), output_size))
            self.target, self.labels, self.O = t, None, O
        else:
            hi = INT32_MAX if output_size is None else output_size - 1
            lab = ints(y, "y", -1, hi, "class labels (or -1: ignore)" if output_size is None
                       else "class labels of %d classes (or -1: ignore)" % output_size)
            want = (N,) if output == LAST else (N, T)
            if lab.shape != want:
                raise ArgumentError("y has shape %s; cross-entropy %s wants labels of shape "
                                    "%s" % (tuple(lab.shape), "at the last step" if output ==
                                            LAST else "at every step", want))
            O = output_size if output_size is not None else int(lab.max()) + 1
            if O < 1:
                raise ArgumentError("y holds no class label (all -1); give output_size")
            self.target, self.labels, self.O = None, lab, O


def ptr(arr, ctype):
    """A pointer to arr's data (arr must stay referenced while C reads it)."""
    if arr is None:
        return None
    return arr.ctypes.data_as(ctypes.POINTER(ctype))


def arrays_struct(inp, tgt, heldout, vocab_size=0, name=None):
    """An mn_arrays over the checked arrays (which the caller keeps alive)."""
    a = S.Arrays()
    a.name = name.encode() if name else None
    a.sequences, a.steps, a.input_size = inp.N, inp.T, inp.I
    a.x = ptr(inp.x, ctypes.c_float)
    a.vocab_size = vocab_size
    a.tokens = ptr(inp.tokens, ctypes.c_int32)
    a.lengths = ptr(inp.lengths, ctypes.c_int32)
    a.loss, a.output, a.output_size = tgt.loss, tgt.output, tgt.O
    a.target = ptr(tgt.target, ctypes.c_float)
    a.labels = ptr(tgt.labels, ctypes.c_int32)
    a.heldout = heldout
    return a


class BatchView:
    """Sequences [i0, i1) of checked inputs (and targets) as an mn_batch, time-first. The
    object holds the transposed arrays the batch points to. Without targets the batch
    carries placeholders (zeros, or labels -1) that a forward pass requires but never
    reads into its output."""

    def __init__(self, inp, i0, i1, output_size, loss, output, tgt=None):
        B, T = i1 - i0, inp.T
        b = S.Batch()
        b.T, b.B, b.input_size = T, B, inp.I
        self.keep = []
        if inp.x is not None:
            x = np.ascontiguousarray(inp.x[i0:i1].transpose(1, 0, 2))    # [T,B,I]
            b.x = ptr(x, ctypes.c_float)
            self.keep.append(x)
        else:
            tok = np.ascontiguousarray(inp.tokens[i0:i1].T)              # [T,B]
            b.tokens = ptr(tok, ctypes.c_int32)
            self.keep.append(tok)
        lens = np.ascontiguousarray(inp.lengths[i0:i1])
        b.lengths = ptr(lens, ctypes.c_int32)
        self.keep.append(lens)
        b.output_size = output_size
        if loss == MSE:
            if tgt is not None:
                t = tgt.target[i0:i1]
                t = np.ascontiguousarray(t if output == LAST else t.transpose(1, 0, 2))
            else:
                t = np.zeros((B, output_size) if output == LAST else (T, B, output_size),
                             dtype=np.float32)
            b.target = ptr(t, ctypes.c_float)
            self.keep.append(t)
        else:
            if tgt is not None:
                lab = tgt.labels[i0:i1]
                lab = np.ascontiguousarray(lab if output == LAST else lab.T)
            else:
                lab = np.full((B,) if output == LAST else (T, B), -1, dtype=np.int32)
            b.labels = ptr(lab, ctypes.c_int32)
            self.keep.append(lab)
        self.batch = b
        self.B, self.T = B, T
