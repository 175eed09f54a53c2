#!/usr/bin/python3
"""Generate the fixtures of `mnemo predict` and the .npy reader.

Run from anywhere with Debian's python3-torch:   /usr/bin/python3 tools/gen_predict_fixtures.py

tests/fixtures/predict/, for each cell (rnn, rnn-relu, lstm, gru) and each of
  <mode>_l1        1 layer, unidirectional
  <mode>_l2_bidir  2 layers, bidirectional
holds
  <name>.safetensors  the module's plain state dict (weight_ih_l0, ..., bias_hh_l1_reverse),
                      F32, exactly what safetensors.torch.save_file(module.state_dict())
                      writes; __metadata__ records the configuration as strings
  <name>_x.npy        input x, float32 [T, B, I] (numpy.save)
  <name>_y.npy        output y = module(x)[0], float32 [T, B, D*H]
and, for the 2-layer bidirectional ones,
  <name>_lengths.npy  int32 [B] sequence lengths (unsorted)
  <name>_y_pad.npy    output of the same x packed with those lengths
                      (pack_padded_sequence / pad_packed_sequence: 0 at padding)

Weights and inputs are drawn in float32 (PyTorch's own init), then the module runs in
float64 and the result is cast to float32, so the references are as exact as float32 can
hold them (as tools/gen_fixtures.py does).

tests/fixtures/npy/ holds arrays written by numpy itself (numpy.save, and
numpy.lib.format.write_array for format 2.0), which tests/test_npy.c reads and, for format
1.0, reproduces byte for byte.

safetensors is written by hand (struct + json), so nothing beyond torch and numpy is needed.
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

SEED = 20240611
T, B, I, H = 6, 3, 5, 4          # H != I so a transposed weight cannot pass
PAD_LENGTHS = [4, 6, 1]

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PREDICT_DIR = os.path.join(ROOT, "tests", "fixtures", "predict")
NPY_DIR = os.path.join(ROOT, "tests", "fixtures", "npy")


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, float32 torch tensor), written in this order."""
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, t in tensors:
        data = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
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


def make_module(mode, layers, bidir):
    kw = dict(input_size=I, hidden_size=H, num_layers=layers, bidirectional=bidir)
    if mode == "rnn":
        return nn.RNN(nonlinearity="tanh", **kw)
    if mode == "rnn-relu":
        return nn.RNN(nonlinearity="relu", **kw)
    if mode == "lstm":
        return nn.LSTM(**kw)
    return nn.GRU(**kw)


def rel_error(got, ref):
    """tests/test_golden.c's measure: |got-ref| / max(|ref|, 1e-2 * max|ref|)."""
    scale = np.abs(ref).max()
    denom = np.maximum(np.abs(ref), 1e-2 * scale)
    return float((np.abs(got.astype(np.float64) - ref) / denom).max())


def generate(mode, layers, bidir, seed):
    torch.manual_seed(seed)
    module = make_module(mode, layers, bidir)          # PyTorch's float32 init
    x32 = torch.randn(T, B, I, dtype=torch.float32)
    name = f"{mode}_l{layers}{'_bidir' if bidir else ''}"
    meta = {"mode": mode, "layers": str(layers), "hidden": str(H), "input": str(I),
            "bidirectional": str(int(bidir)), "T": str(T), "B": str(B),
            "torch_version": torch.__version__, "seed": str(seed),
            "generator": "tools/gen_predict_fixtures.py"}
    write_safetensors(os.path.join(PREDICT_DIR, name + ".safetensors"),
                      list(module.state_dict().items()), meta)
    with torch.no_grad():
        y32 = module(x32)[0].numpy()                   # PyTorch's own float32 answer
        m64 = module.double()
        y = m64(x32.double())[0]
        np.save(os.path.join(PREDICT_DIR, name + "_x.npy"), x32.numpy())
        np.save(os.path.join(PREDICT_DIR, name + "_y.npy"), y.float().numpy())
        print(f"{name}: torch float32 vs float64 reference {rel_error(y32, y.numpy()):.2e}")
        if layers == 2 and bidir:
            packed = pack_padded_sequence(x32.double(), torch.tensor(PAD_LENGTHS),
                                          enforce_sorted=False)
            yp, _ = pad_packed_sequence(m64(packed)[0], total_length=T)
            np.save(os.path.join(PREDICT_DIR, name + "_lengths.npy"),
                    np.array(PAD_LENGTHS, dtype=np.int32))
            np.save(os.path.join(PREDICT_DIR, name + "_y_pad.npy"), yp.float().numpy())


def generate_npy():
    """Arrays written by numpy, for the reader's compatibility tests."""
    a = (np.arange(6, dtype=np.float32) - 2.5).reshape(2, 3)
    np.save(os.path.join(NPY_DIR, "f32_2x3.npy"), a)
    np.save(os.path.join(NPY_DIR, "i32_5.npy"),
            np.array([-2147483648, -1, 0, 7, 2147483647], dtype=np.int32))
    np.save(os.path.join(NPY_DIR, "f32_scalar.npy"), np.float32(1.5))
    np.save(os.path.join(NPY_DIR, "i32_0x4.npy"), np.zeros((0, 4), dtype=np.int32))
    np.save(os.path.join(NPY_DIR, "f32_rank8.npy"),
            np.arange(2 * 1 * 2 * 1 * 1 * 3 * 1 * 1, dtype=np.float32).reshape(2, 1, 2, 1, 1, 3, 1, 1))
    with open(os.path.join(NPY_DIR, "f32_2x3_v2.npy"), "wb") as f:
        np.lib.format.write_array(f, a, version=(2, 0))
    for fn in sorted(os.listdir(NPY_DIR)):
        print(f"npy/{fn}: {os.path.getsize(os.path.join(NPY_DIR, fn))} bytes")


def main():
    os.makedirs(PREDICT_DIR, exist_ok=True)
    os.makedirs(NPY_DIR, exist_ok=True)
    k = 0
    for mode in ("rnn", "rnn-relu", "lstm", "gru"):
        for layers, bidir in ((1, False), (2, True)):
            generate(mode, layers, bidir, SEED + k)
            k += 1
    generate_npy()


if __name__ == "__main__":
    main()
