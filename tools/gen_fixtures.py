#!/usr/bin/python3
"""Generate the PyTorch golden fixtures for mnemo's recurrent layers.

Run from anywhere with Debian's python3-torch:   /usr/bin/python3 tools/gen_fixtures.py

For each cell (rnn, rnn-relu, lstm, gru) it writes two small safetensors files into
tests/fixtures/ (next to this script's repository root):
  <mode>_l1.safetensors            1 layer, unidirectional, every sequence full length
  <mode>_l2_bidir_pad.safetensors  2 layers, bidirectional, variable lengths (padding)

Every file holds the PyTorch state dict under its own names (weight_ih_l0, ...,
bias_hh_l1_reverse), the input `x` [T,B,I], `lengths` [B] (I32), the output `y`
[T,B,D*H], the final states `h_n` [L*D,B,H] (and `c_n` for LSTM), the loss weights `w`
[T,B,D*H], and the gradients of loss = sum(y * w) with respect to `x` (`grad.x`) and every
parameter (`grad.<name>`). The configuration is in __metadata__ as strings.

Inputs and parameters are drawn in float32 and then computed in float64, so the stored
float32 references are the float32-representable inputs' exact-as-possible answers.
Padded cases go through pack_padded_sequence(enforce_sorted=False) / pad_packed_sequence,
so outputs at padding positions are 0, final states are at each sequence's last real step,
and the reverse direction runs over each sequence within its own length. `x` and `w` hold
random values at padding positions too: a correct layer ignores them (grad.x is 0 there).

The safetensors files are written by hand (struct + json) so that this script needs
nothing beyond torch; the layout matches the reference writer (header padded with spaces
to a multiple of 8 bytes, little-endian data).
"""
import json
import os
import struct

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

SEED = 20240607
T, B, I, H = 5, 3, 4, 3
PAD_LENGTHS = [3, 5, 1]  # deliberately unsorted: enforce_sorted=False must handle it

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")

DTYPES = {torch.float32: ("F32", "<f4"), torch.int32: ("I32", "<i4")}


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, torch tensor) written in this order."""
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, t in tensors:
        dtype, np_dtype = DTYPES[t.dtype]
        data = t.contiguous().numpy().astype(np_dtype).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)
    os.replace(tmp, path)


def make_module(mode, layers, bidir):
    kw = dict(input_size=I, hidden_size=H, num_layers=layers, bidirectional=bool(bidir))
    if mode == "rnn":
        return nn.RNN(nonlinearity="tanh", **kw)
    if mode == "rnn-relu":
        return nn.RNN(nonlinearity="relu", **kw)
    if mode == "lstm":
        return nn.LSTM(**kw)
    return nn.GRU(**kw)


def check_padding_semantics(model, x, y, h_n, lengths):
    """The semantics the C tests rely on: each padded sequence behaves exactly as if it
    were run alone at its own length, and outputs at padding positions are 0."""
    with torch.no_grad():
        for b, n in enumerate(lengths):
            yb, sb = model(x[:n, b:b + 1])
            hb = sb[0] if isinstance(sb, tuple) else sb
            assert torch.allclose(y[:n, b:b + 1], yb, atol=1e-12), "packed output differs"
            assert torch.allclose(h_n[:, b:b + 1], hb, atol=1e-12), "packed state differs"
            assert not y[n:, b].any(), "padding output is not 0"


def generate(mode, layers, bidir, padded, seed):
    torch.manual_seed(seed)
    D = 2 if bidir else 1
    module = make_module(mode, layers, bidir)        # PyTorch's own float32 init
    x32 = torch.randn(T, B, I, dtype=torch.float32)
    w32 = torch.randn(T, B, D * H, dtype=torch.float32)
    lengths = PAD_LENGTHS if padded else [T] * B

    model = module.double()
    x = x32.double().requires_grad_(True)
    w = w32.double()
    if padded:
        packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
        out, state = model(packed)
        y, _ = pad_packed_sequence(out, total_length=T)
    else:
        y, state = model(x)
    h_n, c_n = state if mode == "lstm" else (state, None)
    if padded:
        check_padding_semantics(model, x, y, h_n, lengths)
    (y * w).sum().backward()

    f32 = lambda t: t.detach().to(torch.float32)
    tensors = [(name, f32(p)) for name, p in model.named_parameters()]
    tensors += [("x", x32), ("lengths", torch.tensor(lengths, dtype=torch.int32)),
                ("y", f32(y)), ("h_n", f32(h_n))]
    if c_n is not None:
        tensors.append(("c_n", f32(c_n)))
    tensors += [("w", w32), ("grad.x", f32(x.grad))]
    tensors += [("grad." + name, f32(p.grad)) for name, p in model.named_parameters()]

    meta = {"mode": mode, "layers": str(layers), "hidden": str(H), "input": str(I),
            "bidirectional": str(bidir), "T": str(T), "B": str(B),
            "torch_version": torch.__version__, "seed": str(seed),
            "generator": "tools/gen_fixtures.py"}
    name = f"{mode}_l{layers}{'_bidir' if bidir else ''}{'_pad' if padded else ''}"
    path = os.path.join(OUT_DIR, name + ".safetensors")
    write_safetensors(path, tensors, meta)
    return path


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    k = 0
    for mode in ("rnn", "rnn-relu", "lstm", "gru"):
        for layers, bidir, padded in ((1, 0, False), (2, 1, True)):
            path = generate(mode, layers, bidir, padded, SEED + k)
            k += 1
            print(f"{os.path.relpath(path)}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
