"""mnemo.Model: create, train (on NumPy arrays or a built-in task), evaluate, predict,
save and load a sequence model of libmnemo."""

import ctypes
import math
from ctypes import byref, c_char_p, c_int, c_void_p

import numpy as np

from . import _data as D
from . import _structs as S
from ._lib import call, lock, plain, text
from ._util import INITS, INT_MAX, LOSSES, OUTPUTS, c_path, cell_kind, check_float, \
    check_int, choice, name_of
from .errors import ArgumentError, StateError
from .training import Training


class Model(Training):
    """A sequence model: input (dense features or tokens) -> blocks -> linear head -> loss.

    Model(cell="lstm", hidden=128, layers=1, *, input_size=None, output_size=None,
          vocab_size=0, embed_size=0, loss=None, output=None, blocks=None,
          bidirectional=False, init="uniform", init_gain=1.0, forget_bias=None,
          chrono=None, seed=1)

    cell: "rnn", "rnn-relu", "lstm", "gru" or "gated": a stack of `layers` recurrent
        layers of `hidden` units (PyTorch's nn.RNN / nn.LSTM / nn.GRU).
    blocks: instead, a block spec as the CLI's --blocks reads it (mn_blocks_parse), e.g.
        "lstm:64,lstm:64:residual:pre" or "attention:heads=4:causal:residual"; blocks
        written without a width take `hidden`.
    input_size / vocab_size: features per step of dense input x[N,T,I], or the vocabulary
        of token input x[N,T] (vocab_size > 0). output_size: the head's width (classes for
        "ce"). loss: "mse" or "ce"; output: "last" (one output per sequence, at its last
        real step) or "every" (at every step). Each left as None is taken from the first
        training data (fit: from x and y; fit_task: from the task).
    init: recurrent weights W_hh, "uniform" (PyTorch's U(+-1/sqrt(H))), "orthogonal" or
        "identity" (scaled by init_gain).
    chrono: chrono init of the keep-gate biases (LSTM's f, GRU's z), b ~ log U[1, T_max-1].
        None (the default, as the CLI's): on, with T_max the length of the first training
        sequences, unless forget_bias is given; an int > 1 sets T_max; False turns it off.
    forget_bias: LSTM's forget-gate bias (default 1, read when chrono init is off).
    seed: the weights' seed; fit and fit_task also use it for the data unless given one.

    The weights are drawn when first needed: by fit / fit_task, or by predict, evaluate,
    save or parameters before any training (then with chrono init only when chrono is an
    int). One Model owns its C model; close() (or `with`) frees it at once.
    """

    def __init__(self, cell="lstm", hidden=128, layers=1, *, input_size=None,
                 output_size=None, vocab_size=0, embed_size=0, loss=None, output=None,
                 blocks=None, bidirectional=False, init="uniform", init_gain=1.0,
                 forget_bias=None, chrono=None, seed=1):
        self._m = None
        self._trainer = None
        self._task = None
        self._last_fit = None
        self.seed = check_int(seed, "seed", 0, 2 ** 64 - 1)
        self._cell = cell_kind(cell)
        self._hidden = check_int(hidden, "hidden", 1, 65536)
        self._layers = check_int(layers, "layers", 1, 64)
        self._input_size = None if input_size is None else check_int(input_size, "input_size", 1,
                                                                 INT_MAX)
        self._output_size = None if output_size is None else check_int(output_size, "output_size",
                                                                  1, INT_MAX)
        self._vocab = check_int(vocab_size, "vocab_size", 0, INT_MAX)
        if self._vocab and self._input_size is not None:
            raise ArgumentError("input_size is for dense features and vocab_size for tokens; "
                                "give one of them")
        self._embed = check_int(embed_size, "embed_size", 0, 65536)
        self._loss = None if loss is None else choice(loss, LOSSES, "loss")
        self._output = None if output is None else choice(output, OUTPUTS, "output")
        if blocks is not None and not isinstance(blocks, str):
            raise ArgumentError("blocks must be a spec string such as \"lstm:64,lstm:64:residual\"")
        self._blocks = blocks
        self._bidir = 1 if bidirectional else 0
        self._init = choice(init, INITS, "init")
        self._init_gain = check_float(init_gain, "init_gain")
        self._forget_bias = None if forget_bias is None else check_float(forget_bias, "forget_bias")
        if chrono is True and forget_bias is not None:
            raise ArgumentError("chrono init draws the forget-gate biases, and forget_bias %g "
                                "sets them; give one of them" % self._forget_bias)
        if chrono not in (None, True, False):
            chrono = check_int(chrono, "chrono", 2, INT_MAX)
        self._chrono = chrono

    # ------------------------------------------------------------ building

    @classmethod
    def _wrap(cls, handle):
        """A Model around a C model that has been created or loaded."""
        self = cls.__new__(cls)
        self._m, self._trainer, self._task, self._last_fit = handle, None, None, None
        cfg = self._cfg()
        self._cell, self._hidden, self._layers = cfg.cell, cfg.hidden_size, cfg.num_layers
        self._input_size = cfg.input_size if cfg.vocab_size == 0 else None
        self._output_size, self._vocab, self._embed = cfg.output_size, cfg.vocab_size, cfg.embed_size
        self._loss, self._output = cfg.loss, cfg.output
        self._blocks, self._bidir = None, cfg.bidirectional
        self._init, self._init_gain = cfg.recurrent_init, cfg.init_gain
        self._forget_bias, self._chrono = cfg.forget_bias, cfg.chrono_tmax or False
        seed = plain("mn_model_metadata", handle, b"seed")
        try:
            self.seed = int(text(seed)) if seed else 1
        except ValueError:
            self.seed = 1
        return self

    def _chrono_tmax(self, T):
        if self._chrono is False:
            return 0
        if self._chrono is None:
            return T if (T and self._forget_bias is None) else 0
        if self._chrono is True:
            if not T:
                raise ArgumentError("chrono=True takes T_max from the training sequences, and "
                                    "this model is being built before any training; give "
                                    "chrono=T_MAX (an int) or train it first")
            return T
        return self._chrono

    def _build(self, T=None, task=None, inp=None, tgt=None):
        cfg = S.ModelConfig()
        plain("mn_model_config_init", byref(cfg))
        if task is not None:
            plain("mn_task_configure_model", task, byref(cfg))
            info = plain("mn_task_get_info", task).contents
            for mine, theirs, what in ((self._input_size, info.input_size, "input_size"),
                                       (self._output_size, info.output_size, "output_size"),
                                       (self._loss, info.loss, "loss"),
                                       (self._output, info.output, "output")):
                if mine is not None and mine != theirs:
                    raise ArgumentError("task %s has %s %s and the model was given %s" % (
                        text(info.name), what, self._show(what, theirs), self._show(what, mine)))
        else:
            cfg.input_size = inp.I if inp is not None else (self._input_size or 0)
            cfg.vocab_size = self._vocab
            out = tgt.O if tgt is not None else self._output_size
            if out is None:
                raise ArgumentError("the model's output_size is unknown: give output_size, or "
                                    "train it first (fit takes it from y)")
            if cfg.input_size == 0 and self._vocab == 0:
                raise ArgumentError("the model's input_size is unknown: give input_size (or "
                                    "vocab_size), or train it first (fit takes it from x)")
            cfg.output_size = out
            cfg.loss = tgt.loss if tgt is not None else (self._loss or D.MSE)
            cfg.output = tgt.output if tgt is not None else (self._output or D.LAST)
        cfg.cell = self._cell
        cfg.hidden_size = self._hidden
        cfg.num_layers = self._layers
        cfg.bidirectional = self._bidir
        cfg.embed_size = self._embed
        cfg.recurrent_init = self._init
        cfg.init_gain = self._init_gain
        if self._forget_bias is not None:
            cfg.forget_bias = self._forget_bias
        cfg.chrono_tmax = self._chrono_tmax(T)
        if self._blocks is not None:
            call("mn_blocks_parse", self._blocks.encode(), byref(cfg))
        m = c_void_p()
        call("mn_model_create", byref(cfg), self.seed, byref(m))
        self._m = m
        got = self._cfg()
        self._input_size = got.input_size if got.vocab_size == 0 else None
        self._output_size, self._loss, self._output = got.output_size, got.loss, got.output

    @staticmethod
    def _show(what, v):
        if what == "loss":
            return '"%s"' % name_of(LOSSES, v)
        if what == "output":
            return '"%s"' % name_of(OUTPUTS, v)
        return str(v)

    def _handle(self, inp=None, tgt=None):
        """The C model, built now (without training data) if it is not yet."""
        if self._m is None:
            if tgt is None and self._output_size is None:
                raise ArgumentError("the model's output_size is unknown: give output_size, or "
                                    "train it first (fit takes it from y)")
            if tgt is None and self._loss is None:
                self._loss = D.MSE
            self._build(None, inp=inp, tgt=tgt)
        return self._m

    def _cfg(self):
        if self._m is None:
            raise StateError("the model has no weights yet (it is built by fit, fit_task, or "
                             "when sizes are known)")
        return plain("mn_model_get_config", self._m).contents

    def _inputs(self, x, lengths):
        return D.Inputs(x, lengths, None if self._vocab else self._input_size, self._vocab)

    # ------------------------------------------------------------ properties

    @property
    def built(self):
        """True once the weights exist."""
        return self._m is not None

    @property
    def param_count(self):
        return int(plain("mn_model_param_count", self._handle()))

    @property
    def config(self):
        """The model's configuration as a dict (builds it if needed)."""
        self._handle()
        c = self._cfg()
        buf = ctypes.create_string_buffer(64 * 64)
        n = plain("mn_blocks_format", byref(c), buf, len(buf))
        if n >= len(buf):
            buf = ctypes.create_string_buffer(n + 1)
            plain("mn_blocks_format", byref(c), buf, len(buf))
        return {"cell": text(plain("mn_cell_name", c.cell)), "hidden": c.hidden_size,
                "layers": c.num_layers, "bidirectional": bool(c.bidirectional),
                "input_size": c.input_size, "vocab_size": c.vocab_size,
                "embed_size": c.embed_size, "output_size": c.output_size,
                "loss": name_of(LOSSES, c.loss), "output": name_of(OUTPUTS, c.output),
                "init": name_of(INITS, c.recurrent_init), "init_gain": c.init_gain,
                "forget_bias": c.forget_bias, "chrono_tmax": c.chrono_tmax,
                "blocks": text(buf.value), "params": self.param_count}

    def __repr__(self):
        if self._m is None:
            return "<mnemo.Model %s, hidden %d (no weights yet)>" % (
                self._blocks or text(plain("mn_cell_name", self._cell)), self._hidden)
        c = self.config
        return "<mnemo.Model %s, %d inputs -> %d outputs (%s, %s), %d parameters>" % (
            c["blocks"], c["vocab_size"] or c["input_size"], c["output_size"], c["loss"],
            c["output"], c["params"])

    def predict(self, x, lengths=None, *, batch=256):
        """The model's output for x ([N,T,I] floats, or [N,T] tokens), every sequence from
        a zero state: [N,O] for output "last" (at each sequence's last real step), [N,T,O]
        for "every" (rows past a sequence's length mean nothing). Logits for "ce".
        NaN inputs give NaN outputs, as in PyTorch."""
        batch = check_int(batch, "batch", 1, 1 << 24)
        inp = self._inputs(x, lengths)
        m = self._handle(inp)
        c = self._cfg()
        O, every = c.output_size, c.output == D.EVERY
        out = np.empty((inp.N, inp.T, O) if every else (inp.N, O), dtype=np.float32)
        res = ctypes.POINTER(ctypes.c_float)()
        for i0 in range(0, inp.N, batch):
            i1 = min(inp.N, i0 + batch)
            bv = D.BatchView(inp, i0, i1, O, c.loss, c.output)
            with lock:   # the output is valid until the next call on the model
                call("mn_model_forward", m, byref(bv.batch), byref(res))
                if every:
                    y = np.ctypeslib.as_array(res, shape=(inp.T, bv.B, O))
                    out[i0:i1] = y.transpose(1, 0, 2)
                else:
                    out[i0:i1] = np.ctypeslib.as_array(res, shape=(bv.B, O))
        return out

    def diagnose(self, x, y, lengths=None, **options):
        """How the training signal travels back through time on these sequences, as
        `mnemo diagnose` measures it; see mnemo.diagnose.diagnose for the options and the
        dict it returns."""
        from .diagnose import diagnose
        return diagnose(self, x, y, lengths, **options)

    # ------------------------------------------------------------ weights and files

    def parameters(self):
        """The named parameter tensors (PyTorch state-dict names and layouts, e.g.
        "rnn.weight_ih_l0"), as a dict of NumPy copies."""
        m = self._handle()
        out = {}
        with lock:
            for i in range(plain("mn_model_tensor_count", m)):
                name, ndim = c_char_p(), c_int()
                shape = ctypes.POINTER(c_int)()
                data, grad = ctypes.POINTER(ctypes.c_float)(), ctypes.POINTER(ctypes.c_float)()
                call("mn_model_tensor", m, i, byref(name), byref(ndim), byref(shape),
                     byref(data), byref(grad))
                dims = tuple(shape[k] for k in range(ndim.value))
                n = math.prod(dims)
                arr = np.ctypeslib.as_array(data, shape=(n,)).copy() if n else \
                    np.empty(0, np.float32)
                out[text(name.value)] = arr.reshape(dims)
        return out

    def save(self, path, metadata=None):
        """Save as safetensors (atomically), PyTorch names and layouts; mnemo.load(path),
        the CLI and C programs read it back. metadata: extra {"key": "value"} strings."""
        m = self._handle()
        meta = {"seed": str(self.seed)}
        for k, v in (metadata or {}).items():
            if not isinstance(k, str) or not isinstance(v, str) or "\0" in k + v:
                raise ArgumentError("metadata keys and values must be strings (without NUL)")
            meta[k] = v
        flat = []
        for k, v in meta.items():
            flat += [k.encode(), v.encode()]
        arr = (c_char_p * (len(flat) + 1))(*flat, None)
        call("mn_model_save", m, c_path(path), arr)

    def metadata(self, key):
        """A metadata value of the file this model was loaded from (None when absent)."""
        v = plain("mn_model_metadata", self._handle(), key.encode())
        return text(v) if v else None

    def close(self):
        """Free the C model (and the last fit's trainer and data) now."""
        try:
            self._free_training()
            if self._m is not None:
                plain("mn_model_free", self._m)
                self._m = None
        except Exception:   # interpreter shutdown: the library may be gone already
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_m", None) is not None or getattr(self, "_trainer", None) is not None:
            self.close()


def load(path):
    """A Model from a file written by Model.save, `mnemo train --save` or mn_model_save
    (the file alone rebuilds it)."""
    m = c_void_p()
    call("mn_model_load", c_path(path), byref(m))
    return Model._wrap(m)

