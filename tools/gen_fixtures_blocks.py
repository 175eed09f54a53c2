#!/usr/bin/python3
"""Generate the PyTorch golden fixtures for mnemo's per-position layers and block wrapper.

Run from anywhere with Debian's python3-torch:   /usr/bin/python3 tools/gen_fixtures_blocks.py

Writes into tests/fixtures/ (next to this script's repository root):
  layernorm.safetensors              nn.LayerNorm(D, eps)
  rmsnorm.safetensors                x * rsqrt(mean(x^2) + eps) * weight (torch ops: torch
                                     1.13 has no nn.RMSNorm; the formula is torch >= 2.4's)
  feedforward_relu.safetensors       linear2(relu(linear1(x)))
  feedforward_gelu.safetensors       linear2(gelu(linear1(x))), exact erf GELU
  block_prenorm_linear.safetensors   x + linear(LayerNorm(x))
  block_postnorm_linear.safetensors  LayerNorm(x + linear(x))

Each file holds the parameters under the mnemo layer's names (weight, bias,
linear1.weight, ..., norm.weight, norm.bias), the input `x` [T,B,D], `lengths` [B] (I32,
all T: these layers work per position), the loss weights `w` [T,B,D], the output `y`
[T,B,D], and the gradients of loss = sum(y * w) with respect to `x` (`grad.x`) and every
parameter (`grad.<name>`). Inputs and parameters are drawn in float32 and computed in
float64, like tools/gen_fixtures.py. Norm weights and biases are random (not PyTorch's
1 / 0 init) so that their gradients and their use in forward are both tested. The
configuration (`mode`, `T`, `B`, `dim`, `ff`, `eps`, `torch_version`, `seed`) is in
__metadata__ as strings.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import OUT_DIR, write_safetensors  # noqa: E402

SEED = 20240901
T, B, D, FF = 4, 3, 6, 10
EPS = 1e-5


def rmsnorm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def random_norm_params(prefix, with_bias):
    params = {prefix + "weight": 1.0 + 0.5 * torch.randn(D, dtype=torch.float32)}
    if with_bias:
        params[prefix + "bias"] = 0.5 * torch.randn(D, dtype=torch.float32)
    return params


def linear_params(prefix, fan_in, fan_out):
    lin = nn.Linear(fan_in, fan_out)           # PyTorch's own float32 init
    return {prefix + "weight": lin.weight.detach().clone(),
            prefix + "bias": lin.bias.detach().clone()}


def case(mode):
    """Returns (params as float32 dict, function of (x, params as float64) -> y)."""
    if mode == "layernorm":
        return (random_norm_params("", True),
                lambda x, p: F.layer_norm(x, (D,), p["weight"], p["bias"], EPS))
    if mode == "rmsnorm":
        return random_norm_params("", False), lambda x, p: rmsnorm(x, p["weight"], EPS)
    if mode in ("feedforward_relu", "feedforward_gelu"):
        act = F.relu if mode == "feedforward_relu" else (lambda h: F.gelu(h))
        params = {**linear_params("linear1.", D, FF), **linear_params("linear2.", FF, D)}
        return params, lambda x, p: F.linear(
            act(F.linear(x, p["linear1.weight"], p["linear1.bias"])),
            p["linear2.weight"], p["linear2.bias"])
    if mode in ("block_prenorm_linear", "block_postnorm_linear"):
        params = {**linear_params("", D, D), **random_norm_params("norm.", True)}

        def ln(z, p):
            return F.layer_norm(z, (D,), p["norm.weight"], p["norm.bias"], EPS)

        def lin(z, p):
            return F.linear(z, p["weight"], p["bias"])
        if mode == "block_prenorm_linear":
            return params, lambda x, p: x + lin(ln(x, p), p)
        return params, lambda x, p: ln(x + lin(x, p), p)
    raise ValueError(mode)


def generate(mode, seed):
    torch.manual_seed(seed)
    params32, fn = case(mode)
    x32 = torch.randn(T, B, D, dtype=torch.float32) * 1.5 + 0.3   # off-centre rows
    w32 = torch.randn(T, B, D, dtype=torch.float32)
    p64 = {k: v.double().requires_grad_(True) for k, v in params32.items()}
    x = x32.double().requires_grad_(True)
    y = fn(x, p64)
    (y * w32.double()).sum().backward()

    f32 = lambda t: t.detach().to(torch.float32)
    tensors = list(params32.items())
    tensors += [("x", x32), ("lengths", torch.full((B,), T, dtype=torch.int32)),
                ("w", w32), ("y", f32(y)), ("grad.x", f32(x.grad))]
    tensors += [("grad." + k, f32(v.grad)) for k, v in p64.items()]
    meta = {"mode": mode, "T": str(T), "B": str(B), "dim": str(D), "ff": str(FF),
            "eps": repr(EPS), "torch_version": torch.__version__, "seed": str(seed),
            "generator": "tools/gen_fixtures_blocks.py"}
    path = os.path.join(OUT_DIR, mode + ".safetensors")
    write_safetensors(path, tensors, meta)
    return path


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    modes = ("layernorm", "rmsnorm", "feedforward_relu", "feedforward_gelu",
             "block_prenorm_linear", "block_postnorm_linear")
    for k, mode in enumerate(modes):
        path = generate(mode, SEED + k)
        print(f"{os.path.relpath(path)}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
