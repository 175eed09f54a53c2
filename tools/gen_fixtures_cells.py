#!/usr/bin/python3
"""Golden fixtures for mnemo's recurrent cells that PyTorch has no layer for.

Run from anywhere with Debian's python3-torch:   /usr/bin/python3 tools/gen_fixtures_cells.py

Same conventions and file layout as tools/gen_fixtures.py (whose write_safetensors this
script reuses): the parameters under mnemo's names, `x` [T,B,I], `lengths` [B] (I32),
`y` [T,B,D*H], `h_n` [L*D,B,H] (`c_n` with a cell state), `w` [T,B,D*H], and the
gradients of loss = sum(y * w) as `grad.x` and `grad.<name>`; configuration in
__metadata__, `mode` naming the cell.

The reference is a plain float64 loop, one sequence at a time over its own length:
outputs at padding positions are 0, final states are at the last real step, and the
reverse direction runs over each sequence reversed within its own length — what PyTorch's
packed sequences do. The loop itself is checked first against nn.LSTM on a padded
bidirectional stack, so the fixtures' padding semantics match tools/gen_fixtures.py's.

Cells (formulas also in include/mnemo.h and src/layers/lncell.h):
  gated   h = α⊙h_prev + (1−α)⊙f, α = σ(W_iα x + b_iα + W_hα h_prev + b_hα),
          f = tanh(W_if x + b_if + W_hf h_prev + b_hf); weight_ih [2H,I], weight_hh [2H,H],
          bias_ih, bias_hh [2H], blocks [α, f].
  ln-lstm, ln-gru   layer-normalized LSTM and GRU (src/layers/lncell.h): LN(v; γ, β) over
          a row's whole vector, eps 1e-5, biased variance;
          LSTM: a = LN(W_ih x) + LN(W_hh h_prev) + b, c = σ(f)c_prev + σ(i)tanh(g),
                h = σ(o) tanh(LN(c));
          GRU:  X = LN(W_ih x), R = LN(W_hh h_prev), r = σ(X_r + R_r + b_r),
                z = σ(X_z + R_z + b_z), n = tanh(X_n + b_n + r R_n), h = (1−z)n + z h_prev.
          Names weight_ih_l0, weight_hh_l0, bias_l0, ln_ih_l0.weight, ln_ih_l0.bias,
          ln_hh_l0.*, ln_c_l0.* (LSTM); γ drawn near 1 and β near 0 so that both matter.
"""
import math
import os
import sys

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import write_safetensors  # noqa: E402

SEED = 20240611
T, B, I, H = 5, 3, 4, 3
PAD_LENGTHS = [3, 5, 1]  # unsorted, one sequence of length 1
LN_EPS = 1e-5            # nn.LayerNorm's default, and lncell.c's

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


# ------------------------------------------------------------------ cells
# Each cell: param_shapes(in, H) -> [(base name, shape)], init(name, shape) -> float32
# tensor, step(p, x, state) -> new state tuple (h first); p maps base names to tensors,
# x is [in], state a tuple of [H] tensors.

def uniform(shape, bound):
    return (torch.rand(shape, dtype=torch.float32) * 2 - 1) * bound


class Gated:
    mode, has_c = "gated", False

    @staticmethod
    def param_shapes(n_in, h):
        return [("weight_ih", (2 * h, n_in)), ("weight_hh", (2 * h, h)),
                ("bias_ih", (2 * h,)), ("bias_hh", (2 * h,))]

    @staticmethod
    def init(name, shape):
        return uniform(shape, 1 / math.sqrt(H))

    @staticmethod
    def step(p, x, state):
        (h,) = state
        g = p["weight_ih"] @ x + p["bias_ih"] + p["weight_hh"] @ h + p["bias_hh"]
        a, f = torch.sigmoid(g[:H]), torch.tanh(g[H:])
        return (a * h + (1 - a) * f,)


def layer_norm(v, g, b):
    """LN over the whole vector, biased variance, as nn.LayerNorm."""
    mu = v.mean()
    var = ((v - mu) ** 2).mean()
    return (v - mu) / torch.sqrt(var + LN_EPS) * g + b


