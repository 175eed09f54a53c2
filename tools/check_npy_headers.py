#!/usr/bin/python3
"""Differential check of mnemo's .npy reader against numpy.load.

    make && /usr/bin/python3 tools/check_npy_headers.py [build/libmnemo.so] [--random N]

Builds many .npy images (hand-written headers in every form Python's literal syntax allows,
plus N random mutations of them) and loads each with numpy.load (from memory) and with
mn_array_parse (through ctypes). For every image whose dtype mnemo supports (float32,
int32), both must agree: accepted by both with the same shape and values (mnemo hands out
native C order), or refused by both. Prints each disagreement and a count; exits 1 if
there is one that is not a documented limit.

Documented limits, counted apart: numpy's dtype() spellings beyond '[<>=|]f4', 'f',
'float32', 'single' (and the int32 ones), such as '1f4', 'f 4' or '5f4' (npy_header.c);
named escapes \\N{...}; a form feed in the indentation of a 1.0 or 2.0 header (numpy
first rewrites those through Python's tokenize, which moves it); bytes after the array
data, which numpy.load ignores and mnemo refuses (a file must be exactly header + data
long). mnemo's header cap is 64 KiB; numpy (allow_pickle=False) refuses headers over 10000
characters.
"""
import ctypes
import io
import os
import random
import struct
import sys
import warnings

import numpy as np

warnings.simplefilter("ignore")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


class Array(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("ndim", ctypes.c_int),
                ("shape", ctypes.c_int64 * 8), ("count", ctypes.c_size_t),
                ("data", ctypes.c_void_p)]


def load_lib(path):
    lib = ctypes.CDLL(path)
    lib.mn_array_parse.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                   ctypes.POINTER(Array)]
    lib.mn_array_parse.restype = ctypes.c_int
    lib.mn_array_free.argtypes = [ctypes.POINTER(Array)]
    lib.mn_last_error.restype = ctypes.c_char_p
    return lib


def image(header, major, data):
    h = header if isinstance(header, bytes) else header.encode("latin1" if major < 3 else "utf8")
    fmt = "<H" if major == 1 else "<I"
    if major == 1 and len(h) > 65535:
        return None
    return b"\x93NUMPY" + bytes([major, 0]) + struct.pack(fmt, len(h)) + h + data


def by_numpy(img):
    try:
        a = np.load(io.BytesIO(img), allow_pickle=False)
    except Exception as e:          # noqa: BLE001 - any refusal counts
        return None, "%s: %s" % (type(e).__name__, str(e)[:80])
    if a.dtype.fields is not None or a.dtype.kind not in "fi" or a.dtype.itemsize != 4:
        return "unsupported", str(a.dtype)
    return a.astype(a.dtype.newbyteorder("<"), order="C"), None


def by_mnemo(lib, img):
    a = Array()
    s = lib.mn_array_parse(img, len(img), b"x.npy", ctypes.byref(a))
    if s != 0:
        return None, lib.mn_last_error().decode("utf8", "replace")
    shape = tuple(a.shape[i] for i in range(a.ndim))
    dt = "<f4" if a.dtype == 0 else "<i4"
    buf = ctypes.string_at(a.data, a.count * 4) if a.count else b""
    out = np.frombuffer(buf, dtype=dt).reshape(shape).copy()
    lib.mn_array_free(ctypes.byref(a))
    return out, None


