#!/usr/bin/python3
"""Generate the PyTorch golden fixtures for mnemo's cross-attention layer (an
encoder-decoder's multihead_attn).

Run from anywhere with Debian's python3-torch:   /usr/bin/python3 tools/gen_fixtures_seq2seq.py

Writes into tests/fixtures/:
  cross_attention_pad_h4.safetensors   nn.MultiheadAttention(D, 4): query x [T,B,D], key =
                                       value = memory [S,B,D], key_padding_mask from the
                                       memory's lengths; padded queries too
  cross_attention_h1.safetensors       one head, nothing padded, S != T

Each file holds the parameters under torch.nn.TransformerDecoderLayer's names
(multihead_attn.in_proj_weight [3D,D], multihead_attn.in_proj_bias [3D],
multihead_attn.out_proj.weight [D,D], multihead_attn.out_proj.bias [D]; random, biases
included), the inputs `x` [T,B,D], `memory` [S,B,D], `lengths` [B] and `memory_lengths` [B]
(I32), the loss weights `w` [T,B,D], the output `y` and the gradients `grad.x`,
`grad.memory`, `grad.multihead_attn.<param>` of loss = sum(y * w * valid), valid = 1 at
t < lengths[b]. mnemo's layer outputs 0 at padded query steps (PyTorch computes them like any
other row): `y` is stored with those rows 0 and the loss leaves them out. Inputs and
parameters are drawn in float32 and computed in float64. The configuration (T, S, B, dim,
heads, torch_version, seed) is in __metadata__ as strings.
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import OUT_DIR, write_safetensors  # noqa: E402

SEED = 20250301
CASES = [
    # name, T, S, B, D, heads, lengths, memory_lengths
    ("cross_attention_pad_h4", 5, 7, 3, 8, 4, [5, 2, 4], [7, 3, 1]),
    ("cross_attention_h1", 3, 6, 2, 6, 1, [3, 3], [6, 6]),
]
PREFIX = "multihead_attn."


def generate(case, seed):
    name, T, S, B, D, heads, lengths, mem_lengths = case
    torch.manual_seed(seed)
    params32 = {
        "in_proj_weight": torch.randn(3 * D, D) * (1.0 / math.sqrt(D)),
        "in_proj_bias": 0.2 * torch.randn(3 * D),
        "out_proj.weight": torch.randn(D, D) * (1.0 / math.sqrt(D)),
        "out_proj.bias": 0.2 * torch.randn(D),
    }
    x32 = torch.randn(T, B, D) * 1.5
    m32 = torch.randn(S, B, D) * 1.5
    w32 = torch.randn(T, B, D)
    p = {k: v.double().requires_grad_(True) for k, v in params32.items()}
    x = x32.double().requires_grad_(True)
    mem = m32.double().requires_grad_(True)
    kpm = torch.arange(S)[None, :] >= torch.tensor(mem_lengths)[:, None]       # [B, S]
    y, _ = F.multi_head_attention_forward(
        x, mem, mem, D, heads, p["in_proj_weight"], p["in_proj_bias"], None, None, False, 0.0,
        p["out_proj.weight"], p["out_proj.bias"], training=False, key_padding_mask=kpm,
        need_weights=False)
    # the module, as a TransformerDecoderLayer holds it, gives the same
    mha = nn.MultiheadAttention(D, heads, dropout=0.0).double()
    with torch.no_grad():
        for k, t in mha.named_parameters():
            t.copy_(p[k])
        y2, _ = mha(x, mem, mem, key_padding_mask=kpm, need_weights=False)
    assert torch.allclose(y, y2, rtol=1e-12, atol=1e-12), "functional and module MHA differ"
    valid = (torch.arange(T)[:, None] < torch.tensor(lengths)[None, :]).double()[:, :, None]
    (y * w32.double() * valid).sum().backward()

    f32 = lambda t: t.detach().to(torch.float32)
    tensors = [(PREFIX + k, v) for k, v in params32.items()]
    tensors += [("x", x32), ("memory", m32), ("lengths", torch.tensor(lengths, dtype=torch.int32)),
                ("memory_lengths", torch.tensor(mem_lengths, dtype=torch.int32)), ("w", w32),
                ("y", f32(y * valid)), ("grad.x", f32(x.grad)), ("grad.memory", f32(mem.grad))]
    tensors += [("grad." + PREFIX + k, f32(v.grad)) for k, v in p.items()]
    meta = {"mode": name, "T": str(T), "S": str(S), "B": str(B), "dim": str(D),
            "heads": str(heads), "torch_version": torch.__version__, "seed": str(seed),
            "generator": "tools/gen_fixtures_seq2seq.py"}
    path = os.path.join(OUT_DIR, name + ".safetensors")
    write_safetensors(path, tensors, meta)
    return path


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for k, case in enumerate(CASES):
        path = generate(case, SEED + k)
        print(f"{os.path.relpath(path)}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
