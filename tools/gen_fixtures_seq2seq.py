#!/usr/bin/python3
"""Generate the PyTorch golden fixtures for mnemo's cross-attention layer (an
encoder-decoder's multihead_attn).

Run from anywhere with Debian's python3-torch:   /usr/bin/python3 tools/gen_fixtures_seq2seq.py

Writes into tests/fixtures/:
  cross_attention_pad_h4.safetensors   nn.MultiheadAttention(D, 4): query x [T,B,D], key =
                                       value = memory [S,B,D], key_padding_mask from the
                                       memory's lengths; padded queries too
  cross_attention_h1.safetensors       one head, nothing padded, S != T
  seq2seq_transformer_pre.safetensors  a whole encoder-decoder: nn.Embedding, sinusoidal
                                       positions, torch.nn.Transformer (norm_first, 1 encoder
                                       and 2 decoder layers, causal target mask, source and
                                       target padding masks) and an nn.Linear head; its
                                       parameters under mnemo's names (which are the modules'
                                       own: embedding.*, encoder.layers.0.*, encoder.norm.*,
                                       decoder.layers.{0,1}.*, decoder.norm.*, head.*), the
                                       tokens, lengths and labels, the logits (0 at padded
                                       target steps), the mean cross-entropy over real steps
                                       and every parameter's gradient of it; the block spec
                                       and encoder_blocks in __metadata__

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


# ------------------------------------------------------------ the whole model
# An embedding, sinusoidal positions, torch.nn.Transformer (pre-norm, its encoder's and
# decoder's final norms, no dropout) and a linear head: the model `mnemo train --task
# reverse --model transformer` builds, under the same tensor names.
MODEL = dict(name="seq2seq_transformer_pre", V=7, C=5, D=8, heads=2, ff=16, enc=1, dec=2,
             T=4, S=5, B=3, lengths=[4, 2, 3], src_lengths=[5, 3, 1])


def positions(T, D):
    """mnemo's sin-positions: P[t, 2i] = sin(t w_i), P[t, 2i+1] = cos(t w_i), w_i = 10000^(-2i/D)."""
    t = torch.arange(T, dtype=torch.float64)[:, None]
    w = torch.pow(10000.0, -torch.arange(0, D, 2, dtype=torch.float64) / D)
    P = torch.zeros(T, D, dtype=torch.float64)
    P[:, 0::2] = torch.sin(t * w)
    P[:, 1::2] = torch.cos(t * w)
    return P


def spec(c):
    enc = f"sin-positions" + "".join(
        f",attention:heads={c['heads']}:residual:pre,ff:{c['ff']}:residual:pre" for _ in range(c["enc"]))
    dec = f"sin-positions" + "".join(
        f",attention:heads={c['heads']}:causal:residual:pre,cross-attention:heads={c['heads']}"
        f":residual:pre,ff:{c['ff']}:residual:pre" for _ in range(c["dec"]))
    return enc + ",layernorm," + dec + ",layernorm", 2 * c["enc"] + 2


def generate_model(c, seed):
    torch.manual_seed(seed)
    V, C, D, T, S, B = c["V"], c["C"], c["D"], c["T"], c["S"], c["B"]
    emb = nn.Embedding(V, D)
    tr = nn.Transformer(d_model=D, nhead=c["heads"], num_encoder_layers=c["enc"],
                        num_decoder_layers=c["dec"], dim_feedforward=c["ff"], dropout=0.0,
                        norm_first=True)
    head = nn.Linear(D, C)
    params = {"embedding.weight": emb.weight}
    params.update({k: v for k, v in tr.named_parameters()})
    params.update({"head." + k: v for k, v in head.named_parameters()})
    with torch.no_grad():   # random everywhere: biases and norms too
        for k, v in params.items():
            v.copy_(torch.randn_like(v) * (0.3 if v.dim() > 1 else 0.2) + (1.0 if "norm" in k and "weight" in k else 0.0))
    p32 = {k: v.detach().clone() for k, v in params.items()}
    emb, tr, head = emb.double(), tr.double(), head.double()
    tr.train(True)          # dropout 0: the plain path, with gradients
    src = torch.randint(0, V, (S, B), dtype=torch.int64)
    tgt = torch.randint(0, V, (T, B), dtype=torch.int64)
    labels = torch.randint(0, C, (T, B), dtype=torch.int64)
    src_pad = torch.arange(S)[None, :] >= torch.tensor(c["src_lengths"])[:, None]    # [B, S]
    tgt_pad = torch.arange(T)[None, :] >= torch.tensor(c["lengths"])[:, None]        # [B, T]
    causal = torch.triu(torch.full((T, T), float("-inf"), dtype=torch.float64), 1)
    xs = emb(src) + positions(S, D)[:, None, :]
    xt = emb(tgt) + positions(T, D)[:, None, :]
    out = tr(xs, xt, tgt_mask=causal, src_key_padding_mask=src_pad,
             tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)
    logits = head(out)                                                                 # [T,B,C]
    valid = ~tgt_pad.T                                                                 # [T, B]
    loss = F.cross_entropy(logits[valid], labels[valid])
    loss.backward()
    named = {"embedding.weight": emb.weight}
    named.update({k: v for k, v in tr.named_parameters()})
    named.update({"head." + k: v for k, v in head.named_parameters()})
    f32 = lambda t: t.detach().to(torch.float32)
    i32 = lambda t: t.to(torch.int32)
    tensors = list(p32.items())
    tensors += [("src_tokens", i32(src)), ("tokens", i32(tgt)), ("labels", i32(labels)),
                ("lengths", torch.tensor(c["lengths"], dtype=torch.int32)),
                ("src_lengths", torch.tensor(c["src_lengths"], dtype=torch.int32)),
                ("logits", f32(logits * valid[:, :, None])), ("loss", f32(loss.reshape(1)))]
    tensors += [("grad." + k, f32(v.grad)) for k, v in named.items()]
    blocks, E = spec(c)
    meta = {"mode": c["name"], "blocks": blocks, "encoder_blocks": str(E), "vocab": str(V),
            "classes": str(C), "dim": str(D), "T": str(T), "S": str(S), "B": str(B),
            "torch_version": torch.__version__, "seed": str(seed),
            "generator": "tools/gen_fixtures_seq2seq.py"}
    path = os.path.join(OUT_DIR, c["name"] + ".safetensors")
    write_safetensors(path, tensors, meta)
    return path


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for k, case in enumerate(CASES):
        path = generate(case, SEED + k)
        print(f"{os.path.relpath(path)}: {os.path.getsize(path)} bytes")
    path = generate_model(MODEL, SEED + 100)
    print(f"{os.path.relpath(path)}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
