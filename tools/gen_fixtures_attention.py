#!/usr/bin/python3
"""Generate the PyTorch golden fixtures for mnemo's attention layer.

Run from anywhere with Debian's python3-torch:   /usr/bin/python3 tools/gen_fixtures_attention.py

Writes into tests/fixtures/ (next to this script's repository root):
  attention_bidir_pad_h4.safetensors    nn.MultiheadAttention(D, 4), key_padding_mask
  attention_bidir_h1.safetensors        nn.MultiheadAttention(D, 1), no padding
  attention_causal_h1.safetensors       nn.MultiheadAttention(D, 1), attn_mask = causal -inf
  attention_causal_pad_h4.safetensors   heads 4, causal mask and key_padding_mask
  attention_rope_causal_pad_h2.safetensors  heads 2, rotary positions on q and k, causal,
                                        padded: the plain reference below (torch 1.13 has
                                        no RoPE), itself checked against
                                        nn.MultiheadAttention with the rotation off

Each file holds the layer's parameters under mnemo's names (self_attn.in_proj_weight
[3D,D], self_attn.in_proj_bias [3D], self_attn.out_proj.weight [D,D],
self_attn.out_proj.bias [D]; random, biases included, so that every one is tested), the
input `x` [T,B,D] (batch_first=False), `lengths` [B] (I32), the loss weights `w` [T,B,D],
the output `y` and the gradients `grad.x`, `grad.<param>` of loss = sum(y * w * valid),
valid = 1 at t < lengths[b]. mnemo's layer outputs 0 at padded steps t >= lengths[b] (as
its recurrent layers do), where PyTorch gives a padded query row the attention of a real
one: `y` is therefore stored with padded rows 0, and the loss leaves them out, so both
agree exactly. Inputs and parameters are drawn in float32 and computed in float64. The
configuration (`mode`, `T`, `B`, `dim`, `heads`, `causal`, `rope`, `torch_version`,
`seed`) is in __metadata__ as strings.
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import OUT_DIR, write_safetensors  # noqa: E402

SEED = 20241111
CASES = [
    # name, T, B, D, heads, causal, rope, lengths
    ("attention_bidir_pad_h4", 7, 3, 8, 4, False, False, [7, 4, 1]),
    ("attention_bidir_h1", 5, 2, 6, 1, False, False, [5, 5]),
    ("attention_causal_h1", 6, 2, 6, 1, True, False, [6, 6]),
    ("attention_causal_pad_h4", 7, 3, 8, 4, True, False, [5, 7, 2]),
    ("attention_rope_causal_pad_h2", 7, 3, 8, 2, True, True, [7, 3, 6]),
]
PREFIX = "self_attn."


def rope(x, dh):
    """Rotates pairs (2i, 2i+1) of x [T, B, H, dh] by t * 10000^(-2i/dh)."""
    T = x.shape[0]
    i = torch.arange(dh // 2, dtype=torch.float64)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * torch.pow(10000.0, -2.0 * i / dh)
    c = torch.cos(ang)[:, None, None, :]
    s = torch.sin(ang)[:, None, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = a * c - b * s
    out[..., 1::2] = a * s + b * c
    return out


def reference(x, p, heads, causal, use_rope, lengths):
    """Multi-head self-attention written out: x [T,B,D] -> [T,B,D]."""
    T, B, D = x.shape
    dh = D // heads
    qkv = F.linear(x, p["in_proj_weight"], p["in_proj_bias"])
    q, k, v = (t.reshape(T, B, heads, dh) for t in qkv.split(D, dim=-1))
    if use_rope:
        q, k = rope(q, dh), rope(k, dh)
    s = torch.einsum("tbhd,ubhd->bhtu", q, k) / math.sqrt(dh)
    mask = torch.zeros(B, 1, T, T, dtype=torch.bool)
    for b, n in enumerate(lengths):
        mask[b, :, :, n:] = True
    if causal:
        mask |= torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    s = s.masked_fill(mask, float("-inf"))
    o = torch.einsum("bhtu,ubhd->tbhd", torch.softmax(s, dim=-1), v).reshape(T, B, D)
    return F.linear(o, p["out_proj.weight"], p["out_proj.bias"])


def torch_mha(x, p, heads, causal, lengths):
    T, B, D = x.shape
    mha = nn.MultiheadAttention(D, heads, dropout=0.0).double()
    with torch.no_grad():
        for name, t in mha.named_parameters():
            t.copy_(p[name])
    mha.train(False)
    kpm = torch.arange(T)[None, :] >= torch.tensor(lengths)[:, None]           # [B, T]
    am = torch.triu(torch.full((T, T), float("-inf"), dtype=torch.float64), 1) if causal else None
    # the module's own parameters are leaves of their own: route p through functional
    # multi_head_attention_forward so that the gradients reach p
    y, _ = F.multi_head_attention_forward(
        x, x, x, D, heads, p["in_proj_weight"], p["in_proj_bias"], None, None, False, 0.0,
        p["out_proj.weight"], p["out_proj.bias"], training=False,
        key_padding_mask=kpm, need_weights=False, attn_mask=am)
    # and the module itself gives the same (no parameters routed: a check only)
    with torch.no_grad():
        y2, _ = mha(x, x, x, key_padding_mask=kpm, need_weights=False, attn_mask=am)
    assert torch.allclose(y, y2, rtol=1e-12, atol=1e-12), "functional and module MHA differ"
    return y


def generate(case, seed):
    name, T, B, D, heads, causal, use_rope, lengths = case
    torch.manual_seed(seed)
    params32 = {
        "in_proj_weight": torch.randn(3 * D, D) * (1.0 / math.sqrt(D)),
        "in_proj_bias": 0.2 * torch.randn(3 * D),
        "out_proj.weight": torch.randn(D, D) * (1.0 / math.sqrt(D)),
        "out_proj.bias": 0.2 * torch.randn(D),
    }
    x32 = torch.randn(T, B, D) * 1.5
    w32 = torch.randn(T, B, D)
    p64 = {k: v.double().requires_grad_(True) for k, v in params32.items()}
    x = x32.double().requires_grad_(True)
    valid = (torch.arange(T)[:, None] < torch.tensor(lengths)[None, :]).double()[:, :, None]
    if use_rope:
        y = reference(x, p64, heads, causal, True, lengths)
        # the reference is MultiheadAttention's when the rotation is off
        with torch.no_grad():
            r = reference(x, p64, heads, causal, False, lengths)
            t = torch_mha(x, {k: v.detach() for k, v in p64.items()}, heads, causal, lengths)
            assert torch.allclose(r * valid, t * valid, rtol=1e-10, atol=1e-12), \
                "the plain reference differs from nn.MultiheadAttention"
    else:
        y = torch_mha(x, p64, heads, causal, lengths)
        with torch.no_grad():
            r = reference(x, p64, heads, causal, False, lengths)
            assert torch.allclose(r * valid, y * valid, rtol=1e-10, atol=1e-12)
    (y * w32.double() * valid).sum().backward()

    f32 = lambda t: t.detach().to(torch.float32)
    tensors = [(PREFIX + k, v) for k, v in params32.items()]
    tensors += [("x", x32), ("lengths", torch.tensor(lengths, dtype=torch.int32)),
                ("w", w32), ("y", f32(y * valid)), ("grad.x", f32(x.grad))]
    tensors += [("grad." + PREFIX + k, f32(v.grad)) for k, v in p64.items()]
    meta = {"mode": name, "T": str(T), "B": str(B), "dim": str(D), "heads": str(heads),
            "causal": str(int(causal)), "rope": str(int(use_rope)),
            "torch_version": torch.__version__, "seed": str(seed),
            "generator": "tools/gen_fixtures_attention.py"}
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
