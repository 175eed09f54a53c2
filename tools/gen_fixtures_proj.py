#!/usr/bin/python3
"""Golden fixtures for PyTorch's recurrent options: nn.LSTM(proj_size=P) and bias=False.

Run with Debian's python3-torch:   /usr/bin/python3 tools/gen_fixtures_proj.py

Same layout and conventions as tools/gen_fixtures.py (whose writer and padding check this
script imports): the state dict under PyTorch's names, `x` [T,B,I], `lengths` [B] (I32),
`y` [T,B,D*P], `h_n` [L*D,B,P], `c_n` [L*D,B,H] for LSTM, loss weights `w`, and the
gradients of loss = sum(y * w) as `grad.x` and `grad.<param>`. P is the output width of
one direction: proj_size for a projected LSTM, else H. Two more metadata keys say which
options the module has: `proj` (proj_size, "0" for none) and `bias` ("1" or "0").

Files written into tests/fixtures/:
  lstm_proj_l1                   nn.LSTM(proj_size=2), 1 layer, full lengths
  lstm_proj_l2_bidir_pad         2 layers, bidirectional, lengths [3, 5, 1]
  lstm_proj_nobias_l2_bidir_pad  the same without biases
  <mode>_nobias_l1               bias=False, 1 layer, for rnn, rnn-relu, lstm, gru
  <mode>_nobias_l2_bidir_pad     bias=False, 2 layers, bidirectional, padded
"""
import os
import sys

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import (B, H, I, OUT_DIR, PAD_LENGTHS, T, check_padding_semantics,  # noqa: E402
                          make_module, write_safetensors)

SEED = 20250115
HP, P = 4, 2   # a projected LSTM's hidden size and proj_size (P < H, as PyTorch requires)


def build(mode, layers, bidir, proj, bias):
    if proj:
        return torch.nn.LSTM(input_size=I, hidden_size=HP, num_layers=layers,
                             bidirectional=bool(bidir), proj_size=proj, bias=bias)
    module = make_module(mode, layers, bidir)
    if bias:
        return module
    # make_module builds with biases; rebuild the same kind without them
    kw = dict(input_size=I, hidden_size=H, num_layers=layers, bidirectional=bool(bidir),
              bias=False)
    if mode in ("rnn", "rnn-relu"):
        return torch.nn.RNN(nonlinearity="tanh" if mode == "rnn" else "relu", **kw)
    return torch.nn.LSTM(**kw) if mode == "lstm" else torch.nn.GRU(**kw)


def generate(name, mode, layers, bidir, padded, proj, bias, seed):
    torch.manual_seed(seed)
    D = 2 if bidir else 1
    hidden = HP if proj else H
    out = proj if proj else H
    module = build(mode, layers, bidir, proj, bias)   # PyTorch's own float32 init
    names = [n for n, _ in module.named_parameters()]
    assert any(n.startswith("bias") for n in names) == bias
    assert any(n.startswith("weight_hr") for n in names) == bool(proj)
    x32 = torch.randn(T, B, I, dtype=torch.float32)
    w32 = torch.randn(T, B, D * out, dtype=torch.float32)
    lengths = PAD_LENGTHS if padded else [T] * B

    model = module.double()
    x = x32.double().requires_grad_(True)
    if padded:
        packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
        y, state = model(packed)
        y, _ = pad_packed_sequence(y, total_length=T)
    else:
        y, state = model(x)
    h_n, c_n = state if mode == "lstm" else (state, None)
    assert y.shape == (T, B, D * out) and h_n.shape == (layers * D, B, out)
    if c_n is not None:
        assert c_n.shape == (layers * D, B, hidden)
    if padded:
        check_padding_semantics(model, x, y, h_n, lengths)
    (y * w32.double()).sum().backward()

    f32 = lambda t: t.detach().to(torch.float32)
    tensors = [(n, f32(p)) for n, p in model.named_parameters()]
    tensors += [("x", x32), ("lengths", torch.tensor(lengths, dtype=torch.int32)),
                ("y", f32(y)), ("h_n", f32(h_n))]
    if c_n is not None:
        tensors.append(("c_n", f32(c_n)))
    tensors += [("w", w32), ("grad.x", f32(x.grad))]
    tensors += [("grad." + n, f32(p.grad)) for n, p in model.named_parameters()]
    meta = {"mode": mode, "layers": str(layers), "hidden": str(hidden), "input": str(I),
            "bidirectional": str(bidir), "T": str(T), "B": str(B), "proj": str(proj),
            "bias": "1" if bias else "0", "torch_version": torch.__version__,
            "seed": str(seed), "generator": "tools/gen_fixtures_proj.py"}
    path = os.path.join(OUT_DIR, name + ".safetensors")
    write_safetensors(path, tensors, meta)
    return path


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    cases = [("lstm_proj_l1", "lstm", 1, 0, False, P, True),
             ("lstm_proj_l2_bidir_pad", "lstm", 2, 1, True, P, True),
             ("lstm_proj_nobias_l2_bidir_pad", "lstm", 2, 1, True, P, False)]
    for mode in ("rnn", "rnn-relu", "lstm", "gru"):
        cases.append((f"{mode}_nobias_l1", mode, 1, 0, False, 0, False))
        cases.append((f"{mode}_nobias_l2_bidir_pad", mode, 2, 1, True, 0, False))
    for k, case in enumerate(cases):
        path = generate(*case, SEED + k)
        print(f"{os.path.relpath(path)}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
