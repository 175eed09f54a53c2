#!/usr/bin/python3
"""Check that a mnemo checkpoint's recurrent weights load into PyTorch and compute the same.

    build/mnemo train --task adding --length 20 --model lstm --layers 2 --bidirectional \\
        --hidden 16 --steps 50 --save m.safetensors
    /usr/bin/python3 tools/check_torch_interop.py m.safetensors [--mnemo build/mnemo]

Reads the checkpoint (by hand: the safetensors package is not needed), builds the matching
nn.RNN / nn.LSTM / nn.GRU from its __metadata__, strips the "rnn." prefix and calls
load_state_dict (strict: every tensor must fit). Then it runs the module and
`mnemo predict` on the same random input and prints the largest relative difference,
measured as tests/test_golden.c does: |a - b| / max(|b|, 1e-2 * max|b|).
The reference is the torch module in float64; torch's own float32 result is printed
beside mnemo's for scale. Not part of the test suite (it needs PyTorch).
Exit status 0 when mnemo is within --tolerance of the reference, or no further from it
than twice torch's own float32 result is (a trained model can amplify float32 rounding
beyond 1e-5 in any float32 implementation); 1 otherwise.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64,
          "U8": np.uint8}


def load_safetensors(path):
    """{name: numpy array}, {metadata} of a safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=DTYPES[e["dtype"]])
        tensors[name] = arr.reshape(e["shape"]).copy()
    return tensors, meta


def make_module(cell, input_size, hidden, layers, bidirectional):
    kw = dict(input_size=input_size, hidden_size=hidden, num_layers=layers,
              bidirectional=bidirectional)
    if cell in ("rnn", "rnn-relu"):
        return nn.RNN(nonlinearity="tanh" if cell == "rnn" else "relu", **kw)
    return {"lstm": nn.LSTM, "gru": nn.GRU}[cell](**kw)


def rel_error(got, ref):
    ref = ref.astype(np.float64)
    denom = np.maximum(np.abs(ref), 1e-2 * np.abs(ref).max())
    return float((np.abs(got.astype(np.float64) - ref) / denom).max())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--mnemo", default=os.path.join(os.path.dirname(__file__), "..", "build",
                                                    "mnemo"))
    ap.add_argument("--steps", type=int, default=50, help="T of the random input")
    ap.add_argument("--batch", type=int, default=8, help="B of the random input")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tolerance", type=float, default=1e-5)
    args = ap.parse_args()

    tensors, meta = load_safetensors(args.checkpoint)
    if meta.get("format") != "mnemo":
        sys.exit(f"{args.checkpoint}: not a mnemo checkpoint (no __metadata__ format=mnemo)")
    cell = meta["model.cell"]
    hidden = int(meta["model.hidden_size"])
    layers = int(meta["model.num_layers"])
    bidir = meta["model.bidirectional"] == "1"
    vocab = int(meta.get("model.vocab_size", "0"))
    # with tokens, the stack reads the embedding's output
    input_size = (int(meta["model.embed_size"]) or hidden) if vocab else int(meta["model.input_size"])

    # The other direction: mnemo's names are PyTorch's under the "rnn." prefix.
    module = make_module(cell, input_size, hidden, layers, bidir)
    state = {k[len("rnn."):]: torch.from_numpy(v) for k, v in tensors.items()
             if k.startswith("rnn.")}
    module.load_state_dict(state)          # strict: raises on a missing or extra tensor

    torch.manual_seed(args.seed)
    x = torch.randn(args.steps, args.batch, input_size, dtype=torch.float32)
    with torch.no_grad():
        y32 = module(x)[0].numpy()
        y64 = module.double()(x.double())[0].numpy()

    with tempfile.TemporaryDirectory() as d:
        xp, yp = os.path.join(d, "x.npy"), os.path.join(d, "y.npy")
        np.save(xp, x.numpy())
        cmd = [args.mnemo, "predict", "--model", cell, "--layers", str(layers), "--hidden",
               str(hidden), "--input-size", str(input_size), "--weights", args.checkpoint,
               "--input", xp, "--output", yp]
        if bidir:
            cmd.append("--bidirectional")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        ym = np.load(yp)

    err, err32 = rel_error(ym, y64), rel_error(y32, y64)
    desc = f"{cell}, {layers} layer{'s' if layers > 1 else ''}, hidden {hidden}" + \
           (", bidirectional" if bidir else "")
    print(f"{os.path.basename(args.checkpoint)}: {desc}; input [{args.steps}, {args.batch}, "
          f"{input_size}]; load_state_dict: ok")
    print(f"  max relative difference, mnemo predict vs torch float64: {err:.3g}")
    print(f"  max relative difference, torch float32 vs torch float64: {err32:.3g}")
    print(f"  max relative difference, mnemo predict vs torch float32: {rel_error(ym, y32):.3g}")
    print(f"  max absolute difference, mnemo predict vs torch float64: "
          f"{float(np.abs(ym - y64).max()):.3g} (outputs up to {float(np.abs(y64).max()):.3g})")
    if err <= args.tolerance:
        print(f"  ok: within {args.tolerance:g}")
        return 0
    if err <= 2 * err32:
        print(f"  ok: above {args.tolerance:g}, but so is torch's own float32 ({err32:.3g})")
        return 0
    print(f"  FAIL: above {args.tolerance:g} and more than twice torch's float32 difference")
    return 1


if __name__ == "__main__":
    sys.exit(main())
