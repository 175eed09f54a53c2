#!/usr/bin/python3
"""Generate PyTorch golden fixtures for whole mnemo models (input → blocks → head).

Run with Debian's python3-torch:   /usr/bin/python3 tools/gen_fixtures_model.py

bidir_summary_<cell>.safetensors: a 2-layer bidirectional nn.LSTM / nn.GRU over padded
sequences (pack_padded_sequence, enforce_sorted=False) whose head reads
torch.cat([h_n[-2], h_n[-1]], 1) — the last layer's forward state at each sequence's last
real step joined with its reverse state at step 0 — through nn.Linear(2H, O). This is what
a mnemo model with output at the last step must compute for a bidirectional last block.

Each file holds the parameters under mnemo's checkpoint names (rnn.weight_ih_l0, ...,
head.weight, head.bias), the input x [T,B,I], lengths [B], targets [B,O], the output
y [B,O], the MSE loss (mean over B·O, as mnemo's) and its gradients grad.<name> and
grad.x. Computed in float64 from float32 inputs, like tools/gen_fixtures.py.
"""
import os
import sys

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import write_safetensors, OUT_DIR  # noqa: E402

SEED = 20261130
T, B, I, H, O, LAYERS = 6, 3, 4, 5, 2, 2
LENGTHS = [4, 6, 2]


def generate(cell):
    torch.manual_seed(SEED)
    rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(I, H, num_layers=LAYERS, bidirectional=True)
    head = nn.Linear(2 * H, O)
    x32 = torch.randn(T, B, I)
    t32 = torch.randn(B, O)
    rnn, head = rnn.double(), head.double()
    x = x32.double().requires_grad_(True)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False)
    _, state = rnn(packed)
    h_n = state[0] if cell == "lstm" else state
    y = head(torch.cat([h_n[-2], h_n[-1]], 1))
    loss = nn.functional.mse_loss(y, t32.double())
    loss.backward()

    f32 = lambda t: t.detach().to(torch.float32)
    named = [("rnn." + n, p) for n, p in rnn.named_parameters()]
    named += [("head." + n, p) for n, p in head.named_parameters()]
    tensors = [(n, f32(p)) for n, p in named]
    tensors += [("x", x32), ("lengths", torch.tensor(LENGTHS, dtype=torch.int32)),
                ("target", t32), ("y", f32(y)), ("loss", f32(loss.reshape(1))),
                ("grad.x", f32(x.grad))]
    tensors += [("grad." + n, f32(p.grad)) for n, p in named]
    meta = {"cell": cell, "layers": str(LAYERS), "hidden": str(H), "input": str(I),
            "output": str(O), "T": str(T), "B": str(B), "torch_version": torch.__version__,
            "seed": str(SEED), "generator": "tools/gen_fixtures_model.py"}
    path = os.path.join(OUT_DIR, f"bidir_summary_{cell}.safetensors")
    write_safetensors(path, tensors, meta)
    print(os.path.basename(path))


if __name__ == "__main__":
    for c in ("lstm", "gru"):
        generate(c)
