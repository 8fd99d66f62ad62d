#!/usr/bin/env python3
"""Helpers for the tests that build C programs against a generated library.

    c_api.py weights NAME OUT.safetensors
        The weights Integration/Inputs/harness.py makes for examples/NAME.seq.
    c_api.py check --seqc SEQC --src NAME.seq --weights W --dump PREFIX
                   --printed OUT.txt -B B -T T
        Reads PREFIX.x.f32 and PREFIX.out.f32 (raw f32[B, T, D], written by
        examples/c/main.c), runs the interpreter on x with the same weights,
        compares the outputs elementwise (the harness's tolerance) and the
        sum the program printed in OUT.txt with the interpreter's.
"""

import argparse
import os
import re
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "Integration", "Inputs"))
import harness  # noqa: E402


def weights(args):
    ref = harness.load_ref(args.name)
    harness.write_safetensors(args.out, harness.make_weights(ref.PARAMS))
    return 0


def check(args):
    x = np.fromfile(args.dump + ".x.f32", dtype="<f4")
    got = np.fromfile(args.dump + ".out.f32", dtype="<f4")
    shape = (args.B, args.T, x.size // (args.B * args.T))
    x, got = x.reshape(shape), got.reshape(shape)
    xpath, opath = args.dump + ".x.npy", args.dump + ".interp.npy"
    np.save(xpath, x)
    p = subprocess.run([args.seqc, "run", args.src, "--interpret",
                        "--weights=" + args.weights, "--input", "x=" + xpath,
                        "--output=" + opath])
    if p.returncode:
        print("FAIL: the interpreter failed")
        return 1
    want = np.load(opath).astype(np.float64)
    tag = "B=%d T=%d" % (args.B, args.T)
    ok = harness.compare("c-api-vs-interp", got, want, tag)
    with open(args.printed) as f:
        m = re.search(r" sum=(\S+)", f.read())
    printed, expected = float(m.group(1)), float(want.sum())
    if abs(printed - expected) > 1e-3 * max(1.0, np.abs(want).sum()):
        print("FAIL checksum: printed %g, interpreter %g" % (printed, expected))
        ok = False
    else:
        print("PASS checksum %s" % tag)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("weights")
    w.add_argument("name")
    w.add_argument("out")
    c = sub.add_parser("check")
    c.add_argument("--seqc", required=True)
    c.add_argument("--src", required=True)
    c.add_argument("--weights", required=True)
    c.add_argument("--dump", required=True)
    c.add_argument("--printed", required=True)
    c.add_argument("-B", type=int, required=True)
    c.add_argument("-T", type=int, required=True)
    args = ap.parse_args()
    return weights(args) if args.cmd == "weights" else check(args)


if __name__ == "__main__":
    sys.exit(main())
