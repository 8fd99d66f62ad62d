#!/usr/bin/env python3
"""Scans on the CPU: the diagonal recurrence against copy bandwidth, and the
recurrent models with and without --parallel-scans.

    /usr/bin/python3 bench/scan.py [--seqc build/bin/seqc]
        [--seqrt-run build/bin/seqrt-run] [--work build/bench-scan]
        [--out bench/results] [--threads N] [--runs 5] [--models mamba,gla]
        [--T-model 4096]

1. bench/models/scan.seq (`h = a * h + b`, every state an output, f32) at
   B=1, T=65536, D=256 and B=8, T=4096, D=2048, compiled twice: the
   sequential scan (seqc's default) and the associative-scan lowering
   (--parallel-scans). Its peer, measured in the same run: np.copyto of an
   array holding as many bytes as the scan reads and writes (a and b read,
   y written: 12 bytes per element) into a preallocated one. Each is
   reported as GB/s (bytes read + written / median time) and as a fraction
   of the copy's GB/s.
2. examples/mamba.seq and examples/gla.seq (random weights, through
   `seqc run --bench`), forward at B=1, T=--T-model, sequential against
   --parallel-scans: the ratio
   (sequential / parallel; above 1 the scan form is faster) then both
   times.

The scan libraries run under seqrt-run --bench (median of --runs), all with
SEQRT_NUM_THREADS=--threads. Writes OUT/scan-cpu-HOST-DATE.json and prints
the tables.
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCAN_MODEL = os.path.join(HERE, "models", "scan.seq")
SHAPES = [(1, 65536, 256), (8, 4096, 2048)]
FORMS = {"sequential": None, "parallel": "--parallel-scans"}


def compile_lib(seqc, src, out, flag):
    subprocess.run([seqc, src, "-o", out] + ([flag] if flag else []),
                   check=True)


def run_bench(tool, lib, dims, runs, env, pre=(), post=()):
    cmd = [tool] + list(pre) + [lib, "--random", "--bench=%d" % runs]
    cmd += list(post)
    for k, v in dims.items():
        cmd += ["--dim", "%s=%d" % (k, v)]
    text = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if text.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), text.stderr.strip()))
    m = re.search(r"median ([0-9.e+]+) ms", text.stdout)
    return float(m.group(1))


def copy_ms(elements, runs):
    import numpy as np
    src = np.random.default_rng(0).random(elements, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault the pages in
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] * 1e3


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seqc", default=os.path.join(ROOT, "build/bin/seqc"))
    p.add_argument("--seqrt-run",
                   default=os.path.join(ROOT, "build/bin/seqrt-run"))
    p.add_argument("--work", default=os.path.join(ROOT, "build/bench-scan"))
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--models", default="mamba,gla")
    p.add_argument("--T-model", type=int, default=4096)
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    env = dict(os.environ, SEQRT_NUM_THREADS=str(args.threads))

    # D is a constant of the model (one copy per D): with D a runtime dim
    # the parallel lowering crashes in an upstream pattern (a known gap).
    with open(SCAN_MODEL) as f:
        template = f.read()
    libs = {}
    for form, flag in FORMS.items():
        for D in sorted({d for _, _, d in SHAPES}):
            src = os.path.join(args.work, "scan-D%d.seq" % D)
            with open(src, "w") as f:
                f.write(template.replace("const D = 256", "const D = %d" % D))
            libs[("scan", form, D)] = os.path.join(
                args.work, "scan-D%d-%s.so" % (D, form))
            compile_lib(args.seqc, src, libs[("scan", form, D)], flag)

    result = {"cpu": cpu_name(), "threads": args.threads,
              "date": datetime.date.today().isoformat(), "scan": [],
              "models": []}
    print("diagonal scan h = a*h + b (f32), %d threads; GB/s = (a, b read + "
          "y written) / time" % args.threads)
    print("%-22s %9s %9s %9s | %8s %8s %8s" %
          ("shape", "seq/copy", "par/copy", "par/seq", "copy", "seq",
           "par"))
    for B, T, D in SHAPES:
        n = B * T * D
        nbytes = 12 * n
        row = {"B": B, "T": T, "D": D, "bytes": nbytes}
        row["copy_ms"] = copy_ms(3 * n // 2, args.runs)
        for form in FORMS:
            row[form + "_ms"] = run_bench(args.seqrt_run,
                                          libs[("scan", form, D)],
                                          {"B": B, "T": T}, args.runs, env)
        gbs = {k: nbytes / (row[k + "_ms"] * 1e6)
               for k in ("copy", "sequential", "parallel")}
        row.update({k + "_gbs": v for k, v in gbs.items()})
        result["scan"].append(row)
        print("%-22s %9.2f %9.2f %9.2f | %8.2f %8.2f %8.2f   GB/s" %
              ("B=%d T=%d D=%d" % (B, T, D), gbs["sequential"] / gbs["copy"],
               gbs["parallel"] / gbs["copy"],
               gbs["parallel"] / gbs["sequential"], gbs["copy"],
               gbs["sequential"], gbs["parallel"]))

    print("\nforward, B=1 T=%d: sequential / --parallel-scans (above 1 the "
          "scan form is faster)" % args.T_model)
    print("%-10s %8s | %10s %10s" % ("model", "ratio", "seq ms", "par ms"))
    for model in args.models.split(","):
        row = {"model": model, "B": 1, "T": args.T_model}
        for form in FORMS:
            # seqc run: random weights (seqrt-run needs a weights file).
            src = os.path.join(ROOT, "examples", model + ".seq")
            row[form + "_ms"] = run_bench(
                args.seqc, src, {"B": 1, "T": args.T_model}, args.runs, env,
                pre=["run"], post=[FORMS[form]] if FORMS[form] else [])
        result["models"].append(row)
        print("%-10s %8.2f | %10.1f %10.1f" %
              (model, row["sequential_ms"] / row["parallel_ms"],
               row["sequential_ms"], row["parallel_ms"]))

    os.makedirs(args.out, exist_ok=True)
    host = platform.node() or "host"
    path = os.path.join(args.out, "scan-cpu-%s-%s.json" %
                        (host, result["date"]))
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print("\nwrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
