#!/usr/bin/env python3
"""Runs one entry of a model compiled to a library and in the interpreter on
the same NumPy inputs and weights, and compares every output.

    compare.py --seqc SEQC --seqrt-run RUN --lib LIB.so --src FILE.seq
               --work DIR [--entry E] [--input N=DTYPE:D0xD1..]...
               [--weight N=DTYPE:D0x..]... [--rtol 1e-5]

A shape "" (as in N=f32:) is a scalar. Prints "MATCH output I ..." per
output and "compare: ok", or "MISMATCH ..." and exits 1.
"""

import argparse
import glob
import json
import os
import struct
import subprocess
import sys

import numpy as np

DT = {"f32": np.float32, "f16": np.float16, "f64": np.float64,
      "i32": np.int32, "i64": np.int64, "bool": np.bool_}
ST = {"f32": "F32", "f16": "F16", "f64": "F64", "i32": "I32", "i64": "I64",
      "bool": "BOOL"}


def parse(spec):
    name, rest = spec.split("=", 1)
    dt, shape = rest.split(":", 1)
    return name, dt, tuple(int(d) for d in shape.split("x") if d)


def make(rng, dt, shape):
    if dt == "bool":
        return rng.integers(0, 2, shape).astype(np.bool_)
    if dt.startswith("i"):
        return rng.integers(-50, 50, shape).astype(DT[dt])
    return rng.standard_normal(shape).astype(DT[dt])


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (dt, arr) in tensors.items():
        data = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": ST[dt], "shape": list(arr.shape),
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqc", required=True)
    ap.add_argument("--seqrt-run", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--entry", default="forward")
    ap.add_argument("--input", action="append", default=[])
    ap.add_argument("--weight", action="append", default=[])
    ap.add_argument("--rtol", type=float, default=1e-5)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    rng = np.random.default_rng(1)
    stem = os.path.join(a.work, a.entry)
    flags = []
    if a.weight:
        ws = {}
        for spec in a.weight:
            name, dt, shape = parse(spec)
            ws[name] = (dt, make(rng, dt, shape))
        write_safetensors(stem + ".safetensors", ws)
        flags.append("--weights=" + stem + ".safetensors")
    for spec in a.input:
        name, dt, shape = parse(spec)
        path = "%s_%s.npy" % (stem, name)
        np.save(path, make(rng, dt, shape))
        flags += ["--input", "%s=%s" % (name, path)]
    outs = {}
    for tag, cmd in (("compiled", [a.seqrt_run, a.lib]),
                     ("interp", [a.seqc, "run", a.src, "--interpret"])):
        for f in glob.glob("%s_%s*.npy" % (stem, tag)):
            os.remove(f)
        out = "%s_%s.npy" % (stem, tag)
        p = subprocess.run(cmd + ["--entry=" + a.entry] + flags +
                           ["--output=" + out], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
        if p.returncode:
            print("FAILED %s: %s" % (tag, p.stdout))
            return 1
        files = sorted(glob.glob("%s_%s*.npy" % (stem, tag)))
        outs[tag] = [np.load(f) for f in files]
    got, want = outs["compiled"], outs["interp"]
    if len(got) != len(want):
        print("MISMATCH: %d outputs vs %d" % (len(got), len(want)))
        return 1
    ok = True
    for i, (g, w) in enumerate(zip(got, want)):
        same = (g.dtype == w.dtype and g.shape == w.shape and
                (np.allclose(g.astype(np.float64), w.astype(np.float64),
                             rtol=a.rtol, atol=a.rtol)
                 if g.dtype.kind == "f" else np.array_equal(g, w)))
        print("%s output %d %s%s" % ("MATCH" if same else "MISMATCH", i,
                                     g.dtype, list(g.shape)))
        if not same:
            print("  compiled %s %r\n  interp   %s %r"
                  % (g.dtype, g.ravel()[:8], w.dtype, w.ravel()[:8]))
            ok = False
    print("compare: ok" if ok else "compare: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
