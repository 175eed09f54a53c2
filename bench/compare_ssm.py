#!/usr/bin/env python3
"""Run `mnemo bench` and the same TCN, S4D and Mamba steps in PyTorch, side by side, in one
run, plus an LSTM of the same width in mnemo (the issue's S4D-vs-LSTM claim).

Both sides do the same work per step: the stack over B sequences of length L and width H,
a 1-wide linear head at every step, MSE against random targets, backward and one Adam
update (train), or the stack's forward alone (infer). PyTorch runs with
torch.set_num_threads equal to mnemo's --threads, each side in its own layout ([T, B, H]
for mnemo, [B, H, L] for PyTorch's convolutions):
  tcn: NB TemporalBlocks of locuslab/TCN built from nn.Conv1d (kernel k, dilations 1, 2,
       4, ..., causal by padding and chopping, ReLU, residual; no weight norm, no dropout:
       mnemo's `tcn` block), mnemo `--blocks tcn:H:kernel=k:dilation=1,tcn:H:...:dilation=2,...`;
  s4d: the S4 repository's models/s4/s4d.py (S4DKernel: the Vandermonde kernel by exp of an
       [H, N/2, L] tensor and einsum, in complex64; y = irfft(rfft(u, 2L)·rfft(K, 2L))[:L]
       + D·u), without its GELU and output linear: mnemo's `s4d` block (state N = 64);
  mamba: one Mamba-1 block (state 16, expand 2, conv 4, dt rank ceil(H/16)) as the slow path
       of state-spaces/mamba's mamba_simple.py computes it, the scan a loop over the steps
       as selective_scan_ref (slices by unbind: see selective_scan_loop):
       tools/gen_fixtures_mamba.py's reference, the one mnemo's fixtures come from, with its
       parameters as nn.Parameters; mnemo `--blocks mamba`;
  lstm: mnemo `--blocks lstm:H` at the same shape (mnemo only).

    /usr/bin/python3 bench/compare_ssm.py [--threads 2] [--mnemo build/mnemo]
        [--lengths 1024,4096,16384] [--batch 4] [--width 64] [--modes train,infer]
        [--s4d-widths 64,128,256,512]

Each row also gives both sides' rate at mnemo's FLOP count (`mnemo bench`'s, the same
model) and, when build/gemm_bench is there (make build/gemm_bench), the machine's measured
FMA peak at those threads: "3x needs" is the rate mnemo would need to be 3 times PyTorch's
speed, as a share of that peak (over 100%: no implementation can). --s4d-widths adds the
S4D layer against an LSTM of the same width at the longest length, width by width: the
LSTM's work grows with width squared, S4D's linearly ("10x needs": the rate S4D would need
to be 10 times the LSTM's speed, as a share of the peak).
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))


def torch_models(torch):
    nn, F = torch.nn, torch.nn.functional

    class TemporalBlock(nn.Module):
        def __init__(self, cin, cout, k, d):
            super().__init__()
            self.pad = (k - 1) * d
            self.conv1 = nn.Conv1d(cin, cout, k, dilation=d, padding=self.pad)
            self.conv2 = nn.Conv1d(cout, cout, k, dilation=d, padding=self.pad)
            self.downsample = nn.Conv1d(cin, cout, 1) if cin != cout else None

        def forward(self, x):                       # [B, C, L]
            L = x.shape[-1]
            h = F.relu(self.conv1(x)[..., :L])
            h = F.relu(self.conv2(h)[..., :L])
            res = x if self.downsample is None else self.downsample(x)
            return F.relu(h + res)

    class TCN(nn.Module):
        def __init__(self, H, k, blocks):
            super().__init__()
            self.net = nn.Sequential(*[TemporalBlock(H, H, k, 2 ** i) for i in range(blocks)])

        def forward(self, x):
            return self.net(x)

    class S4DKernel(nn.Module):                     # models/s4/s4d.py
        def __init__(self, H, N=64, dt_min=0.001, dt_max=0.1):
            super().__init__()
            log_dt = torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
            C = torch.randn(H, N // 2, dtype=torch.cfloat)
            self.C = nn.Parameter(torch.view_as_real(C))
            self.log_dt = nn.Parameter(log_dt)
            self.log_A_real = nn.Parameter(torch.log(0.5 * torch.ones(H, N // 2)))
            self.A_imag = nn.Parameter(math.pi * torch.arange(N // 2).float().repeat(H, 1))

        def forward(self, L):
            dt = torch.exp(self.log_dt)
            C = torch.view_as_complex(self.C)
            A = -torch.exp(self.log_A_real) + 1j * self.A_imag
            dtA = A * dt.unsqueeze(-1)
            K = dtA.unsqueeze(-1) * torch.arange(L, device=A.device)
            C = C * (torch.exp(dtA) - 1.) / A
            return 2 * torch.einsum('hn, hnl -> hl', C, torch.exp(K)).real

    class S4D(nn.Module):
        def __init__(self, H, N=64):
            super().__init__()
            self.D = nn.Parameter(torch.randn(H))
            self.kernel = S4DKernel(H, N)

        def forward(self, u):                       # [B, H, L]
            L = u.size(-1)
            k = self.kernel(L)
            k_f = torch.fft.rfft(k, n=2 * L)
            u_f = torch.fft.rfft(u, n=2 * L)
            y = torch.fft.irfft(u_f * k_f, n=2 * L)[..., :L]
            return y + u * self.D.unsqueeze(-1)

    def selective_scan_loop(u, delta, A, Bm, Cm, D, z, delta_bias):
        """selective_scan_ref's step loop, with the per-step slices taken by unbind: the
        reference's indexing x[:, :, i] makes autograd add a full-size gradient for every
        step (quadratic in L: 25 s for one training step at L = 512), unbind's backward is
        one stack."""
        delta = F.softplus(delta + delta_bias[..., None])
        dA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A)).unbind(2)
        dBu = torch.einsum("bdl,bnl,bdl->bdln", delta, Bm, u).unbind(2)
        Cs = Cm.unbind(2)
        x = A.new_zeros((u.shape[0], A.shape[0], A.shape[1]))
        ys = []
        for i in range(u.shape[2]):
            x = dA[i] * x + dBu[i]
            ys.append(torch.einsum("bdn,bn->bd", x, Cs[i]))
        y = torch.stack(ys, dim=2)
        return (y + u * D[..., None]) * F.silu(z)

    class Mamba(nn.Module):                         # tools/gen_fixtures_mamba.py
        def __init__(self, H, N=16):
            super().__init__()
            import gen_fixtures_mamba as ref
            ref.selective_scan_ref = selective_scan_loop
            self.forward_ref = ref.mamba_forward
            p = ref.mamba_init(H, N)
            self.names = list(p)                    # state-dict names hold dots
            self.ps = nn.ParameterList([nn.Parameter(v) for v in p.values()])

        def forward(self, x):                       # [L, B, H]
            return self.forward_ref(x, dict(zip(self.names, self.ps)))

    return TCN, S4D, Mamba


def torch_ms(torch, model, L, B, H, mode, a):
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    TCN, S4D, Mamba = torch_models(torch)
    net = {"tcn": lambda: TCN(H, a.kernel, a.blocks), "s4d": lambda: S4D(H),
           "mamba": lambda: Mamba(H)}[model]()
    head = torch.nn.Linear(H, 1)
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=2e-3)
    x = torch.rand(B, H, L) * 2 - 1                 # Mamba takes [L, B, H]
    if model == "mamba":
        x = torch.rand(L, B, H) * 2 - 1
    y = torch.rand(B, L, 1) * 2 - 1

    def step():
        if mode == "infer":
            with torch.no_grad():
                net(x)
            return
        opt.zero_grad()
        out = net(x)
        out = out.permute(1, 0, 2) if model == "mamba" else out.transpose(1, 2)   # [B, L, H]
        loss = torch.nn.functional.mse_loss(head(out), y)
        loss.backward()
        opt.step()
    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.iterations):
        step()
    return (time.perf_counter() - t0) / a.iterations * 1e3   # the mean, as mnemo bench


def blocks_of(model, H, a):
    if model == "tcn":
        return ",".join(f"tcn:{H}:kernel={a.kernel}:dilation={2 ** i}" for i in range(a.blocks))
    return model if model in ("s4d", "mamba") else f"lstm:{H}"


def mnemo_run(model, L, B, H, mode, a, iterations=None):
    """mnemo bench's JSON summary (ms_per_step, flops_per_step, ...)"""
    cmd = [a.mnemo, "bench", "--blocks", blocks_of(model, H, a), "--input-size", str(H),
           "--length", str(L), "--batch", str(B), "--mode", mode, "--threads", str(a.threads),
           "--iterations", str(iterations or a.iterations), "--warmup", str(a.warmup), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def mnemo_ms(model, L, B, H, mode, a, iterations=None):
    return mnemo_run(model, L, B, H, mode, a, iterations)["ms_per_step"]


def fma_peak(a):
    """GFLOP/s of gemm_bench's measured FMA peak at a.threads threads, or None"""
    if not os.path.exists(a.gemm_bench):
        return None
    out = subprocess.run([a.gemm_bench, "--threads", str(a.threads), "--peak-only"],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith(f"FMA peak fp32, {a.threads} thread"):
            return max(float(v) for v in re.findall(r"(?:avx512|avx2) ([0-9.]+)", line))
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mnemo", default="build/mnemo")
    ap.add_argument("--lengths", default="1024,4096,16384")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--width", type=int, default=64, help="channels H of every model")
    ap.add_argument("--kernel", type=int, default=3, help="TCN kernel")
    ap.add_argument("--blocks", type=int, default=4, help="TCN blocks (dilations 1, 2, 4, ...)")
    ap.add_argument("--modes", default="train,infer")
    ap.add_argument("--models", default="tcn,s4d,mamba")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--gemm-bench", default="build/gemm_bench",
                    help="measures the FMA peak (make build/gemm_bench); skipped when absent")
    ap.add_argument("--s4d-widths", default="",
                    help="S4D against an LSTM of each width at the longest length")
    a = ap.parse_args()
    import torch
    B, H = a.batch, a.width
    peak = fma_peak(a)
    print(f"# torch {torch.__version__}, {a.threads} threads, B {B}, width {H}; TCN {a.blocks} "
          f"blocks of kernel {a.kernel}; S4D state 64; Mamba state 16; ms per step (lower is "
          f"better); GFLOP/s at mnemo's FLOP count; measured FMA peak "
          + (f"{peak:.1f} GFLOP/s" if peak else "not measured (no gemm_bench)"))
    print(f"{'model':<6}{'L':>7}  {'mode':<6}{'mnemo ms':>10}{'torch ms':>10}{'speed-up':>10}"
          f"{'mnemo GF/s':>11}{'torch GF/s':>11}{'3x needs':>10}"
          f"{'mnemo LSTM ms':>15}{'LSTM/S4D':>10}")
    for mode in a.modes.split(","):
        for model in (v for v in a.models.split(",") if v):
            for L in (int(v) for v in a.lengths.split(",")):
                r = mnemo_run(model, L, B, H, mode, a)
                m = r["ms_per_step"]
                t = torch_ms(torch, model, L, B, H, mode, a)
                gf = r["flops_per_step"] / 1e6
                need = f"{300 * gf / t / peak:>9.0f}%" if peak else f"{'-':>10}"
                line = (f"{model:<6}{L:>7}  {mode:<6}{m:>10.1f}{t:>10.1f}{t / m:>9.2f}x"
                        f"{gf / m:>11.1f}{gf / t:>11.1f}{need}")
                if model == "s4d":
                    lstm = mnemo_ms("lstm", L, B, H, mode, a)
                    line += f"{lstm:>15.1f}{lstm / m:>9.2f}x"
                print(line)
                sys.stdout.flush()
    if a.s4d_widths:
        L = max(int(v) for v in a.lengths.split(","))
        print(f"\n# S4D (state 64) against an LSTM of the same width, mnemo both, L {L}, B {B}")
        print(f"{'width':>6}  {'mode':<6}{'S4D ms':>10}{'LSTM ms':>10}{'LSTM/S4D':>10}"
              f"{'S4D GF/s':>10}{'LSTM GF/s':>10}{'10x needs':>10}")
        for mode in a.modes.split(","):
            for W in (int(v) for v in a.s4d_widths.split(",")):
                s = mnemo_run("s4d", L, B, W, mode, a)
                lr = mnemo_run("lstm", L, B, W, mode, a, iterations=1)
                sm, lm = s["ms_per_step"], lr["ms_per_step"]
                print(f"{W:>6}  {mode:<6}{sm:>10.1f}{lm:>10.1f}{lm / sm:>9.2f}x"
                      f"{s['flops_per_step'] / 1e6 / sm:>10.1f}"
                      f"{lr['flops_per_step'] / 1e6 / lm:>10.1f}"
                      + (f"{1000 * s['flops_per_step'] / 1e6 / lm / peak:>9.0f}%" if peak
                         else f"{'-':>10}"))
                sys.stdout.flush()


if __name__ == "__main__":
    main()
