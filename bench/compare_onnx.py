#!/usr/bin/env python3
"""Inference latency of mnemo against ONNX Runtime, side by side, in one run.

The same PyTorch modules (nn.LSTM / nn.GRU, random weights) are exported to ONNX (opset 14)
and run in ONNX Runtime from Node.js (npm onnxruntime-node, installed into --ort-dir with
`npm install --ignore-scripts`: its install script fetches GPU extras from a host that may
be unreachable, while the CPU library is already in the package). mnemo runs the same
shapes with `mnemo bench --mode infer` (a whole-sequence forward, as the ONNX graph is);
with --stream also `mnemo bench --mode stream` (one step at a time through the streaming
API, the per-step cost times T) and its ONNX Runtime peer: the module exported with its
state as input and output (h0, c0 -> hn, cn), run one step per call, each call fed the
state the previous one returned. Each measurement is repeated --repeats times,
interleaved (ORT, mnemo, ORT, mnemo, ...), so both sides see the same machine state, and
two tables are printed: the medians, then the best of the repeats (on a shared machine
the least disturbed run of each side); every row is measured at each of --threads.

    /usr/bin/python3 bench/compare_onnx.py [--threads 1,2] [--mnemo build/mnemo]
        [--ort-dir build/onnxruntime] [--shapes all|NAME,...] [--repeats 5] [--stream]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = {  # name: (cell, T, B, I, H, layers)
    "lstm-200x32x256": ("lstm", 200, 32, 256, 256, 1),
    "gru-200x32x256": ("gru", 200, 32, 256, 256, 1),
    "lstm-1000x1x128": ("lstm", 1000, 1, 128, 128, 1),
    "gru-1000x1x256": ("gru", 1000, 1, 256, 256, 1),
    "lstm-1x1x128": ("lstm", 1, 1, 128, 128, 1),
    "lstm2-500x4x256": ("lstm", 500, 4, 256, 256, 2),
}


def ensure_ort(d):
    if os.path.isdir(os.path.join(d, "node_modules", "onnxruntime-node")):
        return os.path.join(d, "node_modules")
    os.makedirs(d, exist_ok=True)
    print("installing onnxruntime-node into %s (npm install --ignore-scripts)" % d,
          file=sys.stderr)
    r = subprocess.run(["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund",
                        "--prefix", d, "onnxruntime-node"], capture_output=True, text=True)
    if r.returncode:
        sys.exit("compare_onnx: npm install onnxruntime-node failed:\n" + r.stderr[-2000:])
    return os.path.join(d, "node_modules")


def export(torch, cell, I, H, layers, path, stream=False):
    """The module as one ONNX graph over x [T,B,I]; with stream, over (x, h0[, c0]) with
    the final state as outputs hn[, cn], for one step per call."""
    torch.manual_seed(0)
    m = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, H, num_layers=layers).eval()
    x = torch.zeros(3, 2, I)
    ins, args, axes = ["x"], (x,), {"x": {0: "T", 1: "B"}}
    outs = ["y", "hn", "cn"] if cell == "lstm" else ["y", "hn"]
    if stream:
        h0 = torch.zeros(layers, 2, H)
        state = (h0, torch.zeros(layers, 2, H)) if cell == "lstm" else h0
        args = (x, state)
        ins += ["h0", "c0"] if cell == "lstm" else ["h0"]
        for n in ins[1:]:
            axes[n] = {1: "B"}
    with torch.no_grad():
        torch.onnx.export(m, args, path, opset_version=14, input_names=ins,
                          output_names=outs, dynamic_axes=axes)


def ort_ms(a, mods, path, T, B, I, threads, stream=None):
    """stream: (layers, H) to time T one-step calls carrying the state"""
    extra = ["stream", str(stream[0]), str(stream[1])] if stream else []
    r = subprocess.run(["node", os.path.join(HERE, "onnx_time.js"), path, str(T), str(B),
                        str(I), str(threads), str(a.iterations), str(a.warmup), mods] + extra,
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit("compare_onnx: ONNX Runtime failed: " + r.stderr.strip()[-500:])
    return json.loads(r.stdout.strip().splitlines()[-1])["ms_per_step"]


def mnemo_ms(a, cell, T, B, I, H, layers, threads, mode):
    cmd = [a.mnemo, "bench", "--model", cell, "--length", str(T), "--batch", str(B),
           "--input-size", str(I), "--hidden", str(H), "--layers", str(layers),
           "--mode", mode, "--threads", str(threads), "--iterations", str(a.iterations),
           "--warmup", str(a.warmup), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit("compare_onnx: %s failed: %s" % (" ".join(cmd), r.stderr.strip()))
    return json.loads(r.stdout.strip().splitlines()[-1])["ms_per_step"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mnemo", default="build/mnemo")
    p.add_argument("--ort-dir", default="build/onnxruntime")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--shapes", default="all")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--stream", action="store_true",
                   help="also the step-by-step streams, mnemo's and ONNX Runtime's")
    a = p.parse_args()
    warnings.filterwarnings("ignore")   # torch.onnx's shape-inference notes
    import torch
    names = list(SHAPES) if a.shapes == "all" else a.shapes.split(",")
    for n in names:
        if n not in SHAPES:
            sys.exit("compare_onnx: unknown shape %s; choose from %s" % (n, ", ".join(SHAPES)))
    mods = ensure_ort(a.ort_dir)
    threads = [int(t) for t in a.threads.split(",")]
    tmp = tempfile.mkdtemp(prefix="mnemo-onnx-")
    cols = ["shape (T×B×I=H)", "threads", "ONNX Runtime ms", "mnemo ms", "mnemo speed-up"]
    if a.stream:
        cols += ["mnemo stream ms", "stream / ORT whole", "ORT stream ms",
                 "stream / ORT stream"]
    head = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    print("\n".join(head))
    best = []   # the best-of table, printed after the medians
    for n in names:
        cell, T, B, I, H, layers = SHAPES[n]
        path = os.path.join(tmp, n + ".onnx")
        spath = os.path.join(tmp, n + "-stream.onnx")
        export(torch, cell, I, H, layers, path)
        if a.stream:
            export(torch, cell, I, H, layers, spath, stream=True)
        for th in threads:
            o, m, s, os_ = [], [], [], []
            for _ in range(a.repeats):
                o.append(ort_ms(a, mods, path, T, B, I, th))
                m.append(mnemo_ms(a, cell, T, B, I, H, layers, th, "infer"))
                if a.stream:
                    s.append(mnemo_ms(a, cell, T, B, I, H, layers, th, "stream"))
                    os_.append(ort_ms(a, mods, spath, T, B, I, th, (layers, H)))
            med, low = (table_row(n, th, *[f(v) if v else None for v in (o, m, s, os_)])
                        for f in (statistics.median, min))
            print(med, flush=True)
            best.append(low)
    print("\nbest of %d repeats:\n" % a.repeats + "\n".join(head + best))


def table_row(n, th, om, mm, sm, osm):
    """One row: ONNX Runtime and mnemo whole-sequence ms, and the streams' when measured."""
    row = [n, str(th), "%.3g" % om, "%.3g" % mm, "%.2f×" % (om / mm)]
    if sm is not None:
        row += ["%.3g" % sm, "%.2f×" % (om / sm), "%.3g" % osm, "%.2f×" % (osm / sm)]
    return "| " + " | ".join(row) + " |"


if __name__ == "__main__":
    main()
