#!/usr/bin/env python3
"""Time a Transformer encoder layer stack in mnemo and in PyTorch, side by side, in one run.

Both sides do the same work per step: `--layers` encoder layers (self-attention with
`--heads` heads, feed-forward of width 4·d_model with ReLU, residuals, post-norm LayerNorm,
no dropout) over [T, B, d_model] inputs, a 1-wide linear head at every step, MSE against
random targets, backward, and one Adam update (mode train); or the forward pass alone
(mode infer). PyTorch runs nn.TransformerEncoderLayer (batch_first=False) with
torch.set_num_threads equal to mnemo's --threads. Peak memory: mnemo's own count of its
allocations; PyTorch's is not measured here (its attention holds the [B·heads, T, T]
weights, mnemo's tiled kernel only a row statistic per query).

    /usr/bin/python3 bench/compare_transformer.py [--threads 2] [--mnemo build/mnemo] [--shapes all]
"""
import argparse
import json
import subprocess
import sys
import time

SHAPES = {  # name: (T, B, D, heads, mode)
    "512x8x256": (512, 8, 256, 4, "train"),
    "2048x2x256": (2048, 2, 256, 4, "train"),
    "4096x1x256": (4096, 1, 256, 4, "train"),
    "512x8x256-infer": (512, 8, 256, 4, "infer"),
    "2048x2x256-infer": (2048, 2, 256, 4, "infer"),
    "4096x1x256-infer": (4096, 1, 256, 4, "infer"),
}


def torch_ms(torch, T, B, D, heads, layers, causal, mode, threads, iters, warmup):
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    layer = torch.nn.TransformerEncoderLayer(D, heads, 4 * D, dropout=0.0)
    enc = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
    head = torch.nn.Linear(D, 1)
    params = list(enc.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    x = torch.rand(T, B, D) * 2 - 1
    y = torch.rand(T, B, 1) * 2 - 1
    mask = torch.triu(torch.full((T, T), float("-inf")), 1) if causal else None

    def step():
        if mode == "infer":
            enc.eval()
            with torch.no_grad():
                enc(x, mask=mask)
            return
        enc.train()
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(head(enc(x, mask=mask)), y)
        loss.backward()
        opt.step()
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    return (time.perf_counter() - t0) / iters * 1e3


def mnemo_bench(a, T, B, D, heads, mode, threads):
    cmd = [a.mnemo, "bench", "--model", "transformer", "--layers", str(a.layers),
           "--length", str(T), "--batch", str(B), "--hidden", str(D), "--heads", str(heads),
           "--ff", str(4 * D), "--norm", "post",
           "--positions", "none" if a.causal else "sin", "--mode", mode,
           "--threads", str(threads), "--iterations", str(a.iterations),
           "--warmup", str(a.warmup), "--json"] + (["--causal"] if a.causal else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mnemo", default="build/mnemo")
    ap.add_argument("--shapes", default="all", help="comma list or 'all'")
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--causal", action="store_true")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    a = ap.parse_args()
    import torch
    names = list(SHAPES) if a.shapes == "all" else a.shapes.split(",")
    print(f"# torch {torch.__version__}, {a.threads} threads, {a.layers} layer(s)"
          f"{', causal' if a.causal else ''}; ms per step (lower is better)")
    print(f"{'shape':<20}{'mode':<7}{'mnemo ms':>10}{'torch ms':>10}{'speed-up':>10}"
          f"{'mnemo GFLOP/s':>15}{'mnemo peak MiB':>16}")
    for name in names:
        T, B, D, heads, mode = SHAPES[name]
        m = mnemo_bench(a, T, B, D, heads, mode, a.threads)
        t = torch_ms(torch, T, B, D, heads, a.layers, a.causal, mode, a.threads, a.iterations,
                     a.warmup)
        print(f"{name:<20}{mode:<7}{m['ms_per_step']:>10.1f}{t:>10.1f}"
              f"{t / m['ms_per_step']:>9.2f}x{m['gflops']:>15.1f}"
              f"{m['peak_bytes'] / 2**20:>16.1f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
