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


def main():
    check_loop_against_pytorch()
    os.makedirs(OUT_DIR, exist_ok=True)
    jobs = [(Gated, recurrent_name)]
    k = 0
    for cell, name_of in jobs:
        for layers, bidir, padded in ((1, 0, False), (2, 1, True)):
            path = generate(cell, layers, bidir, padded, SEED + k, name_of)
            k += 1
            print(f"{os.path.relpath(path)}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
