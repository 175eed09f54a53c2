#!/usr/bin/python3
"""Fixtures of NaN and ±Inf through every registered layer kind (issue 15, item 1).

Run from anywhere with Debian's python3-torch:   /usr/bin/python3 tools/gen_fixtures_nonfinite.py

For each kind of src/layers/kinds.def this writes tests/fixtures/nonfinite/<kind>.safetensors
(attention twice more: causal, and causal with rotary positions): the layer's parameters
under mnemo's names, a finite input `x` [T,B,I] and its output `y`, and for each case c of
the file's `cases` metadata an input `x.<c>` (x with one element replaced by NaN, +Inf or
-Inf; cross-attention also replaces one element of its `memory` [S,B,I]: `memory.<c>`) and
the output `y.<c>` that PyTorch gives, NaN and Inf kept. tests/test_nonfinite.c runs each
kind on the same inputs and requires the same pattern of NaN, +Inf, -Inf and finite values
(and the finite values close).

The outputs come from PyTorch's own module where it has one (nn.RNN tanh and relu, nn.LSTM,
nn.GRU, nn.Linear, nn.LayerNorm, F.multi_head_attention_forward, nn.Conv1d, nn.GELU,
nn.GLU), else from the plain references the other generators keep (tools/gen_fixtures_*.py:
the gated and layer-normalized cells, RMSNorm, the feed-forward, TCN, S4D and Mamba
blocks, positions), all in float64 from float32 parameters and inputs.

Causal attention: PyTorch adds its -inf mask to the scores and multiplies the softmax with
every value, so a NaN at step u turns the outputs of steps before u into NaN too (0·NaN and
NaN + -inf), which no causal computation can depend on. The reference here is PyTorch's
attention on each prefix, y[t] = MHA(x[:t+1])[t] — the same numbers for finite inputs, and
what PyTorch gives when it decodes step by step.

The rnn-relu file is the issue's case: nn.RNN(4, 6, nonlinearity="relu") on [5,3,4] with
one NaN at step 1, 24 NaN outputs (PyTorch); mnemo gave none. The same case for `mnemo
predict` (tests/cli_nonfinite_test.sh): predict_rnn-relu.safetensors (the plain state dict),
predict_rnn-relu_x.npy (x.nan) and predict_rnn-relu_y.npy (y.nan), with numpy.save.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import OUT_DIR as FIXTURES, write_safetensors  # noqa: E402
import gen_fixtures_attention as attn_ref  # noqa: E402
import gen_fixtures_blocks as blocks_ref  # noqa: E402
import gen_fixtures_cells as cells_ref  # noqa: E402
import gen_fixtures_conv as conv_ref  # noqa: E402
import gen_fixtures_mamba as mamba_ref  # noqa: E402

SEED = 20250615
T, B, I, S = 5, 3, 4, 6        # S: cross-attention's memory steps
OUT_DIR = os.path.join(FIXTURES, "nonfinite")
# (case, where: "x" or "memory", step, sequence, feature, value)
X_CASES = [("nan", "x", 1, 1, 2, float("nan")), ("pinf", "x", 2, 0, 0, float("inf")),
           ("ninf", "x", 3, 2, 3, float("-inf"))]
MEM_CASES = [("mem_nan", "memory", 2, 1, 1, float("nan")),
             ("mem_pinf", "memory", 4, 2, 0, float("inf"))]


def module_params(module, prefix=""):
    return {prefix + n: v.detach().clone().float().contiguous()
            for n, v in module.state_dict().items()}


def load(module, p, prefix=""):
    module = module.double()
    with torch.no_grad():
        for n, v in module.named_parameters():
            v.copy_(p[prefix + n])
    return module


# ------------------------------------------------------------------ the kinds
# Each maker returns (block options for the C side, params float32, fn(inputs, p64) -> y),
# inputs a dict with "x" (and "memory") float64.

def recurrent(mode, width):
    def make():
        ctor = {"rnn": lambda: nn.RNN(I, width, nonlinearity="tanh"),
                "rnn-relu": lambda: nn.RNN(I, width, nonlinearity="relu"),
                "lstm": lambda: nn.LSTM(I, width), "gru": lambda: nn.GRU(I, width)}[mode]
        p = module_params(ctor())
        return {"width": width}, p, lambda d, q: load(ctor(), q)(d["x"])[0]
    return make


def cell_loop(cell, width):
    """gen_fixtures_cells' step functions (they read the module's H) over every sequence."""
    def make():
        cells_ref.H = width
        p = {f"{base}_l0" if "." not in base else base.replace(".", "_l0.", 1):
             cell.init(base, shape) if hasattr(cell, "init") else None
             for base, shape in cell.param_shapes(I, width)}

        def fn(d, q):
            cells_ref.H = width
            base = {b: q[f"{b}_l0" if "." not in b else b.replace(".", "_l0.", 1)]
                    for b, _ in cell.param_shapes(I, width)}
            x = d["x"]
            out = torch.zeros(T, B, width, dtype=torch.float64)
            for b in range(B):
                state = tuple(torch.zeros(width, dtype=torch.float64)
                              for _ in range(2 if cell.has_c else 1))
                for t in range(T):
                    state = cell.step(base, x[t, b], state)
                    out[t, b] = state[0]
            return out
        return {"width": width}, p, fn
    return make


def linear():
    m = nn.Linear(I, 5)
    return {"width": 5}, module_params(m), lambda d, q: F.linear(d["x"], q["weight"], q["bias"])


def feedforward(act):
    def make():
        p = {**blocks_ref.linear_params("linear1.", I, 6), **blocks_ref.linear_params("linear2.", 6, I)}
        f = F.relu if act == "relu" else F.gelu
        return {"width": 6}, p, lambda d, q: F.linear(
            f(F.linear(d["x"], q["linear1.weight"], q["linear1.bias"])),
            q["linear2.weight"], q["linear2.bias"])
    return make


def norm(centered):
    def make():
        p = {"weight": 1.0 + 0.5 * torch.randn(I)}
        if centered:
            p["bias"] = 0.5 * torch.randn(I)
            return {}, p, lambda d, q: F.layer_norm(d["x"], (I,), q["weight"], q["bias"], 1e-5)
        return {}, p, lambda d, q: blocks_ref.rmsnorm(d["x"], q["weight"], 1e-5)
    return make


def attention_params(prefix):
    return {prefix + "in_proj_weight": torch.randn(3 * I, I) / math.sqrt(I),
            prefix + "in_proj_bias": 0.2 * torch.randn(3 * I),
            prefix + "out_proj.weight": torch.randn(I, I) / math.sqrt(I),
            prefix + "out_proj.bias": 0.2 * torch.randn(I)}


def mha(q_in, kv, q, prefix, heads):
    y, _ = F.multi_head_attention_forward(
        q_in, kv, kv, I, heads, q[prefix + "in_proj_weight"], q[prefix + "in_proj_bias"],
        None, None, False, 0.0, q[prefix + "out_proj.weight"], q[prefix + "out_proj.bias"],
        training=False, need_weights=False)
    return y


def attention(causal, rope):
    heads = 2

    def make():
        p = attention_params("self_attn.")

        def full(x, q):
            if rope:
                qq = {k[len("self_attn."):]: v for k, v in q.items()}
                return attn_ref.reference(x, qq, heads, False, True, [x.shape[0]] * B)
            return mha(x, x, q, "self_attn.", heads)

        def fn(d, q):
            x = d["x"]
            if not causal:
                return full(x, q)
            # each step from its own prefix (see the module's comment)
            return torch.stack([full(x[:t + 1], q)[t] for t in range(T)])
        return {"heads": heads, "causal": int(causal), "rope": int(rope)}, p, fn
    return make


def cross_attention():
    heads = 2
    p = attention_params("multihead_attn.")
    return {"heads": heads}, p, lambda d, q: mha(d["x"], d["memory"], q, "multihead_attn.", heads)


def sin_positions():
    def fn(d, q):
        t = torch.arange(T, dtype=torch.float64)[:, None]
        i = torch.arange(I)
        w = torch.pow(10000.0, -(i - i % 2).double() / I)
        pe = torch.where(i % 2 == 0, torch.sin(t * w), torch.cos(t * w))
        return d["x"] + pe[:, None, :]
    return {}, {}, fn


def learned_positions():
    p = {"weight": 0.3 * torch.randn(8, I)}
    return {"max_len": 8}, p, lambda d, q: d["x"] + q["weight"][:T, None, :]


def conv():
    p, fn = conv_ref.conv_case(I, 5, 3, 2)
    return {"width": 5, "kernel": 3, "dilation": 2}, p, lambda d, q: fn(d["x"], q)


def tcn():
    p, fn = conv_ref.tcn_case(I, 5, 3, 2)
    return {"width": 5, "kernel": 3, "dilation": 2}, p, lambda d, q: fn(d["x"], q)


def s4d():
    p, fn = conv_ref.s4d_case(I, 4, "inv", 1e-2, 0.5)
    return {"state": 4}, p, lambda d, q: fn(d["x"], q)


def mamba():
    p = mamba_ref.widen(mamba_ref.mamba_init(I, 4))
    return {"state": 4}, p, lambda d, q: mamba_ref.mamba_forward(d["x"], q)


def glu():
    p, fn = conv_ref.glu_case(I)
    return {}, p, lambda d, q: fn(d["x"], q)


def gelu():
    return {}, {}, lambda d, q: F.gelu(d["x"])


# file, kind, maker; the order is kinds.def's (appending keeps the seeds of the files above)
KINDS = [
    ("rnn", "rnn", recurrent("rnn", 5)),
    ("rnn-relu", "rnn-relu", recurrent("rnn-relu", 6)),
    ("lstm", "lstm", recurrent("lstm", 5)),
    ("gru", "gru", recurrent("gru", 5)),
    ("gated", "gated", cell_loop(cells_ref.Gated, 5)),
    ("ln-lstm", "ln-lstm", cell_loop(cells_ref.LNLSTM, 5)),
    ("ln-gru", "ln-gru", cell_loop(cells_ref.LNGRU, 5)),
    ("linear", "linear", linear),
    ("ff", "ff", feedforward("relu")),
    ("ff-gelu", "ff-gelu", feedforward("gelu")),
    ("layernorm", "layernorm", norm(True)),
    ("rmsnorm", "rmsnorm", norm(False)),
    ("attention", "attention", attention(False, False)),
    ("attention_causal", "attention", attention(True, False)),
    ("attention_causal_rope", "attention", attention(True, True)),
    ("cross-attention", "cross-attention", cross_attention),
    ("sin-positions", "sin-positions", sin_positions),
    ("learned-positions", "learned-positions", learned_positions),
    ("conv", "conv", conv),
    ("tcn", "tcn", tcn),
    ("s4d", "s4d", s4d),
    ("mamba", "mamba", mamba),
    ("glu", "glu", glu),
    ("gelu", "gelu", gelu),
]


def inject(d, where, t, b, i, v):
    out = {k: v_.clone() for k, v_ in d.items()}
    out[where][t, b, i] = v
    return out


def generate(name, kind, make, seed):
    torch.manual_seed(seed)
    opts, params32, fn = make()
    x32 = torch.randn(T, B, I, dtype=torch.float32)
    inputs32 = {"x": x32}
    if kind == "cross-attention":
        inputs32["memory"] = torch.randn(S, B, I, dtype=torch.float32)
    p64 = {k: v.double() for k, v in params32.items()}
    f32 = lambda t: t.detach().to(torch.float32).contiguous()
    cases = X_CASES + (MEM_CASES if "memory" in inputs32 else [])
    tensors = [(k, v.contiguous()) for k, v in params32.items()]
    tensors += [(k, v) for k, v in inputs32.items()]
    with torch.no_grad():
        tensors.append(("y", f32(fn({k: v.double() for k, v in inputs32.items()}, p64))))
        for case, where, t, b, i, v in cases:
            d32 = inject(inputs32, where, t, b, i, v)
            y = fn({k: v_.double() for k, v_ in d32.items()}, p64)
            assert y.shape[:2] == (T, B), (name, y.shape)
            tensors += [(f"{where}.{case}", d32[where]), (f"y.{case}", f32(y))]
    meta = {"kind": kind, "T": str(T), "B": str(B), "in": str(I),
            "cases": ",".join(c[0] for c in cases), "torch_version": torch.__version__,
            "seed": str(seed), "generator": "tools/gen_fixtures_nonfinite.py"}
    if "memory" in inputs32:
        meta["S"] = str(S)
    meta.update({k: str(v) for k, v in opts.items()})
    path = os.path.join(OUT_DIR, name + ".safetensors")
    write_safetensors(path, tensors, meta)
    return path, tensors


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for k, (name, kind, make) in enumerate(KINDS):
        path, tensors = generate(name, kind, make, SEED + k)
        summary = []
        for n, v in tensors:
            if n.startswith("y."):
                summary.append(f"{n[2:]} {int(torch.isnan(v).sum())}nan/"
                               f"{int(torch.isinf(v).sum())}inf")
        print(f"{os.path.relpath(path)}: {os.path.getsize(path)} bytes; {', '.join(summary)}")
    # the numbers, and its files for mnemo predict
    tensors = dict(generate("rnn-relu", "rnn-relu", KINDS[1][2], SEED + 1)[1])
    assert int(torch.isnan(tensors["y.nan"]).sum()) == 24, "nn.RNN relu: not 24 NaN"
    base = os.path.join(OUT_DIR, "predict_rnn-relu")
    write_safetensors(base + ".safetensors",
                      [(n, tensors[n]) for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0",
                                                 "bias_hh_l0")],
                      {"mode": "rnn-relu", "input": str(I), "hidden": "6",
                       "torch_version": torch.__version__,
                       "generator": "tools/gen_fixtures_nonfinite.py"})
    np.save(base + "_x.npy", tensors["x.nan"].numpy().astype(np.float32))
    np.save(base + "_y.npy", tensors["y.nan"].numpy().astype(np.float32))


if __name__ == "__main__":
    main()
