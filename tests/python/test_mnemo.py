"""Tests of the Python binding (python/mnemo), run by tests/cli_python_test.sh:

    MNEMO_LIBRARY=build MNEMO_BIN=build/mnemo python3 tests/python/test_mnemo.py

Each test prints "ok - python: NAME" or "FAIL - python: NAME" and the traceback; the last
line is "N passed, N failed". Plain unittest assertions; no pytest needed."""

import ctypes
import json
import math
import os
import subprocess
import sys
import tempfile
import traceback
import unittest

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))

import numpy as np  # noqa: E402

import mnemo  # noqa: E402
from mnemo import _lib, _structs  # noqa: E402

BIN = os.environ.get("MNEMO_BIN", os.path.join(ROOT, "build", "mnemo"))


def mean_data(n, T, seed):
    """The mean of each sequence's real steps, as examples/arrays.c."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, T, 1)).astype(np.float32)
    lengths = rng.integers(5, T + 1, n).astype(np.int32)
    y = np.array([x[i, :lengths[i], 0].mean() for i in range(n)], dtype=np.float32)
    return x, y, lengths


class Binding(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        mnemo.set_threads(1)
        cls.tmp = tempfile.TemporaryDirectory(prefix="mnemo-python-")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    # -------------------------------------------------------------- the struct mirrors

    def test_mirrors_match_the_library_sizes(self):
        for name, mirror in _structs.MIRRORS.items():
            self.assertEqual(_lib.lib.mn_sizeof(name.encode()), ctypes.sizeof(mirror), name)
        self.assertEqual(_lib.lib.mn_sizeof(b"mn_model"), 0)   # opaque: nothing to mirror
        self.assertGreater(len(_structs.MIRRORS), 20)

        class ShortBlock(ctypes.Structure):   # a mirror missing its last field
            _fields_ = _structs.BlockConfig._fields_[:-1]
        sizeof = lambda n: _lib.lib.mn_sizeof(n.encode())
        with self.assertRaises(mnemo.MirrorError) as cm:
            _structs.check_mirrors(sizeof, {"mn_block_config": ShortBlock})
        self.assertIn("mn_block_config", str(cm.exception))
        self.assertIsInstance(cm.exception, ImportError)
        with self.assertRaises(mnemo.MirrorError) as cm:
            _structs.check_mirrors(sizeof, {"mn_no_such_type": ctypes.c_int})
        self.assertIn("mn_no_such_type", str(cm.exception))
        _structs.check_mirrors(sizeof)   # what the import ran

    # -------------------------------------------------------------- training

    def test_lstm_learns_from_numpy_arrays(self):
        x, y, lengths = mean_data(512, 20, 1)
        m = mnemo.Model(cell="lstm", hidden=32, seed=1)
        h = m.fit(x, y, lengths, steps=250, batch=32, lr=0.01, heldout=64)
        self.assertEqual(len(h["loss"]), 250)
        self.assertEqual(h["eval"][-1]["sequences"], 64)
        # the held-out loss well below the input-blind baseline (the mean target)
        self.assertLess(h["test_loss"], 0.1 * h["baseline_loss"], h["eval"])
        self.assertLess(np.mean(h["loss"][-20:]), np.mean(h["loss"][:20]))
        self.assertIsNone(h["accuracy"])
        # evaluate() without data: the held-out set again, the same number
        self.assertEqual(m.evaluate()["loss"], h["test_loss"])
        self.assertEqual(m.config["input_size"], 1)
        self.assertEqual(m.config["chrono_tmax"], 20)   # chrono init from the data, as the CLI

    def test_same_result_as_the_cli(self):
        args = ["train", "--task", "adding", "--length", "20", "--model", "lstm", "--hidden", "16",
                "--steps", "30", "--batch", "16", "--seed", "3", "--threads", "1", "--json",
                "--save", self.path("cli.safetensors")]
        run = subprocess.run([BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr)
        cli = json.loads(run.stdout.strip().splitlines()[-1])
        m = mnemo.Model(cell="lstm", hidden=16, seed=3)
        h = m.fit_task("adding", length=20, steps=30, batch=16)
        # the CLI's train loss: the mean of the last log window, ceil(steps / 20) steps
        window = math.ceil(30 / 20)
        g = lambda v: "%.6g" % v
        self.assertEqual(g(np.mean(h["loss"][-window:])), g(cli["train_loss"]))
        self.assertEqual(g(h["test_loss"]), g(cli["test_loss"]))
        self.assertEqual(g(h["baseline_loss"]), g(cli["baseline_loss"]))
        self.assertEqual(g(h["accuracy"]), g(cli["test_accuracy"]))
        self.assertEqual(cli["params"], m.param_count)
        # and the very same weights, bit for bit
        theirs = mnemo.load(self.path("cli.safetensors")).parameters()
        mine = m.parameters()
        self.assertEqual(list(mine), list(theirs))
        for k in mine:
            self.assertTrue(np.array_equal(mine[k], theirs[k]), k)

    def test_fit_task_refuses_a_model_of_other_sizes(self):
        with self.assertRaises(mnemo.ArgumentError) as cm:
            mnemo.Model(hidden=8, input_size=3).fit_task("adding", length=10, steps=1)
        self.assertIn("input_size", str(cm.exception))

    # -------------------------------------------------------------- predict, save, load

    def test_save_load_and_predict_equal_mn_model_forward(self):
        x, y, lengths = mean_data(200, 12, 2)
        m = mnemo.Model(cell="gru", hidden=12, seed=5)
        m.fit(x, y, lengths, steps=20)
        p = m.predict(x, lengths, batch=64)   # in chunks: 64, 64, 64, 8
        self.assertEqual(p.shape, (200, 1))
        self.assertEqual(p.dtype, np.float32)
        m.save(self.path("gru.safetensors"), {"note": "from python"})
        r = mnemo.load(self.path("gru.safetensors"))
        self.assertEqual(r.metadata("note"), "from python")
        self.assertEqual(r.seed, 5)
        self.assertTrue(np.array_equal(r.predict(x, lengths), p))
        # mn_model_forward called directly on the reloaded model, with the time-major
        # batch [T,B,I] filled element by element
        N, T = 7, 12
        bx = (ctypes.c_float * (T * N))()
        for t in range(T):
            for b in range(N):
                bx[t * N + b] = float(x[b, t, 0])
        blen = (ctypes.c_int32 * N)(*[int(v) for v in lengths[:N]])
        tgt = (ctypes.c_float * N)()
        batch = _structs.Batch(T=T, B=N, input_size=1, output_size=1)
        batch.x = ctypes.cast(bx, ctypes.POINTER(ctypes.c_float))
        batch.lengths = ctypes.cast(blen, ctypes.POINTER(ctypes.c_int32))
        batch.target = ctypes.cast(tgt, ctypes.POINTER(ctypes.c_float))
        out = ctypes.POINTER(ctypes.c_float)()
        self.assertEqual(_lib.lib.mn_model_forward(r._m, ctypes.byref(batch),
                                                   ctypes.byref(out)), 0)
        direct = np.array([out[b] for b in range(N)], dtype=np.float32)
        self.assertTrue(np.array_equal(direct, p[:N, 0]), (direct, p[:N, 0]))
        # the lengths matter: a sequence cut shorter gives another output
        cut = lengths.copy()
        cut[0] = 3
        self.assertNotEqual(m.predict(x[:1], cut[:1])[0, 0], p[0, 0])

    def test_tokens_and_labels_at_every_step(self):
        rng = np.random.default_rng(3)
        N, T, V = 128, 8, 4
        tok = rng.integers(0, V, (N, T))
        lab = np.concatenate([np.full((N, 1), -1), tok[:, :-1]], axis=1)   # the previous token
        m = mnemo.Model(cell="gru", hidden=16, vocab_size=V, seed=2)
        h = m.fit(tok, lab, steps=150, lr=0.02, heldout=16)
        self.assertEqual(m.config["loss"], "ce")
        self.assertEqual(m.config["output"], "every")
        self.assertGreater(h["accuracy"], 0.9)
        p = m.predict(tok[:5])
        self.assertEqual(p.shape, (5, T, V))
        ev = m.evaluate(tok, lab)
        self.assertEqual(ev["sequences"], N)
        self.assertGreater(ev["accuracy"], 0.9)

    # -------------------------------------------------------------- errors

    def test_errors_carry_mnemos_message(self):
        x, y, lengths = mean_data(16, 10, 4)
        x[2, 3, 0] = np.nan
        m = mnemo.Model(hidden=8)
        with self.assertRaises(mnemo.InputError) as cm:
            m.fit(x, y, lengths, steps=1)
        msg = str(cm.exception)
        self.assertEqual(msg, _lib.text(_lib.lib.mn_last_error()))   # the library's own words
        self.assertIn("sequence 2", msg)
        self.assertIn("step 3", msg)
        self.assertIsInstance(cm.exception, ValueError)
        x[2, 3, 0] = 0
        with self.assertRaises(mnemo.ArgumentError) as cm:
            m.fit(x[0], y, steps=1)               # [T,I]: a sequence axis missing
        self.assertIn("[N, T, I]", str(cm.exception))
        with self.assertRaises(mnemo.ArgumentError):
            m.fit(x, y[:5], lengths, steps=1)     # targets for other sequences
        with self.assertRaises(mnemo.InputError):
            m.fit(x, y, lengths + 100, steps=1)   # lengths past T
        with self.assertRaises(mnemo.ArgumentError):
            m.fit(x, y, lengths, steps=1, optimizer="adamx")
        with self.assertRaises(mnemo.ArgumentError):
            m.fit(x, y, lengths, steps=2 ** 40)   # would wrap in a C int
        with self.assertRaises(mnemo.ArgumentError):
            mnemo.Model(cell="lstmx")
        with self.assertRaises(mnemo.ArgumentError) as cm:
            mnemo.Model(blocks="lstm:8,nosuchkind", hidden=8).fit(x, y, steps=1)
        self.assertIn("nosuchkind", str(cm.exception))
        with self.assertRaises(mnemo.InputError):
            mnemo.load(self.path("missing.safetensors"))
        with self.assertRaises(mnemo.StateError):
            mnemo.Model(hidden=8).evaluate()
        # after all that the model still trains and predicts
        m.fit(x, y, lengths, steps=2)
        self.assertEqual(m.predict(x, lengths).shape, (16, 1))
        with self.assertRaises(mnemo.ArgumentError):
            m.predict(x.astype(object))
        with self.assertRaises(mnemo.ArgumentError):
            m.predict(np.zeros((16, 10, 2), np.float32))   # the model reads 1 feature
        # NaN in predict propagates, as in PyTorch
        x[0, 0, 0] = np.nan
        self.assertTrue(np.isnan(m.predict(x[:1], lengths[:1])[0, 0]))
        tok = mnemo.Model(hidden=8, vocab_size=3, output_size=2, loss="ce")
        with self.assertRaises(mnemo.InputError):
            tok.predict(np.array([[0, 1, 3]]))          # token 3 outside [0, 3)
        with self.assertRaises(mnemo.ArgumentError):
            tok.predict(np.array([[0.0, 1.0, 2.0]]))    # tokens as floats

    # -------------------------------------------------------------- diagnose, threads

    def test_diagnose_reports_the_gradient_profile(self):
        x, y, lengths = mean_data(96, 16, 6)
        m = mnemo.Model(cell="lstm", hidden=16, seed=1)
        m.fit(x, y, lengths, steps=60, lr=0.01)
        d = m.diagnose(x, y, lengths, batch=32)
        T = 16
        self.assertIn(d["verdict"], ("healthy", "vanishing", "exploding"))
        self.assertIn(d["fit"], ("good", "underfitting", "overfitting"))
        self.assertEqual(d["grad_norm_by_step"].shape, (T,))
        self.assertEqual(d["cell_grad_norm_by_step"].shape, (T,))
        self.assertEqual(d["grad_norm_by_block"].shape, (2,))
        self.assertTrue(np.all(d["grad_norm_by_step"] > 0))
        # the horizon as mn_gradient_horizon defines it, from the returned profile
        g = d["grad_norm_by_step"]
        ratio = g[::-1] / g[-1]
        self.assertTrue(np.allclose(ratio, d["ratio_by_lag"]))
        below = np.nonzero(ratio < d["threshold"])[0]
        self.assertEqual(d["horizon"], (below[0] - 1) if len(below) else T - 1)
        self.assertEqual(d["recurrent_block"], 0)
        self.assertTrue(d["gates"]["has_gates"])
        self.assertEqual(d["gates"]["half_life_by_unit"].shape, (16,))
        self.assertGreater(d["gates"]["half_life"]["max"], 0)
        self.assertEqual(d["recurrence"]["cell"], "lstm")
        self.assertTrue(d["advice"])
        self.assertEqual(d["span"], T - 1)

    def test_threads(self):
        mnemo.set_threads(2)
        self.assertEqual(mnemo.get_threads(), 2)
        mnemo.set_threads(1)
        self.assertEqual(mnemo.get_threads(), 1)
        with self.assertRaises(mnemo.ArgumentError):
            mnemo.set_threads(0)


def main():
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(Binding)
    passed = failed = 0

    class Result(unittest.TestResult):
        def addSuccess(self, test):
            nonlocal passed
            passed += 1
            print("ok - python: %s" % test._testMethodName, flush=True)

        def _fail(self, test, err):
            nonlocal failed
            failed += 1
            print("FAIL - python: %s" % getattr(test, "_testMethodName", test), flush=True)
            for line in "".join(traceback.format_exception(*err)).splitlines()[-12:]:
                print("    | " + line)

        addFailure = addError = _fail

    suite.run(Result())
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