def ln_shapes(g):
    def shapes(n_in, h):
        out = [("weight_ih", (g * h, n_in)), ("weight_hh", (g * h, h)), ("bias", (g * h,))]
        for ln, n in (("ln_ih", g * h), ("ln_hh", g * h)) + ((("ln_c", h),) if g == 4 else ()):
            out += [(ln + ".weight", (n,)), (ln + ".bias", (n,))]
        return out
    return staticmethod(shapes)


def ln_init(name, shape):
    """γ near 1 and β near 0, but not exactly: the fixtures must see the affines used."""
    if name.endswith(".weight"):
        return 1 + 0.3 * torch.randn(shape, dtype=torch.float32)
    if name.endswith(".bias"):
        return 0.3 * torch.randn(shape, dtype=torch.float32)
    return uniform(shape, 1 / math.sqrt(H))


class LNLSTM:
    mode, has_c = "ln-lstm", True
    param_shapes = ln_shapes(4)
    init = staticmethod(ln_init)

    @staticmethod
    def step(p, x, state):
        h, c = state
        a = (layer_norm(p["weight_ih"] @ x, p["ln_ih.weight"], p["ln_ih.bias"]) +
             layer_norm(p["weight_hh"] @ h, p["ln_hh.weight"], p["ln_hh.bias"]) + p["bias"])
        i, f, g, o = (a[k * H:(k + 1) * H] for k in range(4))
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(layer_norm(c, p["ln_c.weight"], p["ln_c.bias"]))
        return (h, c)


class LNGRU:
    mode, has_c = "ln-gru", False
    param_shapes = ln_shapes(3)
    init = staticmethod(ln_init)

    @staticmethod
    def step(p, x, state):
        (h,) = state
        X = layer_norm(p["weight_ih"] @ x, p["ln_ih.weight"], p["ln_ih.bias"])
        R = layer_norm(p["weight_hh"] @ h, p["ln_hh.weight"], p["ln_hh.bias"])
        b = p["bias"]
        r = torch.sigmoid(X[:H] + R[:H] + b[:H])
        z = torch.sigmoid(X[H:2 * H] + R[H:2 * H] + b[H:2 * H])
        n = torch.tanh(X[2 * H:] + b[2 * H:] + r * R[2 * H:])
        return ((1 - z) * n + z * h,)


class PlainLSTM:
    """nn.LSTM's cell, only to check the loop against PyTorch's packed sequences."""
    mode, has_c = "lstm", True

    @staticmethod
    def param_shapes(n_in, h):
        return [("weight_ih", (4 * h, n_in)), ("weight_hh", (4 * h, h)),
                ("bias_ih", (4 * h,)), ("bias_hh", (4 * h,))]

    @staticmethod
    def step(p, x, state):
        h, c = state
        g = p["weight_ih"] @ x + p["bias_ih"] + p["weight_hh"] @ h + p["bias_hh"]
        i, f, gg, o = (g[k * H:(k + 1) * H] for k in range(4))
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
        return (torch.sigmoid(o) * torch.tanh(c), c)


# ------------------------------------------------------------------- loop

def suffix(k, d):
    return f"_l{k}" + ("_reverse" if d else "")


def run_stack(cell, params, x, lengths, layers, D, name_of):
    """params: full name -> float64 tensor; name_of(base, k, d) gives the full name.
    Returns y [T,B,D*H], h_n [L*D,B,H], c_n or None."""
    inp, hs, cs = x, [], []
    for k in range(layers):
        out = [[torch.zeros(D * H, dtype=torch.float64) for _ in range(B)] for _ in range(T)]
        for d in range(D):
            p = {base: params[name_of(base, k, d)]
                 for base, _ in cell.param_shapes(inp.shape[2], H)}
            h_last, c_last = [], []
            for b in range(B):
                n = lengths[b]
                state = tuple(torch.zeros(H, dtype=torch.float64)
                              for _ in range(2 if cell.has_c else 1))
                steps = range(n - 1, -1, -1) if d else range(n)
                for t in steps:
                    state = cell.step(p, inp[t, b], state)
                    parts = list(out[t][b].split(H))
                    parts[d] = state[0]
                    out[t][b] = torch.cat(parts)
                h_last.append(state[0])
                if cell.has_c:
                    c_last.append(state[1])
            hs.append(torch.stack(h_last))
            if cell.has_c:
                cs.append(torch.stack(c_last))
        inp = torch.stack([torch.stack(row) for row in out])
    return inp, torch.stack(hs), torch.stack(cs) if cell.has_c else None


