"""Model.diagnose: the measurements of `mnemo diagnose` (cli/cmd_diagnose.c) on the
caller's own sequences, as a dict."""

import ctypes
import math
from ctypes import byref, c_double, c_int, c_void_p

import numpy as np

from . import _data as D
from . import _structs as S
from ._lib import call, lock, plain, status_of, text
from ._util import check_int
from .errors import ArgumentError, E_STATE, error_for

_DBL = ctypes.POINTER(c_double)


def _dptr(a):
    return a.ctypes.data_as(_DBL)


def diagnose(model, x, y, lengths=None, *, threshold=1e-3, span=None, batch=32,
             sequences=8, train_loss=None, val_loss=None):
    """Measure how the training signal travels back through time, on the sequences x
    with targets y (shapes as Model.fit reads them).

    The gradients of the loss on these sequences (no update; in chunks of `batch`
    sequences, averaged) give ||dL/dh_t|| at every step t of each recurrent block (or,
    for a block without a recurrence, ||dL/dx_t|| at its input), its ratio to the last
    step's, and the horizon: the largest lag over which that ratio stays >= threshold.
    The first recurrent block also gets its gate statistics (mean keep gate, memory
    half-life per unit, saturation) and recurrence measures (spectral radius and
    singular values of W_hh, the product of `sequences` sequences' step Jacobians, the
    largest Lyapunov exponent), measured on the first `batch` sequences; each attention
    block the mean distance and entropy of its heads. The verdict (healthy, vanishing,
    exploding; good fit, under- or overfitting) and its advice are mnemo's
    (mn_diagnose_verdict), from the profile, the losses and how the model was trained.

    span: how many steps back the task needs its answer from (default T-1).
    train_loss, val_loss: the losses the fit verdict compares with the baseline (the
    best input-blind guess for y); by default those of the model's last fit (its mean
    loss over the last 5% of steps, its final evaluation), or the loss on these
    sequences for a model not trained here.

    Returns a dict: verdict, fit, horizon, span, threshold, train_loss, val_loss,
    baseline_loss, loss (on these sequences), grad_norm_by_step [T], ratio_by_lag [T]
    (ratio_by_lag[k] = grad_norm_by_step[T-1-k] / grad_norm_by_step[T-1]),
    cell_grad_norm_by_step [T] (LSTM), grad_norm_by_block [L+1] (the mean over steps at
    each block's input, the last at the top block's output), horizon_by_layer,
    recurrent_block (-1: none), and for it gates (has_gates, keep_gate_mean,
    half_life {min, median, mean, max}, half_life_by_unit, saturated_gates,
    saturated_tanh) and recurrence (spectral_radius, singular_values,
    jacobian_log10_singular, lyapunov, steps, sequences); attention (one dict per
    attention block: block, distance, entropy, uniform_entropy); flow_reason,
    fit_reason, advice.
    """
    batch = check_int(batch, "batch", 1, 1 << 24)
    sequences = check_int(sequences, "sequences", 0, 1 << 30)
    threshold = float(threshold)
    if not (0 < threshold < 1):
        raise ArgumentError("threshold must be in (0, 1), got %g" % threshold)
    inp = model._inputs(x, lengths)
    cfg0 = model._cfg() if model._m is not None else None
    tgt = D.Targets(y, inp, cfg0.loss if cfg0 else (model._loss or D.MSE),
                    cfg0.output if cfg0 else (model._output or D.LAST),
                    cfg0.output_size if cfg0 else model._output_size)
    m = model._handle(inp, tgt)
    model._check_data(inp, tgt)
    c = model._cfg()
    T, N, L = inp.T, inp.N, c.num_layers
    span = T - 1 if span is None else check_int(span, "span", 0, T - 1)

    # the data's baseline, and mnemo's own checks of it (NaN, labels, lengths)
    a = D.arrays_struct(inp, tgt, 0, model._vocab)
    task = c_void_p()
    call("mn_task_from_arrays", byref(a), 1, byref(task))
    baseline = plain("mn_task_get_info", task).contents.baseline_loss
    plain("mn_task_free", task)

    views = [D.BatchView(inp, i0, min(N, i0 + batch), c.output_size, c.loss, c.output, tgt)
             for i0 in range(0, N, batch)]
    dh, dc, ratio = np.zeros(T), np.zeros(T), np.zeros(T)
    depth = np.zeros(L + 1)
    horizon_by_layer, row = [], np.zeros(T)
    with lock:
        rec = c_void_p()
        call("mn_grad_recorder_attach", m, T, byref(rec))
        try:
            total, weight = 0.0, 0
            for bv in views:
                loss = c_double()
                call("mn_model_gradients", m, byref(bv.batch), byref(loss))
                total += loss.value * bv.B
                weight += bv.B
            data_loss = total / weight
            for l in range(L + 1):
                plain("mn_grad_recorder_input_profile", rec, l, _dptr(row))
                depth[l] = row.mean()
            for l in range(L):
                g = dh if l == 0 else row
                plain("mn_grad_recorder_profile", rec, l, _dptr(g), _dptr(dc) if l == 0 else None)
                if not g.any():   # a block without a recurrence: its input's gradient
                    plain("mn_grad_recorder_input_profile", rec, l, _dptr(g))
                horizon_by_layer.append(int(plain("mn_gradient_horizon", _dptr(g), T,
                                                  threshold)))
        finally:
            plain("mn_grad_recorder_detach", rec)
        plain("mn_gradient_ratio", _dptr(dh), T, _dptr(ratio))

        # the first block with a recurrence, measured on the first batch
        first = views[0].batch
        widest = max([c.hidden_size] + [c.blocks[k].width for k in range(c.num_blocks)])
        half_life = np.zeros(widest)
        gates, recs = S.GateStats(), S.RecurrenceStats()
        recurrent_block, cell = -1, c.cell
        for l in range(L):
            st, msg = status_of("mn_gate_stats_measure", m, byref(first), l, byref(gates),
                                None, _dptr(half_life))
            if st == E_STATE:
                continue
            if st:
                raise error_for(st, msg)
            call("mn_recurrence_measure", m, byref(first), l, sequences, byref(recs))
            recurrent_block = l
            if c.num_blocks > 0:
                k = c_int()
                if status_of("mn_cell_parse", c.blocks[l].kind, byref(k))[0] == 0:
                    cell = k.value
            break
        attention, ratios = [], []
        for l in range(L):
            at = S.AttentionStats()
            st, msg = status_of("mn_attention_measure", m, byref(first), l, byref(at))
            if st == E_STATE:
                continue
            if st:
                raise error_for(st, msg)
            h = at.heads
            attention.append({"block": l, "distance": np.array(at.distance[:h]),
                              "entropy": np.array(at.entropy[:h]),
                              "uniform_entropy": at.uniform_entropy, "queries": at.queries})
            if at.uniform_entropy > 0:
                ratios += [at.entropy[i] / at.uniform_entropy for i in range(h)]

    fit = model._last_fit
    if train_loss is None:
        if fit and fit["history"]["loss"]:
            losses = [v for v, s in zip(fit["history"]["loss"], fit["history"]["skipped"])
                      if not s]
            window = max(1, math.ceil(fit["steps"] / 20))
            train_loss = float(np.mean(losses[-window:])) if losses else data_loss
        else:
            train_loss = data_loss
    if val_loss is None:
        val_loss = fit["history"]["test_loss"] if fit and "test_loss" in fit["history"] \
            else data_loss
    vi = S.VerdictInput()
    vi.grad_norm, vi.T, vi.span, vi.threshold = _dptr(dh), T, span, threshold
    vi.tbptt = fit["tbptt"] if fit else 0
    vi.train_loss, vi.val_loss, vi.baseline_loss = train_loss, val_loss, baseline
    vi.cell, vi.recurrent_init, vi.chrono = cell, c.recurrent_init, int(c.chrono_tmax > 0)
    vi.clip_norm = fit["clip"] if fit else 1.0
    field = plain("mn_model_receptive_field", byref(c))
    vi.no_recurrence = int(field > 0)
    vi.attention_blocks = len(attention)
    vi.entropy_ratio = float(np.mean(ratios)) if ratios else 0.0
    # the memory is a state space's (S4D, Mamba): no recurrent cell, no attention, no bound
    vi.state_space = int(recurrent_block < 0 and not attention and field <= 0)
    v = S.Verdict()
    call("mn_diagnose_verdict", byref(vi), byref(v))

    info = S.CellInfo()
    has_c = status_of("mn_cell_describe", c.cell, byref(info))[0] == 0 and info.has_cell_state
    out = {
        "verdict": text(plain("mn_flow_name", v.flow)), "fit": text(plain("mn_fit_name", v.fit)),
        "horizon": horizon_by_layer[0], "span": span, "threshold": threshold,
        "train_loss": train_loss, "val_loss": val_loss, "baseline_loss": baseline,
        "loss": data_loss, "sequences_analysed": N,
        "grad_norm_by_step": dh, "ratio_by_lag": ratio, "grad_norm_by_block": depth,
        "horizon_by_layer": horizon_by_layer, "recurrent_block": recurrent_block,
        "attention": attention,
        "flow_reason": text(v.flow_reason), "fit_reason": text(v.fit_reason),
        "advice": text(v.advice),
    }
    if has_c:
        out["cell_grad_norm_by_step"] = dc
    if recurrent_block >= 0:
        g = {"has_gates": bool(gates.has_gates), "saturated_gates": gates.saturated_gates,
             "saturated_tanh": gates.saturated_tanh, "units": gates.units}
        if gates.has_gates:
            g["keep_gate_mean"] = gates.keep_mean
            g["half_life"] = {"min": gates.half_life_min, "median": gates.half_life_median,
                              "mean": gates.half_life_mean, "max": gates.half_life_max}
            g["half_life_by_unit"] = half_life[:gates.units].copy()
        out["gates"] = g
        ns = min(S.DIAG_SINGULAR, c.hidden_size)
        out["recurrence"] = {
            "cell": text(plain("mn_cell_name", cell)),
            "spectral_radius": recs.spectral_radius, "singular_values": list(recs.singular[:ns]),
            "jacobian_log10_singular":
                list(recs.jacobian_log10_singular[:min(S.DIAG_SINGULAR, recs.state_size)]),
            "lyapunov": recs.lyapunov, "steps": recs.steps, "sequences": recs.sequences}
    return out
