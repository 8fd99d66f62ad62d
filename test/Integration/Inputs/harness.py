#!/usr/bin/env python3
"""Checks an example model against an independent NumPy reference.

    harness.py NAME --seqc SEQC --examples DIR --work DIR [--batch 2] [--time 7]

For examples/NAME.seq this
  1. builds deterministic random weights with the names and shapes that the
     model declares (listed by Inputs/ref_NAME.py as PARAMS) and writes them
     as a .safetensors file (written by hand: an 8-byte little-endian header
     length, a JSON header {name: {dtype, shape, data_offsets}}, raw data);
  2. writes random inputs as .npy files;
  3. runs `seqc run NAME.seq --interpret --weights=W --input x=X.npy
     --output=OUT.npy` (the reference interpreter, double precision);
  4. evaluates ref_NAME.forward in float64 on the same f32 weights and
     inputs, and compares. On a mismatch it prints the worst element and
     exits 1; otherwise it prints `PASS NAME B=.. T=.. max_abs_err=...`.

With --ref-only it skips seqc and only evaluates the reference (a smoke
test of the reference and of the file writers).
"""

import argparse
import importlib.util
import json
import os
import struct
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

# Relative tolerance: the interpreter computes in double precision from the
# same f32 weights and inputs, so the two sides differ only by rounding.
RTOL = 1e-4


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------

_ST_DTYPES = {
    np.dtype(np.float32): "F32",
    np.dtype(np.float64): "F64",
    np.dtype(np.float16): "F16",
    np.dtype(np.int64): "I64",
    np.dtype(np.int32): "I32",
    np.dtype(np.bool_): "BOOL",
}


