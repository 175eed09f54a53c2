#!/usr/bin/python3
"""Load a mnemo Transformer checkpoint into torch.nn.TransformerEncoder.

    /usr/bin/python3 tools/transformer_to_torch.py model.safetensors [x.npy y.npy]

mnemo names a Transformer's tensors as torch.nn.TransformerEncoder does
(layers.{i}.self_attn.in_proj_weight, layers.{i}.linear1.weight, layers.{i}.norm1.weight,
norm.weight for a final norm), so its `layers.*` and `norm.*` tensors load into the module
with load_state_dict as they are. The layers' shape is read from the checkpoint's
model.blocks metadata. mnemo's input stage (a linear map or an embedding, then sinusoidal or
learned positions) and its head stay outside the encoder: the script prints them.

With x.npy ([T, B, d_model] float32, the encoder's input) and y.npy (what
`mnemo predict --model transformer ... --weights model.safetensors --input x.npy --output
y.npy` wrote), it runs the module in eval mode and prints the largest relative difference.
RoPE has no counterpart in torch.nn.TransformerEncoder: a checkpoint using it is refused.
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, h in header.items():
        if h["dtype"] != "F32":
            continue
        a, b = h["data_offsets"]
        tensors[name] = torch.from_numpy(
            np.frombuffer(data[a:b], dtype="<f4").copy().reshape(h["shape"]))
    return tensors, meta


def encoder_of(tensors, meta):
    if int(meta.get("model.encoder_blocks", "0") or 0) > 0:
        sys.exit("this checkpoint is an encoder-decoder: its encoder.* and decoder.* tensors "
                 "load into torch.nn.Transformer (see docs/pytorch-interop.md), not into a "
                 "TransformerEncoder")
    blocks = meta.get("model.blocks", "").split(",")
    attn = [b.split(":") for b in blocks if b.startswith("attention")]
    ffs = [b.split(":") for b in blocks if b.startswith("ff")]
    if not attn:
        sys.exit("no attention blocks in model.blocks: %r" % meta.get("model.blocks"))
    a, f = attn[0], ffs[0]
    if "rope" in a:
        sys.exit("this checkpoint rotates queries and keys (rope), which "
                 "torch.nn.TransformerEncoder cannot")
    heads = next((int(o[6:]) for o in a if o.startswith("heads=")), 1)
    d_model = tensors["layers.0.self_attn.out_proj.weight"].shape[0]
    ff = int(f[1])
    layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout=0.0,
                                       activation="gelu" if f[0] == "ff-gelu" else "relu",
                                       norm_first="pre" in a)
    final = nn.LayerNorm(d_model) if "norm.weight" in tensors else None
    enc = nn.TransformerEncoder(layer, len(attn), norm=final, enable_nested_tensor=False)
    state = {k: v for k, v in tensors.items() if k.startswith("layers.") or k.startswith("norm.")}
    missing = [k for k in enc.state_dict() if k not in state]
    if missing:
        sys.exit("the checkpoint's layers are not a torch.nn.TransformerEncoder's (no %s): "
                 "only attention blocks followed by a feed-forward block, both residual with "
                 "a LayerNorm (pre or post), load into it" % ", ".join(missing[:3]))
    enc.load_state_dict(state, strict=True)
    outside = [k for k in tensors if k not in state]
    return enc.eval(), "causal" in a, outside


def main():
    if len(sys.argv) not in (2, 4):
        sys.exit(__doc__)
    try:
        tensors, meta = read_safetensors(sys.argv[1])
    except (OSError, ValueError, KeyError) as e:
        sys.exit("cannot read %s as safetensors: %s" % (sys.argv[1], e))
    enc, causal, outside = encoder_of(tensors, meta)
    print(enc)
    print("causal mask:", causal)
    print("outside the encoder:", ", ".join(outside))
    if len(sys.argv) == 4:
        x = torch.from_numpy(np.load(sys.argv[2]))
        want = np.load(sys.argv[3])
        T = x.shape[0]
        mask = torch.triu(torch.full((T, T), float("-inf")), 1) if causal else None
        with torch.no_grad():
            y = enc(x, mask=mask).numpy()
        scale = max(np.abs(want).max(), 1e-30)
        err = np.abs(y - want) / np.maximum(np.abs(want), 1e-2 * scale)
        print("max relative difference to mnemo: %.3g" % err.max())


if __name__ == "__main__":
    main()
