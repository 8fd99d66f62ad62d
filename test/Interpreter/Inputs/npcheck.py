"""Checks `seqc run --interpret` against an independent NumPy computation.

usage: npcheck.py [--prepare] SEQC MODEL.seq TMP [extra seqc run flags...]
       npcheck.py --same A.npy B.npy [--differ]

MODEL.seq carries the test in `#PY` comment lines, executed as Python with
`np`, `rand`, `randint`, `randbool` and the reference helpers below in scope.
They define:
  inputs   dict NAME -> array, written to TMP.in.NAME.npy
  weights  dict NAME -> array, written to TMP.w.safetensors (optional)
  dims     dict NAME -> int, passed as --dim (optional)
  entry    entry name (optional)
  ref(I, W) -> array or tuple of arrays, computed in float64 (optional)
  rtol, atol  tolerances (default 1e-5, 1e-6)
Runs `SEQC run MODEL.seq --interpret ... --output=TMP.out.npy`, loads the
outputs (TMP.out.npy, or TMP.out.0.npy ... for several) and compares them
with ref, printing the worst element on a mismatch (exit 1). Prints
`npcheck: ok` on success. With --prepare, only writes the files.
"""
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np

_rng = np.random.default_rng(1234)


def rand(*shape, lo=-1.0, hi=1.0, dtype=np.float32):
    return _rng.uniform(lo, hi, size=shape).astype(dtype)


def randint(hi, *shape, dtype=np.int64):
    return _rng.integers(0, hi, size=shape).astype(dtype)


def randbool(*shape):
    return _rng.integers(0, 2, size=shape).astype(np.bool_)


def f64(a):
    return np.asarray(a, dtype=np.float64)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def silu(x):
    return x * sigmoid(x)


_erf = np.vectorize(math.erf)


def erf(x):
    return _erf(f64(x))


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def softplus(x):
    return np.logaddexp(0.0, x)


def softmax(x, axis=-1):
    x = f64(x)
    m = np.max(x, axis=axis, keepdims=True)
    safe = np.where(np.isneginf(m), 0.0, m)
    e = np.exp(x - safe)
    s = np.sum(e, axis=axis, keepdims=True)
    return np.where(s == 0, 0.0, e / np.where(s == 0, 1.0, s))


_ST = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64",
       np.dtype(np.float16): "F16", np.dtype(np.int32): "I32",
       np.dtype(np.int64): "I64", np.dtype(np.bool_): "BOOL"}


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _ST[a.dtype], "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main(argv):
    if argv and argv[0] == "--same":
        # --same A.npy B.npy [--differ]: the two arrays are (not) identical.
        a, b = np.load(argv[1]), np.load(argv[2])
        same = a.shape == b.shape and a.dtype == b.dtype and (a == b).all()
        want = "--differ" not in argv
        print("npcheck: %s" % ("identical" if same else "different"))
        return 0 if same == want else 1
    prepare = False
    if argv and argv[0] == "--prepare":
        prepare, argv = True, argv[1:]
    seqc, model, tmp, extra = argv[0], argv[1], argv[2], argv[3:]
    code = []
    for line in open(model):
        s = line.strip()
        if s.startswith("#PY"):
            code.append(s[4:] if s.startswith("#PY ") else s[3:])
    env = dict(globals())
    env.update(inputs={}, weights=None, dims={}, entry=None, ref=None,
               rtol=1e-5, atol=1e-6)
    exec("\n".join(code), env)

    cmd = [seqc, "run", model, "--interpret"]
    if env["entry"]:
        cmd.append("--entry=" + env["entry"])
    for name, a in env["inputs"].items():
        path = "%s.in.%s.npy" % (tmp, name)
        np.save(path, a)
        cmd += ["--input", "%s=%s" % (name, path)]
    if env["weights"] is not None:
        path = tmp + ".w.safetensors"
        write_safetensors(path, env["weights"])
        cmd.append("--weights=" + path)
    for name, v in env["dims"].items():
        cmd += ["--dim", "%s=%d" % (name, v)]
    if prepare:
        return 0
    out = tmp + ".out.npy"
    for stale in [out] + ["%s.out.%d.npy" % (tmp, i) for i in range(16)]:
        if os.path.exists(stale):
            os.remove(stale)
    cmd += ["--output=" + out] + extra
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    sys.stdout.write(r.stdout)
    if r.returncode != 0:
        sys.stdout.write(r.stderr)
        print("npcheck: seqc exited with status %d" % r.returncode)
        return 1
    if env["ref"] is None:
        print("npcheck: ok")
        return 0

    expected = env["ref"](env["inputs"], env["weights"] or {})
    if not isinstance(expected, tuple):
        expected = (expected,)
    paths = [out] if len(expected) == 1 else [
        "%s.out.%d.npy" % (tmp, i) for i in range(len(expected))]
    ok = True
    for i, (path, want) in enumerate(zip(paths, expected)):
        want = np.asarray(want)
        got = np.load(path)
        if got.shape != want.shape:
            print("npcheck: output %d: shape %s, expected %s" %
                  (i, got.shape, want.shape))
            ok = False
            continue
        if want.dtype == np.bool_ or np.issubdtype(want.dtype, np.integer):
            if got.dtype != want.dtype and not (
                    np.issubdtype(got.dtype, np.integer) and
                    np.issubdtype(want.dtype, np.integer)):
                print("npcheck: output %d: dtype %s, expected %s" %
                      (i, got.dtype, want.dtype))
                ok = False
                continue
            bad = got != want
        else:
            g, w = f64(got), f64(want)
            bad = ~np.isclose(g, w, rtol=env["rtol"], atol=env["atol"],
                              equal_nan=True)
        if bad.any():
            err = np.abs(f64(got) - f64(want))
            err = np.where(bad, np.nan_to_num(err, nan=np.inf), 0)
            at = np.unravel_index(np.argmax(err), want.shape)
            print("npcheck: output %d: %d of %d elements differ; worst at %s: "
                  "got %r, expected %r" % (i, bad.sum(), bad.size,
                                           tuple(int(x) for x in at),
                                           got[at].item(), want[at].item()))
            ok = False
        else:
            print("npcheck: output %d matches (%s %s)" %
                  (i, got.dtype, list(got.shape)))
    if ok:
        print("npcheck: ok")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
