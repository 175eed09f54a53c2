#!/usr/bin/python3
"""Fixtures of `mnemo predict` for PyTorch's proj_size and bias=False, and int64 lengths.

Run with Debian's python3-torch:   /usr/bin/python3 tools/gen_predict_fixtures_proj.py

Writes into tests/fixtures/predict/, in the layout of tools/gen_predict_fixtures.py (whose
writer this script imports):
  lstm_proj_l1          nn.LSTM(4, 5, proj_size=3): the module of issue 15's report
  lstm_proj_l2_bidir    nn.LSTM(4, 5, num_layers=2, bidirectional=True, proj_size=3)
  lstm_nobias_l1        nn.LSTM(4, 5, bias=False)
  gru_nobias_l2_bidir   nn.GRU(4, 5, num_layers=2, bidirectional=True, bias=False)
each as <name>.safetensors (module.state_dict(), F32), <name>_x.npy (float32 [T, B, I]) and
<name>_y.npy (module(x)[0]); the bidirectional ones also <name>_lengths64.npy (int64 [B],
numpy's default integer type, unsorted) and <name>_y_pad.npy (the output for x packed with
those lengths: pack_padded_sequence / pad_packed_sequence, 0 past each length).
"""
import os
import sys

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_predict_fixtures import PREDICT_DIR, rel_error, write_safetensors  # noqa: E402

SEED = 20250116
T, B, I, H, P = 5, 3, 4, 5, 3
PAD_LENGTHS = [2, 5, 4]


def generate(name, module, meta, seed, padded):
    x32 = torch.randn(T, B, I, dtype=torch.float32)
    meta = dict(meta, input=str(I), hidden=str(H), T=str(T), B=str(B), seed=str(seed),
                torch_version=torch.__version__, generator="tools/gen_predict_fixtures_proj.py")
    write_safetensors(os.path.join(PREDICT_DIR, name + ".safetensors"),
                      list(module.state_dict().items()), meta)
    with torch.no_grad():
        y32 = module(x32)[0].numpy()
        m64 = module.double()
        y = m64(x32.double())[0]
        np.save(os.path.join(PREDICT_DIR, name + "_x.npy"), x32.numpy())
        np.save(os.path.join(PREDICT_DIR, name + "_y.npy"), y.float().numpy())
        print(f"{name}: y {list(y.shape)}, torch float32 vs float64 {rel_error(y32, y.numpy()):.2e}")
        if padded:
            packed = pack_padded_sequence(x32.double(), torch.tensor(PAD_LENGTHS),
                                          enforce_sorted=False)
            yp, _ = pad_packed_sequence(m64(packed)[0], total_length=T)
            for b, n in enumerate(PAD_LENGTHS):
                assert not yp[n:, b].any(), "padding output is not 0"
            np.save(os.path.join(PREDICT_DIR, name + "_lengths64.npy"),
                    np.array(PAD_LENGTHS, dtype=np.int64))
            np.save(os.path.join(PREDICT_DIR, name + "_y_pad.npy"), yp.float().numpy())


def main():
    os.makedirs(PREDICT_DIR, exist_ok=True)
    nn = torch.nn
    cases = [
        ("lstm_proj_l1", lambda: nn.LSTM(I, H, proj_size=P),
         {"mode": "lstm", "layers": "1", "bidirectional": "0", "proj_size": str(P)}, False),
        ("lstm_proj_l2_bidir", lambda: nn.LSTM(I, H, num_layers=2, bidirectional=True,
                                               proj_size=P),
         {"mode": "lstm", "layers": "2", "bidirectional": "1", "proj_size": str(P)}, True),
        ("lstm_nobias_l1", lambda: nn.LSTM(I, H, bias=False),
         {"mode": "lstm", "layers": "1", "bidirectional": "0", "bias": "0"}, False),
        ("gru_nobias_l2_bidir", lambda: nn.GRU(I, H, num_layers=2, bidirectional=True,
                                               bias=False),
         {"mode": "gru", "layers": "2", "bidirectional": "1", "bias": "0"}, True),
    ]
    for k, (name, make, meta, padded) in enumerate(cases):
        torch.manual_seed(SEED + k)
        generate(name, make(), meta, SEED + k, padded)


if __name__ == "__main__":
    main()
