#!/usr/bin/env python3
"""Run `mnemo bench` and the same training step in PyTorch, side by side, in one run.

Both sides do the same work per step: a recurrent stack over [T, B, I] inputs, a 1-wide
linear head at every step, MSE against random targets, backward, and one Adam update.
PyTorch uses torch.set_num_threads equal to mnemo's --threads.

    /usr/bin/python3 bench/compare_pytorch.py [--threads 2] [--mnemo build/mnemo] [--shapes all]
"""
import argparse
import json
import subprocess
import sys
import time

SHAPES = {  # name: (model, T, B, I, H, mode)
    "lstm-200x32x256": ("lstm", 200, 32, 256, 256, "train"),
    "lstm-1000x32x128": ("lstm", 1000, 32, 128, 128, "train"),
    "lstm-100x64x512": ("lstm", 100, 64, 512, 512, "train"),
    "lstm-1000x1x128": ("lstm", 1000, 1, 128, 128, "train"),
    "gru-200x32x256": ("gru", 200, 32, 256, 256, "train"),
    "rnn-1000x32x128": ("rnn", 1000, 32, 128, 128, "train"),
    "lstm-200x32x256-infer": ("lstm", 200, 32, 256, 256, "infer"),
    "lstm-1000x1x128-infer": ("lstm", 1000, 1, 128, 128, "infer"),
}


def torch_ms(torch, model, T, B, I, H, mode, threads, iters, warmup):
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[model]
    rnn = cls(I, H)
    head = torch.nn.Linear(H, 1)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=2e-3)
    x = torch.rand(T, B, I) * 2 - 1
    y = torch.rand(T, B, 1) * 2 - 1
    def step():
        if mode == "infer":
            with torch.no_grad():
                rnn(x)
            return
        opt.zero_grad()
        out, _ = rnn(x)
        loss = torch.nn.functional.mse_loss(head(out), y)
        loss.backward()
        opt.step()
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    return (time.perf_counter() - t0) / iters * 1e3


def mnemo_bench(a, model, T, B, I, H, mode, threads):
    cmd = [a.mnemo, "bench", "--model", model, "--length", str(T), "--batch", str(B),
           "--input-size", str(I), "--hidden", str(H), "--mode", mode,
           "--threads", str(threads), "--iterations", str(a.iterations),
           "--warmup", str(a.warmup), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mnemo", default="build/mnemo")
    ap.add_argument("--shapes", default="lstm-200x32x256", help="comma list or 'all'")
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--scaling", action="store_true",
                    help="also time mnemo on 1 thread and print its 1 -> N speed-up")
    a = ap.parse_args()
    import torch
    names = list(SHAPES) if a.shapes == "all" else a.shapes.split(",")
    print(f"# torch {torch.__version__}, {a.threads} threads; ms per step (lower is better)")
    print(f"{'shape':<24}{'mode':<7}{'mnemo ms':>10}{'torch ms':>10}{'speed-up':>10}{'mnemo GFLOP/s':>15}"
          + (f"{'mnemo 1-thr ms':>16}{'scaling':>9}" if a.scaling else ""))
    for name in names:
        model, T, B, I, H, mode = SHAPES[name]
        m = mnemo_bench(a, model, T, B, I, H, mode, a.threads)
        t = torch_ms(torch, model, T, B, I, H, mode, a.threads, a.iterations, a.warmup)
        line = (f"{name:<24}{mode:<7}{m['ms_per_step']:>10.1f}{t:>10.1f}"
                f"{t / m['ms_per_step']:>9.2f}x{m['gflops']:>15.1f}")
        if a.scaling:
            one = mnemo_bench(a, model, T, B, I, H, mode, 1)["ms_per_step"]
            line += f"{one:>16.1f}{one / m['ms_per_step']:>8.2f}x"
        print(line)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