def check_loop_against_pytorch():
    """The loop's padding and direction handling equal nn.LSTM on packed sequences."""
    torch.manual_seed(SEED - 1)
    lstm = nn.LSTM(I, H, num_layers=2, bidirectional=True).double()
    x = torch.randn(T, B, I, dtype=torch.float64)
    packed = pack_padded_sequence(x, torch.tensor(PAD_LENGTHS), enforce_sorted=False)
    out, (h_n, c_n) = lstm(packed)
    y, _ = pad_packed_sequence(out, total_length=T)
    params = dict(lstm.named_parameters())
    with torch.no_grad():
        y2, h2, c2 = run_stack(PlainLSTM, params, x, PAD_LENGTHS, 2, 2, recurrent_name)
    for a, b_, what in ((y, y2, "y"), (h_n, h2, "h_n"), (c_n, c2, "c_n")):
        assert torch.allclose(a, b_, atol=1e-12), f"reference loop differs from nn.LSTM in {what}"


# -------------------------------------------------------------- fixtures

def generate(cell, layers, bidir, padded, seed, name_of, tag=None):
    torch.manual_seed(seed)
    D = 2 if bidir else 1
    names32 = []                       # (full name, float32 tensor) in layer order
    for k in range(layers):
        n_in = I if k == 0 else D * H
        for d in range(D):
            for base, shape in cell.param_shapes(n_in, H):
                names32.append((name_of(base, k, d), cell.init(base, shape)))
    x32 = torch.randn(T, B, I, dtype=torch.float32)
    w32 = torch.randn(T, B, D * H, dtype=torch.float32)
    lengths = PAD_LENGTHS if padded else [T] * B

    params = {n: t.double().requires_grad_(True) for n, t in names32}
    x = x32.double().requires_grad_(True)
    y, h_n, c_n = run_stack(cell, params, x, lengths, layers, D, name_of)
    if padded:
        for b, n in enumerate(lengths):
            assert not y[n:, b].any(), "padding output is not 0"
    (y * w32.double()).sum().backward()

    f32 = lambda t: t.detach().to(torch.float32)
    tensors = list(names32)
    tensors += [("x", x32), ("lengths", torch.tensor(lengths, dtype=torch.int32)),
                ("y", f32(y)), ("h_n", f32(h_n))]
    if c_n is not None:
        tensors.append(("c_n", f32(c_n)))
    tensors += [("w", w32), ("grad.x", f32(x.grad))]
    tensors += [("grad." + n, f32(params[n].grad)) for n, _ in names32]

    meta = {"mode": cell.mode, "layers": str(layers), "hidden": str(H), "input": str(I),
            "bidirectional": str(bidir), "T": str(T), "B": str(B),
            "torch_version": torch.__version__, "seed": str(seed),
            "generator": "tools/gen_fixtures_cells.py"}
    name = f"{tag or cell.mode}_l{layers}{'_bidir' if bidir else ''}{'_pad' if padded else ''}"
    path = os.path.join(OUT_DIR, name + ".safetensors")
    write_safetensors(path, tensors, meta)
    return path


def recurrent_name(base, k, d):        # recurrent.c: weight_ih_l0, bias_hh_l1_reverse
    return base + suffix(k, d)


def lncell_name(base, k, d):           # lncell.c: bias_l0, ln_ih_l0.weight
    stem, dot, leaf = base.partition(".")
    return stem + suffix(k, d) + dot + leaf


def check_layer_norm():
    v, g, b = (torch.randn(7, dtype=torch.float64) for _ in range(3))
    want = torch.nn.functional.layer_norm(v, (7,), g, b, eps=LN_EPS)
    assert torch.allclose(layer_norm(v, g, b), want, atol=1e-14), "layer_norm differs"


def main():
    check_loop_against_pytorch()
    check_layer_norm()
    os.makedirs(OUT_DIR, exist_ok=True)
    jobs = [(Gated, recurrent_name), (LNLSTM, lncell_name), (LNGRU, lncell_name)]
    k = 0
    for cell, name_of in jobs:
        for layers, bidir, padded in ((1, 0, False), (2, 1, True)):
            path = generate(cell, layers, bidir, padded, SEED + k, name_of)
            k += 1
            print(f"{os.path.relpath(path)}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