def write_safetensors(path, tensors):
    """Writes {name: ndarray} in the safetensors format."""
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {
            "dtype": _ST_DTYPES[arr.dtype],
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # align the data on 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def read_safetensors(path):
    """Reads a safetensors file back (used to self-check the writer)."""
    inv = {v: k for k, v in _ST_DTYPES.items()}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        dt = inv[info["dtype"]].newbyteorder("<")
        out[name] = np.frombuffer(data[lo:hi], dtype=dt).reshape(info["shape"])
    return out


# ---------------------------------------------------------------------------
# Deterministic weights
# ---------------------------------------------------------------------------

def _seed(name):
    """A seed that depends only on the weight name (stable across runs)."""
    h = 2166136261
    for c in name.encode():
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


def make_weight(name, shape, init):
    """init: ("linear",) N(0, 1/fan_in) with fan_in = shape[0];
    ("norm",) 1 + 0.1 N; ("normal", std[, mean]); ("uniform", lo, hi);
    ("log_uniform", lo, hi) the log of a uniform; ("dt_bias", lo, hi)
    softplus^-1 of a log-uniform step size (Mamba's dt initialisation)."""
    rng = np.random.default_rng(_seed(name))
    kind, args = init[0], init[1:]
    if kind == "linear":
        w = rng.standard_normal(shape) / np.sqrt(shape[0])
    elif kind == "norm":
        w = 1.0 + 0.1 * rng.standard_normal(shape)
    elif kind == "normal":
        std, mean = args[0], (args[1] if len(args) > 1 else 0.0)
        w = mean + std * rng.standard_normal(shape)
    elif kind == "uniform":
        w = rng.uniform(args[0], args[1], shape)
    elif kind == "log_uniform":
        w = np.log(rng.uniform(args[0], args[1], shape))
    elif kind == "dt_bias":
        dt = np.exp(rng.uniform(np.log(args[0]), np.log(args[1]), shape))
        w = dt + np.log(-np.expm1(-dt))
    else:
        raise ValueError("unknown init %r for %s" % (kind, name))
    return np.asarray(w, dtype=np.float32)


def make_weights(params):
    return {name: make_weight(name, tuple(shape), init)
            for name, shape, init in params}


def make_inputs(ref, B, T, seed):
    rng = np.random.default_rng(seed)
    if hasattr(ref, "inputs"):
        return ref.inputs(B, T, rng)
    return {"x": rng.standard_normal((B, T, ref.D)).astype(np.float32)}


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------

def load_ref(name):
    path = os.path.join(HERE, "ref_%s.py" % name)
    sys.path.insert(0, HERE)
    spec = importlib.util.spec_from_file_location("ref_" + name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def compare(name, got, want, tag):
    if got.shape != want.shape:
        print("FAIL %s %s: output shape %s, reference %s"
              % (name, tag, got.shape, want.shape))
        return False
    if not np.all(np.isfinite(want)):
        print("FAIL %s %s: the reference is not finite" % (name, tag))
        return False
    err = np.abs(got.astype(np.float64) - want)
    err = np.where(np.isnan(err), np.inf, err)
    scale = max(np.abs(want).max(), 1e-3)
    # Elementwise: |got - want| <= RTOL * (|want| + 0.01 * max|want|).
    bound = RTOL * (np.abs(want) + 0.01 * scale)
    worst = np.unravel_index(np.argmax(err / bound), err.shape)
    max_abs = float(err.max())
    if not np.all(err <= bound):
        print("FAIL %s %s: worst element %s: got %r, want %r "
              "(abs err %.3g, max_abs_err=%.3g, max|ref|=%.3g)"
              % (name, tag, tuple(int(i) for i in worst), float(got[worst]),
                 float(want[worst]), float(err[worst]), max_abs, scale))
        return False
    print("PASS %s %s max_abs_err=%.3g max_rel_err=%.3g"
          % (name, tag, max_abs, max_abs / scale))
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", help="example name: examples/NAME.seq")
    ap.add_argument("--seqc", default="seqc")
    ap.add_argument("--examples", default=os.path.join(HERE, "..", "..", "..",
                                                       "examples"))
    ap.add_argument("--work", default=".", help="folder for the files")
    ap.add_argument("--batch", "-B", type=int, default=2)
    ap.add_argument("--time", "-T", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ref-only", action="store_true")
    args = ap.parse_args()

    ref = load_ref(args.name)
    B, T = args.batch, args.time
    tag = "B=%d T=%d" % (B, T)
    os.makedirs(args.work, exist_ok=True)
    stem = os.path.join(args.work, "%s_B%d_T%d" % (args.name, B, T))

    weights = make_weights(ref.PARAMS)
    inputs = make_inputs(ref, B, T, args.seed)
    wpath = stem + ".safetensors"
    write_safetensors(wpath, weights)
    cmd = [args.seqc, "run", os.path.join(args.examples, args.name + ".seq"),
           "--interpret", "--weights=" + wpath]
    for iname, arr in inputs.items():
        ipath = "%s_%s.npy" % (stem, iname)
        np.save(ipath, arr)
        cmd += ["--input", "%s=%s" % (iname, ipath)]
    opath = stem + "_out.npy"
    cmd.append("--output=" + opath)

    # The reference sees exactly the f32 values the interpreter reads.
    w64 = {k: v.astype(np.float64) for k, v in read_safetensors(wpath).items()}
    i64 = {}
    for k in inputs:
        arr = np.load("%s_%s.npy" % (stem, k))
        i64[k] = arr.astype(np.float64) if arr.dtype.kind == "f" else arr
    want = np.asarray(ref.forward(w64, **i64), dtype=np.float64)

    if args.ref_only:
        ok = np.all(np.isfinite(want))
        print("%s %s %s reference shape=%s max|ref|=%.3g"
              % ("PASS" if ok else "FAIL", args.name, tag, want.shape,
                 np.abs(want).max()))
        return 0 if ok else 1

    if os.path.exists(opath):
        os.remove(opath)
    print("RUN", " ".join(cmd))
    sys.stdout.flush()
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        print("FAIL %s %s: seqc exited with %d" % (args.name, tag,
                                                  proc.returncode))
        return 1
    got = np.load(opath)
    return 0 if compare(args.name, got, want, tag) else 1


if __name__ == "__main__":
    sys.exit(main())
