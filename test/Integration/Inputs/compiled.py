#!/usr/bin/env python3
"""Checks a compiled example library against the interpreter and NumPy.

    compiled.py NAME --seqc SEQC --seqrt-run RUN --examples DIR --work DIR
                [-B 2] [-T 7] [--chunks 1,3]

For examples/NAME.seq this compiles `seqc NAME.seq -o libNAME.so`, writes the
weights and inputs that harness.py writes (deterministic, from
Inputs/ref_NAME.py), runs the library with seqrt-run and the same model with
`seqc run --interpret`, and compares both with the NumPy reference (the
harness's tolerance, rtol 1e-4) and with each other. With --chunks, it also
runs the library's step entry (`forward_step`, seq-derive-step) over the
same inputs, that many tokens per call from a fresh state, and checks that
stepping gives what the whole forward gives.
"""

import argparse
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402


def run(cmd):
    print("RUN", " ".join(cmd))
    sys.stdout.flush()
    return subprocess.run(cmd).returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--seqc", default="seqc")
    ap.add_argument("--seqrt-run", default="seqrt-run")
    ap.add_argument("--examples", required=True)
    ap.add_argument("--work", default=".")
    ap.add_argument("--batch", "-B", type=int, default=2)
    ap.add_argument("--time", "-T", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunks", default="",
                    help="comma-separated tokens per step call")
    args = ap.parse_args()

    ref = harness.load_ref(args.name)
    B, T = args.batch, args.time
    tag = "B=%d T=%d" % (B, T)
    os.makedirs(args.work, exist_ok=True)
    stem = os.path.join(args.work, "%s_B%d_T%d" % (args.name, B, T))
    src = os.path.join(args.examples, args.name + ".seq")

    lib = os.path.join(args.work, "lib%s.so" % args.name)
    if not os.path.exists(lib) and run([args.seqc, src, "-o", lib]) != 0:
        print("FAIL %s: seqc could not build %s" % (args.name, lib))
        return 1

    wpath = stem + ".safetensors"
    harness.write_safetensors(wpath, harness.make_weights(ref.PARAMS))
    inputs = harness.make_inputs(ref, B, T, args.seed)
    flags = ["--weights=" + wpath]
    for iname, arr in inputs.items():
        ipath = "%s_%s.npy" % (stem, iname)
        np.save(ipath, arr)
        flags += ["--input", "%s=%s" % (iname, ipath)]

    w64 = {k: v.astype(np.float64)
           for k, v in harness.read_safetensors(wpath).items()}
    i64 = {}
    for k in inputs:
        arr = np.load("%s_%s.npy" % (stem, k))
        i64[k] = arr.astype(np.float64) if arr.dtype.kind == "f" else arr
    want = np.asarray(ref.forward(w64, **i64), dtype=np.float64)

    cout, iout = stem + "_compiled.npy", stem + "_interp.npy"
    for p in (cout, iout):
        if os.path.exists(p):
            os.remove(p)
    if run([args.seqrt_run, lib] + flags + ["--output=" + cout]) != 0:
        print("FAIL %s %s: seqrt-run failed" % (args.name, tag))
        return 1
    if run([args.seqc, "run", src, "--interpret"] + flags +
           ["--output=" + iout]) != 0:
        print("FAIL %s %s: the interpreter failed" % (args.name, tag))
        return 1
    got, interp = np.load(cout), np.load(iout)
    ok = harness.compare(args.name + " compiled-vs-ref", got, want, tag)
    ok = harness.compare(args.name + " compiled-vs-interp", got,
                         interp.astype(np.float64), tag) and ok
    for chunk in filter(None, args.chunks.split(",")):
        sout = "%s_step%s.npy" % (stem, chunk)
        if os.path.exists(sout):
            os.remove(sout)
        if run([args.seqrt_run, lib, "--entry=forward_step",
                "--chunk=" + chunk] + flags + ["--output=" + sout]) != 0:
            print("FAIL %s %s: the step entry failed" % (args.name, tag))
            return 1
        stepped = np.load(sout)
        ctag = "%s chunk=%s" % (tag, chunk)
        ok = harness.compare(args.name + " step-vs-ref", stepped, want,
                             ctag) and ok
        ok = harness.compare(args.name + " step-vs-forward", stepped,
                             got.astype(np.float64), ctag) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
