#!/usr/bin/python3
"""Generate the fixtures of the widened .npy and safetensors readers (issue 15, items 2-3).

Run from anywhere with Debian's python3-torch:   /usr/bin/python3 tools/gen_reader_fixtures.py

tests/fixtures/npy/, arrays numpy itself writes in the layouts numpy.load reads:
  f32_3x2x4_v3.npy          float32 [3, 2, 4], format 3.0 (write_array(version=(3, 0)))
  f32_3x2x4_be.npy          the same values big-endian ('>f4')
  f32_3x2x4_fortran.npy     the same values in Fortran order (numpy.asfortranarray)
  f32_3x2x4_be_fortran.npy  both
  i32_3x2x4_{v3,be,fortran}.npy   int32 [3, 2, 4], the same three layouts
with x[k] = float32((k - 11.5) / 3) and i[k] = k * 97531 - 1000003 for k = 0..23 in C
order, so that a test can compute every element.

tests/fixtures/predict/, PyTorch state dicts beside float32 reference outputs (T=6, B=3,
input 5, hidden 4, as tools/gen_predict_fixtures.py):
  lstm_half.safetensors           nn.LSTM(5, 4).half(): every weight F16
  lstm_bf16_l2_bidir.safetensors  nn.LSTM(5, 4, 2, bidirectional).bfloat16(): BF16
  gru_f64.safetensors             nn.GRU(5, 4).double() with weights nudged off float32
                                  (by up to 1e-9 relative), so reading them rounds
  lstm_mixed.safetensors          rnn.* F32 (an nn.LSTM(5, 4) under prefix 'rnn.') beside
                                  head.weight F16, head.bias BF16 and mask BOOL, which a
                                  reader of the LSTM never needs
  <name>_x.npy, <name>_y.npy      input and output; y is the module run in float64 on the
                                  weights as mnemo reads them (F16/BF16 widened exactly,
                                  F64 rounded to float32), stored as float32
  lstm_l1_x_be_fortran.npy        lstm_l1_x.npy (tools/gen_predict_fixtures.py) stored
                                  big-endian in Fortran order: the same input, so
                                  `mnemo predict` on it must give lstm_l1_y.npy

tests/fixtures/transformer/post_relu_l1_f64.safetensors: post_relu_l1.safetensors
(tools/gen_fixtures_transformer.py) with every tensor widened to F64, exactly; read back
as float32 it is the same model, so `mnemo predict` gives the same bytes on it.

The metadata records mode, layers, hidden, input, bidirectional, T, B and the dtype, as
tests/test_predict.c's fixtures do. safetensors is written by hand (struct + json).
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn

SEED = 20250515
T, B, I, H = 6, 3, 5, 4

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PREDICT_DIR = os.path.join(ROOT, "tests", "fixtures", "predict")
NPY_DIR = os.path.join(ROOT, "tests", "fixtures", "npy")

ST_DTYPE = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
            torch.float64: "F64", torch.bool: "BOOL", torch.int32: "I32"}


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:      # numpy has no bfloat16: its bit pattern as int16
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, torch tensor of any dtype in ST_DTYPE), in this order."""
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, t in tensors:
        data = tensor_bytes(t)
        header[name] = {"dtype": ST_DTYPE[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)
    os.replace(path + ".tmp", path)


def generate_npy():
    k = np.arange(24)
    x = ((k - 11.5) / 3).astype(np.float32).reshape(3, 2, 4)
    i = (k * 97531 - 1000003).astype(np.int32).reshape(3, 2, 4)
    for name, a in (("f32", x), ("i32", i)):
        with open(os.path.join(NPY_DIR, f"{name}_3x2x4_v3.npy"), "wb") as f:
            np.lib.format.write_array(f, a, version=(3, 0))
        np.save(os.path.join(NPY_DIR, f"{name}_3x2x4_be.npy"), a.astype(a.dtype.newbyteorder(">")))
        np.save(os.path.join(NPY_DIR, f"{name}_3x2x4_fortran.npy"), np.asfortranarray(a))
    np.save(os.path.join(NPY_DIR, "f32_3x2x4_be_fortran.npy"), np.asfortranarray(x.astype(">f4")))
    for fn in sorted(os.listdir(NPY_DIR)):
        if "3x2x4" in fn:
            a = np.load(os.path.join(NPY_DIR, fn))
            ref = x if fn.startswith("f32") else i
            assert a.shape == ref.shape and np.array_equal(a, ref), fn
            print(f"npy/{fn}: {os.path.getsize(os.path.join(NPY_DIR, fn))} bytes")


def make(mode, layers, bidir):
    kw = dict(input_size=I, hidden_size=H, num_layers=layers, bidirectional=bidir)
    return nn.LSTM(**kw) if mode == "lstm" else nn.GRU(**kw)


def reference(module, weights, x32):
    """module run in float64 with the given float32-valued weights, as float32."""
    m = module.double()
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(weights[name].double())
        return m(x32.double())[0].float().numpy()


def generate_state_dict(name, mode, layers, bidir, dtype, seed, prefix="", extra=()):
    torch.manual_seed(seed)
    module = make(mode, layers, bidir)                 # PyTorch's float32 init
    x32 = torch.randn(T, B, I, dtype=torch.float32)
    sd = {k: v.detach().clone() for k, v in module.state_dict().items()}
    if dtype == torch.float64:
        g = torch.Generator().manual_seed(seed)
        stored = {k: v.double() * (1 + 1e-9 * (2 * torch.rand(v.shape, generator=g,
                  dtype=torch.float64) - 1)) for k, v in sd.items()}
    else:
        stored = {k: v.to(dtype) for k, v in sd.items()}
    as_read = {k: v.float() for k, v in stored.items()}   # what mnemo computes with
    if dtype == torch.float64:
        assert any(not torch.equal(v, as_read[k].double()) for k, v in stored.items())
    meta = {"mode": mode, "layers": str(layers), "hidden": str(H), "input": str(I),
            "bidirectional": str(int(bidir)), "T": str(T), "B": str(B),
            "dtype": ST_DTYPE[dtype], "torch_version": torch.__version__, "seed": str(seed),
            "generator": "tools/gen_reader_fixtures.py"}
    tensors = [(prefix + k, v) for k, v in stored.items()] + list(extra)
    write_safetensors(os.path.join(PREDICT_DIR, name + ".safetensors"), tensors, meta)
    y = reference(module, as_read, x32)
    np.save(os.path.join(PREDICT_DIR, name + "_x.npy"), x32.numpy())
    np.save(os.path.join(PREDICT_DIR, name + "_y.npy"), y)
    print(f"predict/{name}: {len(tensors)} tensors, "
          f"{os.path.getsize(os.path.join(PREDICT_DIR, name + '.safetensors'))} bytes")


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = []
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        assert e["dtype"] == "F32", name
        b, end = e["data_offsets"]
        a = np.frombuffer(data[b:end], dtype="<f4").reshape(e["shape"])
        out.append((name, torch.from_numpy(a.copy())))
    return out, meta


def widen_transformer():
    src = os.path.join(ROOT, "tests", "fixtures", "transformer", "post_relu_l1.safetensors")
    tensors, meta = read_safetensors(src)
    meta = dict(meta, dtype="F64", generator="tools/gen_reader_fixtures.py",
                widened_from="post_relu_l1.safetensors")
    dst = src.replace(".safetensors", "_f64.safetensors")
    write_safetensors(dst, [(k, v.double()) for k, v in tensors], meta)
    print(f"transformer/{os.path.basename(dst)}: {os.path.getsize(dst)} bytes")


def main():
    os.makedirs(PREDICT_DIR, exist_ok=True)
    os.makedirs(NPY_DIR, exist_ok=True)
    generate_npy()
    generate_state_dict("lstm_half", "lstm", 1, False, torch.float16, SEED)
    generate_state_dict("lstm_bf16_l2_bidir", "lstm", 2, True, torch.bfloat16, SEED + 1)
    generate_state_dict("gru_f64", "gru", 1, False, torch.float64, SEED + 2)
    g = torch.Generator().manual_seed(SEED + 3)
    extra = [("head.weight", torch.randn(2, H, generator=g).half()),
             ("head.bias", torch.randn(2, generator=g).bfloat16()),
             ("mask", torch.rand(T, generator=g) > 0.5)]
    generate_state_dict("lstm_mixed", "lstm", 1, False, torch.float32, SEED + 3, "rnn.", extra)
    x = np.load(os.path.join(PREDICT_DIR, "lstm_l1_x.npy"))
    np.save(os.path.join(PREDICT_DIR, "lstm_l1_x_be_fortran.npy"),
            np.asfortranarray(x.astype(">f4")))
    assert np.array_equal(np.load(os.path.join(PREDICT_DIR, "lstm_l1_x_be_fortran.npy")), x)
    widen_transformer()


if __name__ == "__main__":
    main()
