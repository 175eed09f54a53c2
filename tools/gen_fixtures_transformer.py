#!/usr/bin/python3
"""Generate the fixtures of `mnemo predict --model transformer`.

Run with Debian's python3-torch:   /usr/bin/python3 tools/gen_fixtures_transformer.py

tests/fixtures/transformer/<name>.safetensors  a torch.nn.TransformerEncoder state dict
                                               (layers.{i}.self_attn.in_proj_weight, ...,
                                               an optional final norm.weight), F32
tests/fixtures/transformer/<name>_x.npy        input float32 [T, B, D]
tests/fixtures/transformer/<name>_y.npy        eval-mode output float32 [T, B, D]
tests/fixtures/transformer/<name>_lengths.npy  int32 [B], for the padded case
                                               (src_key_padding_mask = t >= length; the
                                               output's rows past each length are 0)
tests/fixtures/sin_positions.safetensors       "pe" [T=300, D=10]: the sinusoidal table as
                                               PyTorch's tutorial PositionalEncoding builds it
The metadata of each file records its configuration (layers, heads, ff, norm_first,
activation, causal, final_norm) as strings. The module runs in float64 (weights drawn in
float32 by PyTorch's init), so references are as exact as float32 holds them.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_predict_fixtures import write_safetensors  # noqa: E402

T, B, D, HEADS, FF = 6, 3, 8, 2, 16
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "transformer")

CASES = [
    # name, layers, norm_first, activation, causal, final_norm, lengths
    ("post_relu_l1", 1, False, "relu", False, False, None),
    ("pre_relu_l1", 1, True, "relu", False, False, None),
    ("post_gelu_l3", 3, False, "gelu", False, False, None),
    ("pre_gelu_l3_norm", 3, True, "gelu", False, True, None),
    ("post_relu_l2_causal", 2, False, "relu", True, False, None),
    ("pre_gelu_l2_pad", 2, True, "gelu", False, False, [5, 6, 2]),
]


def sin_positions():
    """PE as in the PyTorch "Language Modeling with nn.Transformer" tutorial, in float64."""
    T_, D_ = 300, 10
    position = torch.arange(T_, dtype=torch.float64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, D_, 2, dtype=torch.float64) * (-np.log(10000.0) / D_))
    pe = torch.zeros(T_, D_, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    write_safetensors(os.path.join(ROOT, "tests", "fixtures", "sin_positions.safetensors"),
                      [("pe", pe.float())], {"T": str(T_), "D": str(D_)})


def main():
    sin_positions()
    os.makedirs(OUT, exist_ok=True)
    for i, (name, layers, norm_first, act, causal, final_norm, lengths) in enumerate(CASES):
        torch.manual_seed(20261130 + i)
        layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, activation=act,
                                           norm_first=norm_first)
        enc = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(D) if final_norm else None,
                                    enable_nested_tensor=False)
        # LayerNorm starts at weight 1, bias 0 and biases at 0: draw them so a swapped or
        # skipped norm or bias shows
        with torch.no_grad():
            for n, p in enc.named_parameters():
                if "norm" in n or n.endswith("bias"):
                    p.copy_(torch.randn_like(p) * 0.3 + (1.0 if n.endswith("norm1.weight") or
                                                        n.endswith("norm2.weight") or
                                                        n == "norm.weight" else 0.0))
        enc.eval()
        x = torch.randn(T, B, D)
        mask = torch.triu(torch.full((T, T), float("-inf"), dtype=torch.float64), 1) \
            if causal else None
        pad = None
        if lengths is not None:
            pad = torch.arange(T)[None, :] >= torch.tensor(lengths)[:, None]   # [B, T]
        with torch.no_grad():
            y = enc.double()(x.double(), mask=mask, src_key_padding_mask=pad).float()
        if pad is not None:
            # rows past a sequence's length are 0, as the encoder's default nested-tensor
            # path in eval returns them (and pad_packed_sequence does for RNNs)
            y = y.masked_fill(pad.t()[:, :, None], 0.0)
        enc.float()
        meta = {"layers": str(layers), "heads": str(HEADS), "ff": str(FF),
                "norm_first": str(norm_first), "activation": act, "causal": str(causal),
                "final_norm": str(final_norm)}
        write_safetensors(os.path.join(OUT, name + ".safetensors"),
                          list(enc.state_dict().items()), meta)
        np.save(os.path.join(OUT, name + "_x.npy"), x.numpy().astype(np.float32))
        np.save(os.path.join(OUT, name + "_y.npy"), y.numpy().astype(np.float32))
        if lengths is not None:
            np.save(os.path.join(OUT, name + "_lengths.npy"), np.asarray(lengths, np.int32))
        print(name, "max |y|", float(y.abs().max()))


if __name__ == "__main__":
    main()
