#!/usr/bin/env python3
"""Runs every attention spelling compiled and checks it against the interpreter.

    check.py --seqc SEQC [--no-fuse-attention] [--long]

For each entry of fuse-a.seq, fuse-b.seq and refuse.seq (in this folder),
`seqc run --check` compiles the file (fused, or with --no-fuse-attention),
runs the entry on random inputs and compares it with the reference
interpreter, at T = 1, an odd T and a T of several tiles (S, the key length
of cross attention, differs from T). With --long, the fused entries that
the lowering treats differently (no mask, causal, window, GQA, cross) also
run at T = 1000, and decoding (one query) at S = 20000 keys. Prints one line per run; fails if any run fails.
"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = [{"B": 1, "T": 1, "S": 1, "N": 8},
          {"B": 2, "T": 37, "S": 50, "N": 8},
          {"B": 2, "T": 200, "S": 131, "N": 8}]
LONG = {"fuse-a": ["plain", "causal_where", "window", "masked_rows"],
        "fuse-b": ["gqa_repeat", "cross", "decode"]}
# The long shape; decoding gets one query against many keys instead.
LONG_SHAPE = {"B": 1, "T": 1000, "S": 700, "N": 8}
DECODE_SHAPE = {"B": 2, "T": 1, "S": 20000, "N": 8}
DIMS = {"fuse-a": "BT", "fuse-b": "BTS", "refuse": "BTN"}


def entries(path):
    with open(path) as f:
        return re.findall(r"^  fn (\w+)\(", f.read(), flags=re.M)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqc", default="seqc")
    ap.add_argument("--no-fuse-attention", action="store_true")
    ap.add_argument("--long", action="store_true")
    args = ap.parse_args()
    failed = 0
    for name in ["fuse-a", "fuse-b", "refuse"]:
        src = os.path.join(HERE, name + ".seq")
        runs = []
        for entry in entries(src):
            if args.long:
                if entry in LONG.get(name, []):
                    runs.append((entry, DECODE_SHAPE if entry == "decode"
                                 else LONG_SHAPE))
            else:
                runs += [(entry, shape) for shape in SHAPES]
        for entry, shape in runs:
            cmd = [args.seqc, "run", src, "--entry=" + entry, "--random",
                   "--check"]
            cmd += ["--dim=%s=%d" % (d, shape[d]) for d in DIMS[name]]
            if args.no_fuse_attention:
                cmd.append("--no-fuse-attention")
            res = subprocess.run(cmd, capture_output=True, text=True)
            checks = [l for l in res.stdout.splitlines() if l.startswith("check:")]
            ok = res.returncode == 0 and checks and all("(ok)" in c for c in checks)
            dims = " ".join("%s=%d" % (d, shape[d]) for d in DIMS[name])
            print("%s %s.%s %s: %s" % ("ok" if ok else "FAIL", name, entry, dims,
                                       "; ".join(checks) or res.stderr.strip()))
            failed += not ok
    print("%d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
