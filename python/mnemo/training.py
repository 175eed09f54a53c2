"""Model training and evaluation: fit on NumPy arrays (mn_task_from_arrays), fit_task on a
built-in task, evaluate, evaluate_task; the steps run through mn_trainer_*."""

from ctypes import byref, c_int, c_void_p

import numpy as np

from . import _data as D
from . import _structs as S
from ._lib import call, plain, text
from ._util import INT_MAX, LOSSES, OUTPUTS, SCHEDULES, check_float, check_int, choice, \
    eval_dict, name_of
from .errors import ArgumentError, Error, StateError


class Training:
    """The training and evaluation methods of mnemo.Model (see there)."""

    # ------------------------------------------------------------ training

    def fit(self, x, y, lengths=None, *, steps=1000, batch=32, lr=5e-3, heldout=0, seed=None,
            clip=1.0, clip_value=0.0, optimizer="adam", weight_decay=None, momentum=0.9,
            schedule="constant", warmup=0, min_lr_ratio=0.1, schedule_steps=0, tbptt=0,
            eval_every=None, max_bad_steps=5, callback=None):
        """Train on your own arrays; returns the history (a dict).

        x: [N,T,I] float inputs (or [N,T] int tokens for a model with vocab_size).
        y: targets. loss "mse": [N,O] (output "last"; [N] for O=1) or [N,T,O] ("every");
           loss "ce": int class labels [N] or [N,T], -1 to ignore a position. When the
           model has no loss yet, an integer y means "ce", any other "mse"; output
           "every" when y has a time axis ([N,T,O] targets, [N,T] labels).
        lengths: [N] ints in [1, T]; steps past a sequence's length are padding.
        heldout: this many sequences, chosen by the seed, are never trained on and form
           the evaluation set (0: evaluate on the training sequences).
        steps, batch, lr, optimizer ("adam", "adamw", "sgd"), weight_decay (default 0,
           0.01 for adamw as torch.optim.AdamW), momentum (sgd), schedule ("constant",
           "cosine"), warmup, min_lr_ratio, schedule_steps, clip (global gradient norm;
           0: off), clip_value, tbptt (chunk length; 0: full BPTT), max_bad_steps: as
           mn_train_config and the CLI's train options.
        seed: the held-out split and the batches' order (default: the model's seed).
        eval_every: also evaluate every N steps (the final evaluation always runs).
        callback: called after every step with a dict (step, loss, grad_norm, lr,
           skipped); returning True ends training there.

        History: per step lists "step", "loss", "grad_norm", "lr", "skipped"; "eval", a
        list of evaluations ({"step", "loss", "accuracy", "sequences"}); "test_loss" and
        "accuracy" of the final evaluation (accuracy None for MSE); "baseline_loss", the
        loss of the best input-blind guess learned from the training sequences.
        Each fit makes a new optimizer (fresh Adam moments) and continues from the current
        weights. Raises mnemo.InputError (mnemo's message naming sequence, step and
        value) for NaN/Inf data or labels out of range, mnemo.NumericError when steps go
        NaN max_bad_steps times in a row (its .history holds the steps done).
        """
        seed = self.seed if seed is None else check_int(seed, "seed", 0, 2 ** 64 - 1)
        inp = self._inputs(x, lengths)
        yarr = np.asarray(y)
        loss = self._loss
        if loss is None:
            loss = D.CE if yarr.dtype.kind in "iu" else D.MSE
        output = self._output
        if output is None:
            output = D.EVERY if yarr.ndim == (3 if loss == D.MSE else 2) else D.LAST
        tgt = D.Targets(yarr, inp, loss, output, self._output_size)
        heldout = check_int(heldout, "heldout", 0, inp.N - 1)
        a = D.arrays_struct(inp, tgt, heldout, self._vocab)
        task = c_void_p()
        call("mn_task_from_arrays", byref(a), seed, byref(task))
        try:
            if self._m is None:
                self._build(inp.T, inp=inp, tgt=tgt)
            else:
                self._check_data(inp, tgt)
        except BaseException:
            plain("mn_task_free", task)
            raise
        info = plain("mn_task_get_info", task).contents
        return self._train(task, dict(
            steps=steps, batch=batch, lr=lr, clip=clip, clip_value=clip_value,
            optimizer=optimizer, weight_decay=weight_decay, momentum=momentum,
            schedule=schedule, warmup=warmup, min_lr_ratio=min_lr_ratio,
            schedule_steps=schedule_steps, tbptt=tbptt, seed=seed,
            eval_size=max(1, info.eval_sequences), max_bad_steps=max_bad_steps),
            eval_every, callback)

    def fit_task(self, name="adding", length=100, *, steps=2000, batch=32, lr=5e-3, seed=None,
                 clip=1.0, clip_value=0.0, optimizer="adam", weight_decay=None, momentum=0.9,
                 schedule="constant", warmup=0, min_lr_ratio=0.1, schedule_steps=0, tbptt=0,
                 eval_size=1000, eval_every=None, max_bad_steps=5, callback=None):
        """Train on a built-in task (mnemo.task_names(): "adding", "copy", ...) of the
        given length; returns the history as fit does. The options are fit's and the
        CLI's `mnemo train`, with its defaults: the same model options, seed and options
        give the same weights and losses as `mnemo train --task NAME --length N --seed S`
        (on the same thread count). eval_size: held-out sequences of the final
        evaluation, from the task's separate held-out stream.
        """
        if not isinstance(name, str):
            raise ArgumentError("the task name must be a string such as \"adding\"")
        length = check_int(length, "length", 1, INT_MAX)
        seed = self.seed if seed is None else check_int(seed, "seed", 0, 2 ** 64 - 1)
        task = c_void_p()
        call("mn_task_create", name.encode(), length, seed, byref(task))
        try:
            info = plain("mn_task_get_info", task).contents
            if self._m is None:
                self._build(info.max_steps, task=task)
            else:
                self._check_task(info)
        except BaseException:
            plain("mn_task_free", task)
            raise
        return self._train(task, dict(
            steps=steps, batch=batch, lr=lr, clip=clip, clip_value=clip_value,
            optimizer=optimizer, weight_decay=weight_decay, momentum=momentum,
            schedule=schedule, warmup=warmup, min_lr_ratio=min_lr_ratio,
            schedule_steps=schedule_steps, tbptt=tbptt, seed=seed, eval_size=eval_size,
            max_bad_steps=max_bad_steps), eval_every, callback)

    def _check_data(self, inp, tgt):
        c = self._cfg()
        if (c.vocab_size > 0) != (inp.tokens is not None):
            raise ArgumentError("the model reads %s and x holds %s" % (
                "tokens" if c.vocab_size else "dense features",
                "tokens" if inp.tokens is not None else "dense features"))
        if (tgt.loss, tgt.output, tgt.O) != (c.loss, c.output, c.output_size):
            raise ArgumentError("y is for loss \"%s\" with output \"%s\" and %d outputs; the "
                                "model has \"%s\", \"%s\", %d" % (
                                    name_of(LOSSES, tgt.loss), name_of(OUTPUTS, tgt.output),
                                    tgt.O, name_of(LOSSES, c.loss),
                                    name_of(OUTPUTS, c.output), c.output_size))

    def _check_task(self, info):
        c = self._cfg()
        mine = (c.input_size if not c.vocab_size else 0, c.vocab_size, c.output_size, c.loss,
                c.output)
        theirs = (info.input_size, info.vocab_size, info.output_size, info.loss, info.output)
        if mine != theirs:
            raise ArgumentError("task %s needs input %d, vocabulary %d, outputs %d, loss \"%s\", "
                                "output \"%s\"; this model has %d, %d, %d, \"%s\", \"%s\"" % (
                                    text(info.name), theirs[0], theirs[1], theirs[2],
                                    name_of(LOSSES, theirs[3]), name_of(OUTPUTS, theirs[4]),
                                    mine[0], mine[1], mine[2], name_of(LOSSES, mine[3]),
                                    name_of(OUTPUTS, mine[4])))

    def _train_config(self, o):
        tc = S.TrainConfig()
        plain("mn_train_config_init", byref(tc))
        tc.steps = check_int(o["steps"], "steps", 1, INT_MAX)
        tc.batch_size = check_int(o["batch"], "batch", 1, 1 << 24)
        if not isinstance(o["optimizer"], str):
            raise ArgumentError("optimizer must be \"adam\", \"adamw\" or \"sgd\"")
        opt = c_int()
        call("mn_optimizer_parse", o["optimizer"].encode(), byref(opt))
        tc.optimizer = opt.value
        tc.lr = check_float(o["lr"], "lr")
        wd = o["weight_decay"]
        tc.weight_decay = (0.01 if o["optimizer"] == "adamw" else 0.0) if wd is None else \
            check_float(wd, "weight_decay")
        tc.momentum = check_float(o["momentum"], "momentum")
        tc.schedule = choice(o["schedule"], SCHEDULES, "schedule")
        tc.warmup_steps = check_int(o["warmup"], "warmup", 0, INT_MAX)
        tc.min_lr_ratio = check_float(o["min_lr_ratio"], "min_lr_ratio")
        tc.schedule_steps = check_int(o["schedule_steps"], "schedule_steps", 0, INT_MAX)
        tc.clip_norm = check_float(o["clip"], "clip")
        tc.clip_value = check_float(o["clip_value"], "clip_value")
        tc.tbptt = check_int(o["tbptt"], "tbptt", 0, INT_MAX)
        tc.seed = o["seed"]
        tc.eval_size = check_int(o["eval_size"], "eval_size", 1, INT_MAX)
        tc.max_bad_steps = check_int(o["max_bad_steps"], "max_bad_steps", 1, INT_MAX)
        return tc

    def _free_training(self):
        if self._trainer is not None:
            plain("mn_trainer_free", self._trainer)
            self._trainer = None
        if self._task is not None:
            plain("mn_task_free", self._task)
            self._task = None

    def _train(self, task, opts, eval_every, callback):
        """Runs the steps on task (which this model then owns)."""
        try:
            tc = self._train_config(opts)
            if eval_every is not None:
                eval_every = check_int(eval_every, "eval_every", 1, INT_MAX)
            tr = c_void_p()
            call("mn_trainer_create", self._m, task, byref(tc), byref(tr))
        except BaseException:
            plain("mn_task_free", task)
            raise
        self._free_training()
        self._trainer, self._task = tr, task
        info = plain("mn_task_get_info", task).contents
        hist = {"step": [], "loss": [], "grad_norm": [], "lr": [], "skipped": [], "eval": [],
                "baseline_loss": info.baseline_loss}
        self._last_fit = {"steps": 0, "clip": tc.clip_norm, "tbptt": tc.tbptt, "history": hist}
        st = S.StepStats()
        ev = S.EvalStats()
        for step in range(1, tc.steps + 1):
            try:
                call("mn_trainer_step", tr, byref(st))
            except Error as e:
                e.history = hist
                raise
            rec = {"step": st.step, "loss": st.loss, "grad_norm": st.grad_norm, "lr": st.lr,
                   "skipped": bool(st.skipped)}
            for k, v in rec.items():
                hist[k].append(v)
            self._last_fit["steps"] = step
            if callback is not None and callback(rec) is True:
                break
            if eval_every and step % eval_every == 0 and step < tc.steps:
                call("mn_trainer_evaluate", tr, byref(ev))
                hist["eval"].append(dict(step=step, **eval_dict(ev)))
        call("mn_trainer_evaluate", tr, byref(ev))
        hist["eval"].append(dict(step=self._last_fit["steps"], **eval_dict(ev)))
        hist["test_loss"] = ev.loss
        hist["accuracy"] = None if ev.accuracy < 0 else ev.accuracy
        return hist

    # ------------------------------------------------------------ evaluation

    def evaluate(self, x=None, y=None, lengths=None, *, batch=256):
        """The loss (and accuracy, where the loss is cross-entropy) of the model.

        With x and y (and lengths), on those sequences, each once: returns {"loss",
        "accuracy", "sequences", "baseline_loss"} (the baseline: the best input-blind
        guess for this data). Without them, on the evaluation set of the last fit (its
        held-out sequences, or the task's held-out stream for fit_task).
        """
        ev = S.EvalStats()
        if x is None and y is None:
            if self._trainer is None:
                raise StateError("evaluate() without data reads the evaluation set of the "
                                 "last fit, and this model has not been trained here; give "
                                 "x and y")
            call("mn_trainer_evaluate", self._trainer, byref(ev))
            return eval_dict(ev, plain("mn_task_get_info", self._task).contents)
        if x is None or y is None:
            raise ArgumentError("give both x and y (or neither, for the last fit's evaluation "
                                "set)")
        batch = check_int(batch, "batch", 1, 1 << 24)
        inp = self._inputs(x, lengths)
        c = self._cfg() if self._m is not None else None
        loss = c.loss if c else (self._loss if self._loss is not None else
                                 (D.CE if np.asarray(y).dtype.kind in "iu" else D.MSE))
        output = c.output if c else (self._output if self._output is not None else D.LAST)
        tgt = D.Targets(y, inp, loss, output, c.output_size if c else self._output_size)
        m = self._handle(inp, tgt)
        self._check_data(inp, tgt)
        a = D.arrays_struct(inp, tgt, 0, self._vocab)
        task = c_void_p()
        call("mn_task_from_arrays", byref(a), self.seed, byref(task))
        try:
            call("mn_evaluate", m, task, inp.N, batch, byref(ev))
            return eval_dict(ev, plain("mn_task_get_info", task).contents)
        finally:
            plain("mn_task_free", task)

    def evaluate_task(self, name="adding", length=100, *, sequences=1000, batch=32, seed=None):
        """The loss (and accuracy) on `sequences` held-out sequences of a built-in task, as
        `mnemo eval` measures it; returns {"loss", "accuracy", "sequences",
        "baseline_loss"}."""
        if not isinstance(name, str):
            raise ArgumentError("the task name must be a string such as \"adding\"")
        seed = self.seed if seed is None else check_int(seed, "seed", 0, 2 ** 64 - 1)
        task = c_void_p()
        call("mn_task_create", name.encode(), check_int(length, "length", 1, INT_MAX), seed,
             byref(task))
        try:
            info = plain("mn_task_get_info", task).contents
            if self._m is None:
                self._build(info.max_steps, task=task)
            self._check_task(info)
            ev = S.EvalStats()
            call("mn_evaluate", self._m, task, check_int(sequences, "sequences", 1, INT_MAX),
                 check_int(batch, "batch", 1, 1 << 24), byref(ev))
            return eval_dict(ev, info)
        finally:
            plain("mn_task_free", task)

