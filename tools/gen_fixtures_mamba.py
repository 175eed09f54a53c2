#!/usr/bin/python3
"""Generate the reference fixtures for mnemo's Mamba block (src/layers/mamba.c).

Run from anywhere with Debian's python3-torch:   /usr/bin/python3 tools/gen_fixtures_mamba.py

PyTorch has no selective scan, so this file holds a plain PyTorch reference of one Mamba-1
block (Gu & Dao 2023), written after the slow path of the Mamba module in state-spaces/mamba
(mamba_ssm/modules/mamba_simple.py: in_proj, nn.Conv1d depthwise with padding 3 cut back to
causal, SiLU, x_proj, dt_proj, the selective scan, out_proj) with the scan as that
repository's selective_scan_ref computes it: a loop over the steps, h = exp(delta A) h +
delta B u, y = C h + D u, times SiLU(z). Autograd through it gives the gradients.

Writes into tests/fixtures/:
  mamba_init.safetensors    D=4, N=4: the Mamba module's own init (nn.Linear and nn.Conv1d
                            defaults, dt_proj as mamba_simple.py, A_log S4D-Real, D = 1)
  mamba_wide.safetensors    D=6, N=4: the init moved so that every path carries weight:
                            delta around 0.3 to 2 (the state mixes within the 7 steps), A_log
                            and D drawn away from their init values
  mamba_padded.safetensors  D=4, N=4, lengths [7, 4]: the second sequence runs 4 steps, its
                            padding holds large garbage, w is 0 there; the reference runs each
                            sequence on its own real steps only (y is 0 at padding), so the
                            layer must keep padding from reaching a real step

Each file: the parameters under the Mamba module's state-dict names, `x` [T,B,D], `lengths`
[B] (I32), `w` [T,B,D], `y` [T,B,D] and the gradients of loss = sum(y * w) for `x`
(`grad.x`) and every parameter (`grad.<name>`). Parameters and inputs are drawn in float32
and computed in float64. __metadata__ (strings): `mode`, `kind`, `T`, `B`, `in`, `out`,
`state`, `torch_version`, `seed`, `generator`.
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import OUT_DIR, write_safetensors  # noqa: E402

SEED = 20240913
T, B, N = 7, 2, 4


def mamba_init(d_model, d_state, dt_min=1e-3, dt_max=1e-1, dt_init_floor=1e-4):
    """The Mamba module's parameters as its __init__ draws them (expand 2, d_conv 4,
    dt_rank ceil(d_model / 16), no biases but the conv's and dt_proj's)."""
    E, R = 2 * d_model, math.ceil(d_model / 16)
    in_proj = nn.Linear(d_model, 2 * E, bias=False)
    conv1d = nn.Conv1d(E, E, 4, groups=E, padding=3, bias=True)
    x_proj = nn.Linear(E, R + 2 * d_state, bias=False)
    dt_proj = nn.Linear(R, E, bias=True)
    std = R ** -0.5
    nn.init.uniform_(dt_proj.weight, -std, std)
    dt = torch.exp(torch.rand(E) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    dt = dt.clamp(min=dt_init_floor)
    inv_dt = dt + torch.log(-torch.expm1(-dt))           # softplus^-1
    A_log = torch.log(torch.arange(1, d_state + 1, dtype=torch.float32).repeat(E, 1))
    out_proj = nn.Linear(E, d_model, bias=False)
    p = {"in_proj.weight": in_proj.weight, "conv1d.weight": conv1d.weight,
         "conv1d.bias": conv1d.bias, "x_proj.weight": x_proj.weight,
         "dt_proj.weight": dt_proj.weight, "dt_proj.bias": inv_dt, "A_log": A_log,
         "D": torch.ones(E), "out_proj.weight": out_proj.weight}
    return {k: v.detach().clone().contiguous() for k, v in p.items()}


def selective_scan_ref(u, delta, A, Bm, Cm, D, z, delta_bias):
    """selective_scan_ref of state-spaces/mamba (delta_softplus=True, real A, B and C
    input-dependent): u, delta, z (b, d, l); A (d, n); Bm, Cm (b, n, l); D (d)."""
    delta = F.softplus(delta + delta_bias[..., None])
    batch, dim, dstate = u.shape[0], A.shape[0], A.shape[1]
    deltaA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    deltaB_u = torch.einsum("bdl,bnl,bdl->bdln", delta, Bm, u)
    x = A.new_zeros((batch, dim, dstate))
    ys = []
    for i in range(u.shape[2]):
        x = deltaA[:, :, i] * x + deltaB_u[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, Cm[:, :, i]))
    y = torch.stack(ys, dim=2)
    out = y + u * D[..., None]
    return out * F.silu(z)


def mamba_forward(x_tbd, p):
    """The Mamba module's forward (mamba_simple.py without the fused kernels) on x [T,B,D]
    (mnemo's time-major layout), returning [T,B,D]."""
    L, batch, _ = x_tbd.shape
    E, R = p["D"].shape[0], p["dt_proj.weight"].shape[1]
    dstate = p["A_log"].shape[1]
    hidden = x_tbd.permute(1, 0, 2)                                   # (b, l, d)
    xz = (hidden @ p["in_proj.weight"].t()).transpose(1, 2)           # (b, 2E, l)
    u, z = xz.chunk(2, dim=1)
    u = F.silu(F.conv1d(u, p["conv1d.weight"], p["conv1d.bias"], padding=3, groups=E)[..., :L])
    x_dbl = u.transpose(1, 2).reshape(batch * L, E) @ p["x_proj.weight"].t()
    dt, Bm, Cm = torch.split(x_dbl, [R, dstate, dstate], dim=-1)
    dt = (p["dt_proj.weight"] @ dt.t()).reshape(E, batch, L).permute(1, 0, 2)
    Bm = Bm.reshape(batch, L, dstate).transpose(1, 2)
    Cm = Cm.reshape(batch, L, dstate).transpose(1, 2)
    A = -torch.exp(p["A_log"])
    y = selective_scan_ref(u, dt, A, Bm, Cm, p["D"], z, p["dt_proj.bias"])
    return (y.transpose(1, 2) @ p["out_proj.weight"].t()).permute(1, 0, 2)


def widen(p):
    """Move the init so that the scan matters within 7 steps: delta = softplus(bias + ...)
    around 0.3 to 2, A_log and D away from ln(n + 1) and 1."""
    q = dict(p)
    E = p["D"].shape[0]
    q["dt_proj.bias"] = torch.rand(E) * 2.0 - 0.5
    q["A_log"] = p["A_log"] + 0.3 * torch.randn(p["A_log"].shape)
    q["D"] = torch.randn(E)
    return q


def generate(mode, seed, D, lengths, wide):
    torch.manual_seed(seed)
    params32 = mamba_init(D, N)
    if wide:
        params32 = widen(params32)
    x32 = torch.randn(T, B, D, dtype=torch.float32)
    w32 = torch.randn(T, B, D, dtype=torch.float32)
    for b, n in enumerate(lengths):
        x32[n:, b] = 10 * torch.randn(T - n, D)       # garbage the layer must not spread
        w32[n:, b] = 0
    p64 = {k: v.double().requires_grad_(True) for k, v in params32.items()}
    x = x32.double().requires_grad_(True)
    ys = []
    for b, n in enumerate(lengths):                    # each sequence on its real steps
        pad = torch.zeros(T - n, 1, D, dtype=torch.float64)
        ys.append(torch.cat([mamba_forward(x[:n, b:b + 1], p64), pad], 0))
    y = torch.cat(ys, 1)
    (y * w32.double()).sum().backward()
    f32 = lambda t: t.detach().to(torch.float32).contiguous()
    tensors = [(k, v) for k, v in params32.items()]
    tensors += [("x", x32), ("lengths", torch.tensor(lengths, dtype=torch.int32)),
                ("w", w32), ("y", f32(y)), ("grad.x", f32(x.grad))]
    tensors += [("grad." + k, f32(v.grad)) for k, v in p64.items()]
    md = {"mode": mode, "kind": "mamba", "T": str(T), "B": str(B), "in": str(D), "out": str(D),
          "state": str(N), "torch_version": torch.__version__, "seed": str(seed),
          "generator": "tools/gen_fixtures_mamba.py"}
    path = os.path.join(OUT_DIR, mode + ".safetensors")
    write_safetensors(path, tensors, md)
    return path


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    cases = [("mamba_init", 4, [T, T], False), ("mamba_wide", 6, [T, T], True),
             ("mamba_padded", 4, [T, 4], True)]
    for i, (mode, D, lengths, wide) in enumerate(cases):
        path = generate(mode, SEED + i, D, lengths, wide)
        print(f"{os.path.relpath(path)}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
