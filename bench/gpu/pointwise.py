#!/usr/bin/env python3
"""GPU: a compiled elementwise chain against a device copy of the same
bytes, in the same run (bench/README.md).

    LD_LIBRARY_PATH=lib python3 pointwise.py --bundle DIR --out DIR

Runs bench/models/silu_affine.seq compiled for cuda (y = silu(x) * w + b on
R x 4096 f32: one read and one write per element) with seqrt-run --bench,
and times torch's copy of a tensor of the same size (x -> y: the same
bytes) with CUDA events. Prints ratio first, absolute second; writes
pointwise.json.
"""

import argparse
import os
import re
import subprocess

from gpu_common import cuda_time, save


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", default="1024,4096,16384")
    args = ap.parse_args()
    import torch
    lib = os.path.join(args.bundle, "bench", "libsilu_affine.so")
    run = os.path.join(args.bundle, "bin", "seqrt-run")
    rows_all = [int(r) for r in args.rows.split(",")]
    results = []
    for R in rows_all:
        C = 4096
        nbytes = 2 * R * C * 4
        r = subprocess.run([run, lib, "--random", "--dim", "R=%d" % R,
                            "--bench=50"], capture_output=True, text=True)
        m = re.search(r"median ([0-9.e+-]+) ms", r.stdout)
        if r.returncode != 0 or not m:
            results.append({"rows": R, "error": (r.stderr + r.stdout)[-400:]})
            continue
        ours = float(m.group(1)) * 1e-3
        x = torch.randn(R, C, device="cuda")
        y = torch.empty_like(x)
        copy = cuda_time(lambda: y.copy_(x), 50, warmup=5)
        results.append({"rows": R, "ours_ms": ours * 1e3,
                        "copy_ms": copy * 1e3,
                        "ours_GBps": nbytes / ours / 1e9,
                        "copy_GBps": nbytes / copy / 1e9,
                        "ratio_of_copy": copy / ours})
        e = results[-1]
        print("silu_affine R=%-6d %.2f of copy   ours %.3f ms (%.0f GB/s)   "
              "copy %.3f ms (%.0f GB/s)" % (R, e["ratio_of_copy"],
                                            e["ours_ms"], e["ours_GBps"],
                                            e["copy_ms"], e["copy_GBps"]))
    save(args.out, "pointwise.json", results)

if __name__ == "__main__":
    main()
