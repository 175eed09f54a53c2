#!/usr/bin/python3
"""Generate the PyTorch golden fixtures for mnemo's convolution and state-space kinds.

Run from anywhere with Debian's python3-torch:   /usr/bin/python3 tools/gen_fixtures_conv.py

Writes into tests/fixtures/:
  conv_k3_d1.safetensors, conv_k2_d4.safetensors, conv_k5_d2.safetensors
        nn.Conv1d(I, O, k, dilation=d, padding=(k-1)*d), the last (k-1)*d outputs dropped
        (a causal convolution), with nn.Conv1d's own init
  tcn_downsample.safetensors, tcn_identity.safetensors
        a TCN residual block (Bai, Kolter & Koltun 2018) built from nn.Conv1d:
        relu(conv2(relu(conv1(x)))) + (downsample(x) or x), then relu; no weight norm
  s4d_lin.safetensors, s4d_inv.safetensors, s4d_real.safetensors
        the S4D layer y = K * u + D u of the S4 repository's models/s4/s4d.py (S4DKernel
        plus the D skip, without its GELU and output linear), the kernel by the Vandermonde
        formula in complex128 and the convolution by torch.fft, initialized S4D-Lin,
        S4D-Inv and S4D-Real
  glu.safetensors, gelu.safetensors
        the pieces after S4D in S4's block: nn.Linear(d, 2d) then nn.GLU(dim=-1) (names
        linear.weight, linear.bias; nn.Linear's own init), and nn.GELU() (exact erf form)
  tcn_weight_norm.safetensors
        the TCN block with torch.nn.utils.weight_norm on conv1 and conv2 (locuslab/TCN's
        TemporalBlock): conv1.weight_g [C,1,1], conv1.weight_v [C,I,k], ...; g drawn away
        from ‖v‖ so that the weight is not v

mnemo's layout is [T, B, C] (time major); PyTorch's convolutions take [B, C, T], so the
inputs are transposed on the way in and the outputs on the way out. Each file holds the
parameters under the mnemo layer's names, `x` [T,B,I], `lengths` [B] (I32, all T: causal
layers need none), `w` [T,B,O], the output `y` [T,B,O] and the gradients of
loss = sum(y * w) for `x` (`grad.x`) and every parameter (`grad.<name>`). Parameters and
inputs are drawn in float32 and computed in float64. The configuration is in
__metadata__ as strings (`mode`, `kind`, `T`, `B`, `in`, `out`, `kernel`, `dilation`,
`state`, `init`, `weight_norm`, `torch_version`, `seed`).
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import OUT_DIR, write_safetensors  # noqa: E402

SEED = 20240912


def to_bct(x):
    """[T,B,C] -> [B,C,T]"""
    return x.permute(1, 2, 0)


def to_tbc(y):
    """[B,C,T] -> [T,B,C]"""
    return y.permute(2, 0, 1)


def causal_conv(conv, x_bct):
    """nn.Conv1d with padding (k-1)*d on both sides, the last (k-1)*d steps dropped."""
    return conv(x_bct)[:, :, :x_bct.shape[2]]


def conv1d(cin, cout, k, d):
    return nn.Conv1d(cin, cout, k, dilation=d, padding=(k - 1) * d)


def with_params(module, p):
    """module in float64 computing with the tensors p (by state-dict name), so that the
    gradients land in p."""
    module = module.double()
    for name, _ in list(module.named_parameters()):
        *path, attr = name.split(".")
        owner = module
        for part in path:
            owner = getattr(owner, part)
        delattr(owner, attr)
        setattr(owner, attr, p[name])
    return module


def conv_case(I, O, k, d):
    conv = conv1d(I, O, k, d)                      # nn.Conv1d's own float32 init
    params = {n: v.detach().clone() for n, v in conv.state_dict().items()}
    return params, lambda x, p: to_tbc(causal_conv(with_params(conv1d(I, O, k, d), p), to_bct(x)))


class TemporalBlock(nn.Module):
    """locuslab/TCN's TemporalBlock without dropout; weight normalization on conv1 and conv2
    when wn (torch.nn.utils.weight_norm, as the reference applies it)."""

    def __init__(self, cin, cout, k, d, wn=False):
        super().__init__()
        wrap = nn.utils.weight_norm if wn else (lambda m: m)
        self.conv1 = wrap(conv1d(cin, cout, k, d))
        self.conv2 = wrap(conv1d(cout, cout, k, d))
        self.downsample = nn.Conv1d(cin, cout, 1) if cin != cout else None

    def forward(self, x_bct):
        h = F.relu(causal_conv(self.conv1, x_bct))
        h = F.relu(causal_conv(self.conv2, h))
        res = x_bct if self.downsample is None else self.downsample(x_bct)
        return F.relu(h + res)


def tcn_case(I, C, k, d, wn=False):
    # nn.Conv1d's default init, not the paper's N(0, 0.01): with weights that small the
    # convolution path would vanish beside the residual and test little
    block = TemporalBlock(I, C, k, d, wn)
    params = {n: v.detach().clone() for n, v in block.state_dict().items()}
    if wn:   # g away from ‖v‖, so that w = g·v/‖v‖ is not v and dg, dv are both exercised
        for n in params:
            if n.endswith("weight_g"):
                params[n] = params[n] * (0.5 + torch.rand(params[n].shape))
    return params, lambda x, p: to_tbc(with_params(TemporalBlock(I, C, k, d, wn), p)(to_bct(x)))


# ------------------------------------------------------------------ S4D

def s4d_init(H, N, init, dt_min, dt_max):
    """S4DKernel's parameters (models/s4/s4d.py), with A's init from dplr.py."""
    log_dt = torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
    C = torch.view_as_real(torch.randn(H, N // 2, dtype=torch.cfloat))    # N(0, 1/2) per part
    n = torch.arange(N // 2, dtype=torch.float32).repeat(H, 1)
    if init == "lin":
        log_A_real, A_imag = torch.log(0.5 * torch.ones(H, N // 2)), math.pi * n
    elif init == "inv":
        log_A_real, A_imag = torch.log(0.5 * torch.ones(H, N // 2)), N / math.pi * (N / (2 * n + 1) - 1)
    else:
        log_A_real, A_imag = torch.log(n + 1), torch.zeros(H, N // 2)
    D = torch.randn(H)
    return {"D": D, "kernel.log_dt": log_dt, "kernel.C": C.contiguous(),
            "kernel.log_A_real": log_A_real, "kernel.A_imag": A_imag}


def s4d_kernel(p, L):
    """S4DKernel.forward in complex128: K[h, l] = 2 Re(sum_n C' exp(dtA l))."""
    dt = torch.exp(p["kernel.log_dt"])
    C = torch.view_as_complex(p["kernel.C"])
    A = -torch.exp(p["kernel.log_A_real"]) + 1j * p["kernel.A_imag"]
    dtA = A * dt.unsqueeze(-1)
    K = dtA.unsqueeze(-1) * torch.arange(L, dtype=torch.float64)
    C = C * (torch.exp(dtA) - 1.) / A
    return 2 * torch.einsum("hn, hnl -> hl", C, torch.exp(K)).real


def s4d_case(H, N, init, dt_min, dt_max):
    params = s4d_init(H, N, init, dt_min, dt_max)

    def fn(x, p):
        L = x.shape[0]
        k = s4d_kernel(p, L)                               # [H, L]
        u = to_bct(x)                                      # [B, H, L]
        k_f = torch.fft.rfft(k, n=2 * L)
        u_f = torch.fft.rfft(u, n=2 * L)
        y = torch.fft.irfft(u_f * k_f, n=2 * L)[..., :L]
        y = y + u * p["D"].unsqueeze(-1)
        return to_tbc(y)
    return params, fn


# ------------------------------------------------------------------ GLU, GELU

class LinearGLU(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.linear = nn.Linear(d, 2 * d)

    def forward(self, x):
        return F.glu(self.linear(x), dim=-1)


def glu_case(d):
    module = LinearGLU(d)
    params = {n: v.detach().clone() for n, v in module.state_dict().items()}
    return params, lambda x, p: with_params(LinearGLU(d), p)(x)


def gelu_case():
    return {}, lambda x, p: F.gelu(x)


# ------------------------------------------------------------------ files

def generate(mode, kind, seed, T, B, I, O, make, meta):
    torch.manual_seed(seed)
    params32, fn = make()
    x32 = torch.randn(T, B, I, dtype=torch.float32)
    w32 = torch.randn(T, B, O, dtype=torch.float32)
    p64 = {k: v.double().requires_grad_(True) for k, v in params32.items()}
    x = x32.double().requires_grad_(True)
    y = fn(x, p64)
    assert y.shape == (T, B, O), y.shape
    (y * w32.double()).sum().backward()
    f32 = lambda t: t.detach().to(torch.float32).contiguous()
    tensors = [(k, v.contiguous()) for k, v in params32.items()]
    tensors += [("x", x32), ("lengths", torch.full((B,), T, dtype=torch.int32)),
                ("w", w32), ("y", f32(y)), ("grad.x", f32(x.grad))]
    tensors += [("grad." + k, f32(v.grad)) for k, v in p64.items()]
    md = {"mode": mode, "kind": kind, "T": str(T), "B": str(B), "in": str(I), "out": str(O),
          "torch_version": torch.__version__, "seed": str(seed),
          "generator": "tools/gen_fixtures_conv.py"}
    md.update({k: str(v) for k, v in meta.items()})
    path = os.path.join(OUT_DIR, mode + ".safetensors")
    write_safetensors(path, tensors, md)
    return path


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    cases = []
    for k, d in ((3, 1), (2, 4), (5, 2)):
        cases.append((f"conv_k{k}_d{d}", "conv", 12, 3, 4, 5,
                      lambda k=k, d=d: conv_case(4, 5, k, d), {"kernel": k, "dilation": d}))
    cases.append(("tcn_downsample", "tcn", 12, 2, 3, 5, lambda: tcn_case(3, 5, 3, 2),
                  {"kernel": 3, "dilation": 2}))
    cases.append(("tcn_identity", "tcn", 12, 2, 5, 5, lambda: tcn_case(5, 5, 2, 3),
                  {"kernel": 2, "dilation": 3}))
    # S4D-Lin at s4d.py's own Δ range; Inv and Real at larger steps, where the kernel decays
    # within the sequence and every parameter's gradient is large
    for init, lo, hi in (("lin", 1e-3, 1e-1), ("inv", 1e-2, 0.5), ("real", 0.05, 0.5)):
        cases.append((f"s4d_{init}", "s4d", 20, 2, 3, 3,
                      lambda init=init, lo=lo, hi=hi: s4d_case(3, 8, init, lo, hi),
                      {"state": 8, "init": init, "dt_min": lo, "dt_max": hi}))
    # appended last: the seeds of the cases above stay what they were
    cases.append(("glu", "glu", 9, 3, 5, 5, lambda: glu_case(5), {}))
    cases.append(("gelu", "gelu", 9, 3, 5, 5, gelu_case, {}))
    cases.append(("tcn_weight_norm", "tcn", 12, 2, 3, 5, lambda: tcn_case(3, 5, 3, 2, True),
                  {"kernel": 3, "dilation": 2, "weight_norm": 1}))
    for i, (mode, kind, T, B, I, O, make, meta) in enumerate(cases):
        path = generate(mode, kind, SEED + i, T, B, I, O, make, meta)
        print(f"{os.path.relpath(path)}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