def headers():
    """(header text, shape, fortran) triples: the header's form varies, the array not."""
    base = [("<f4", (3, 2, 4)), ("<i4", (5,)), ("<f4", ()), ("<f4", (0, 3)), (">f4", (2, 3)),
            (">i4", (3, 2, 4)), ("<f4", (1, 1, 2, 1, 3, 1, 1, 2))]
    forms = [
        "{'descr': %(d)s, 'fortran_order': %(f)s, 'shape': %(s)s, }",
        "{\"shape\": %(s)s, \"fortran_order\": %(f)s, \"descr\": %(d)s}",
        "{'fortran_order':%(f)s,'descr':%(d)s,'shape':%(s)s}",
        "\n\t{'descr' :\t%(d)s ,\n 'fortran_order' : %(f)s , # a comment\n 'shape' : %(s)s , } \n",
        "({'descr': (%(d)s), 'fortran_order': (%(f)s), 'shape': (%(s)s)})",
        "{'descr': %(d)s, \\\n'fortran_order': %(f)s, 'shape': %(s)s}",
        "{'descr': %(d)s, 'descr': %(d)s, 'fortran_order': %(f)s, 'shape': %(s)s}",
        "{'desc' 'r': %(d)s, r'fortran_order': %(f)s, u'shape': %(s)s}",
        "{'''descr''': %(d)s, \"\"\"fortran_order\"\"\": %(f)s, 'sh\\x61pe': %(s)s}",
        "{'descr': %(d)s, 'fortran_order': %(f)s, 'shape': %(s)s}\r\n",
        "{'descr': %(d)s, 'fortran_order': %(f)s, 'shape': %(s)s}\x0b",
        "{'descr': %(d)s, 'fortran_order': %(f)s, 'shape': %(s)s,,}",
        "{'descr': %(d)s, 'fortran_order': %(f)s}",
        "{'descr': %(d)s, 'fortran_order': %(f)s, 'shape': %(s)s, 'x': 1}",
        "{'descr': %(d)s, 'fortran_order': %(f)s, 'shape': %(s)s, b'x': 1}",
        "{'descr': %(d)s, 'fortran_order': %(f)s, 'shape': %(s)s}, ",
        "[{'descr': %(d)s, 'fortran_order': %(f)s, 'shape': %(s)s}]",
        "{'descr': %(d)s, 'fortran_order': %(f)s, 'shape': %(s)s} # \xe9",
    ]
    descr_forms = ["'%s'", "\"%s\"", "r'%s'", "'''%s'''", "b'%s'", "('%s')", "'%s' ''"]

    def shape_forms(s):
        items = [str(x) for x in s]
        yield "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        yield "(" + ",".join(items) + ",)" if items else "()"
        yield "(" + ", ".join("0x%x" % x for x in s) + ("," if len(s) == 1 else "") + ")"
        yield "(" + ", ".join("+%d" % x for x in s) + ("," if len(s) == 1 else "") + ")"
        yield "(" + ", ".join("(%d)" % x for x in s) + ("," if len(s) == 1 else "") + ")"
        yield "(" + ", ".join("%dL" % x for x in s) + ("," if len(s) == 1 else "") + ")"
        yield "[" + ", ".join(items) + "]"
        if s:
            yield "(" + ", ".join(items) + ")" if len(s) > 1 else items[0]
            yield "(" + ", ".join("%d.0" % x for x in s) + ",)"
            yield "(" + ", ".join("True" if x == 1 else str(x) for x in s) + ",)"
            yield "(" + ", ".join("0%d" % x for x in s) + ",)"
            yield "(" + ", ".join("-%d" % x for x in s) + ",)"
            yield "(" + ", ".join("%d_0" % x for x in s) + ",)"

    for descr, shape in base:
        for fortran in ("False", "True"):
            for form in forms:
                for df in descr_forms:
                    d = df % descr
                    for s in shape_forms(shape):
                        yield form % {"d": d, "f": fortran, "s": s}, descr, shape, fortran
    for descr in ["f4", "=f4", "|f4", "f", "<f", "float32", "single", "i4", ">i", "int32",
                  "intc", "<f8", "<i8", "|u1", "<f2", "f 4", "1f4", "<float32", "<f4\\x00"]:
        yield "{'descr': '%s', 'fortran_order': False, 'shape': (3, 2)}" % descr, descr, (3, 2), "False"


def mutate(rng, text):
    s = list(text)
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        pos = rng.randrange(len(s) + 1)
        if op < 0.4 and s:
            del s[min(pos, len(s) - 1)]
        elif op < 0.8:
            s.insert(pos, rng.choice(" \t\n\r\f\v,:()[]{}'\"\\#L_0123456789xoebjrbu+-.TFN<>=|fi\xe9\x00"))
        elif s:
            s[min(pos, len(s) - 1)] = rng.choice("'\"(),:{} \n0123456789")
    return "".join(s)


def data_for(descr, shape, fortran):
    """The array's bytes as numpy.save lays them out for that descr, shape and order."""
    n = int(np.prod(shape)) if shape else 1
    kind = "i" if "i" in descr else "f"
    dt = np.dtype((">" if descr.startswith(">") else "<") + kind + "4")
    a = (np.arange(n) * 3 - 7).astype(dt).reshape(shape)
    return a.tobytes(order="F" if fortran == "True" else "C")


def main():
    args = sys.argv[1:]
    nrand = 20000
    if "--random" in args:
        k = args.index("--random")
        nrand = int(args[k + 1])
        del args[k:k + 2]
    lib = load_lib(args[0] if args else os.path.join(ROOT, "build", "libmnemo.so"))
    rng = random.Random(15)
    cases = list(headers())
    known = ("\\N{",)
    total = agree = limits = 0
    bad = []
    pool = [c for c in cases]
    work = [(c, 1) for c in cases] + [(c, 3) for c in cases]
    for _ in range(nrand):
        h, d, s, f = rng.choice(pool)
        work.append(((mutate(rng, h), d, s, f), rng.choice((1, 2, 3))))
    for (h, descr, shape, fortran), major in work:
        data = data_for(descr, shape, fortran)
        img = image(h, major, data)
        if img is None:
            continue
        want, why = by_numpy(img)
        if isinstance(want, str):
            continue                    # a dtype mnemo does not read
        got, err = by_mnemo(lib, img)
        total += 1
        same = (want is None and got is None) or (
            want is not None and got is not None and want.shape == got.shape and
            want.tobytes() == got.tobytes())
        if same:
            agree += 1
        elif any(k in h for k in known) or (major < 3 and "\f" in h) or (want is not None and err is not None and (
                "trailing bytes" in err or "is not supported" in err)):
            limits += 1
        else:
            bad.append((major, h, "numpy: %s" % (why or "ok %s" % (want.shape,)),
                        "mnemo: %s" % (err or "ok %s" % (got.shape,))))
    for major, h, a, b in bad[:40]:
        print("v%d %r\n    %s\n    %s" % (major, h, a, b))
    print("npy headers: %d images, %d agree, %d differ on documented limits, %d disagree"
          % (total, agree, limits, len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
