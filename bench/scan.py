#!/usr/bin/env python3
"""Scans on the CPU: the diagonal recurrence against copy bandwidth, and the
recurrent models in seqc's default scan form against the sequential one.

    /usr/bin/python3 bench/scan.py [--seqc build/bin/seqc]
        [--seqrt-run build/bin/seqrt-run] [--work build/bench-scan]
        [--out bench/results] [--threads N] [--runs 10]
        [--models mamba,mamba2,gla,retnet,hybrid,aaren] [--T-model 4096]

1. bench/models/scan.seq (`h = a * h + b`, every state an output, f32) at
   B=1, T=65536, D=256 and B=8, T=4096, D=2048, compiled three ways:
   `--scan-form=sequential` (a loop over time running the step's ops each
   step: seqc's default before seq-fuse-scan), `--scan-form=parallel`
   (always the chunked parallel prefix scan, the old --parallel-scans) and
   the default `auto` (seq-fuse-scan: one time loop per block of channels,
   the chunked scan as run-time alternative). Its peer, measured in the same
   run: np.copyto of an array holding as many bytes as the scan reads and
   writes (a and b read, y written: 12 bytes per element) into a
   preallocated one. Each is reported as GB/s (those bytes / best time)
   and as a fraction of the copy's GB/s. The time is the whole `forward`
   call through the C ABI, which writes y straight into the caller's array
   (seq-destination-outputs): an ideal kernel shows 1.0 of copy.
2. the recurrent examples (random weights, through `seqc run --bench`),
   forward at B=1, T=--T-model, sequential against the default: the ratio
   (sequential / default; above 1 the default is faster) then both times.

Times are the best (min) of --runs timed runs after a warm-up (the machine
is shared, so medians are noisy); medians are kept in the JSON. Everything
runs with SEQRT_NUM_THREADS=--threads. Writes OUT/scan-cpu-HOST-DATE.json
(-2, -3, ... for later runs the same day)
and prints the tables.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forms import cpu_name, result_path  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCAN_MODEL = os.path.join(HERE, "models", "scan.seq")
SHAPES = [(1, 65536, 256), (8, 4096, 2048)]
FORMS = {"sequential": "--scan-form=sequential",
         "parallel": "--scan-form=parallel", "auto": None}
MODEL_FORMS = {"sequential": "--scan-form=sequential", "auto": None}


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
    m = re.search(r"median ([0-9.e+]+) ms.*?min ([0-9.e+]+) ms", text.stdout)
    if not m:  # a single run prints no min
        m = re.search(r"median ([0-9.e+]+) ms", text.stdout)
        return float(m.group(1)), float(m.group(1))
    return float(m.group(2)), float(m.group(1))


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
    return times[0] * 1e3, times[len(times) // 2] * 1e3


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seqc", default=os.path.join(ROOT, "build/bin/seqc"))
    p.add_argument("--seqrt-run",
                   default=os.path.join(ROOT, "build/bin/seqrt-run"))
    p.add_argument("--work", default=os.path.join(ROOT, "build/bench-scan"))
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--models", default="mamba,mamba2,gla,retnet,hybrid,aaren")
    p.add_argument("--T-model", type=int, default=4096)
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    env = dict(os.environ, SEQRT_NUM_THREADS=str(args.threads))

    # D is a constant of the model (one copy per D), as the model states it.
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

    load_before = os.getloadavg()[0]
    result = {"cpu": cpu_name(), "threads": args.threads,
              "date": datetime.date.today().isoformat(), "scan": [],
              "models": [], "runs": args.runs, "load_before": load_before,
              "time": "best of runs (min); *_median_ms kept"}
    print("diagonal scan h = a*h + b (f32), %d threads, best of %d; GB/s = "
          "(a, b read + y written) / time; load %.1f" %
          (args.threads, args.runs, load_before))
    print("%-22s %8s %8s %8s %8s | %7s %7s %7s %7s" %
          ("shape", "auto/cp", "seq/cp", "par/cp", "auto/seq", "copy",
           "auto", "seq", "par"))
    for B, T, D in SHAPES:
        n = B * T * D
        nbytes = 12 * n
        row = {"B": B, "T": T, "D": D, "bytes": nbytes}
        row["copy_ms"], row["copy_median_ms"] = copy_ms(3 * n // 2,
                                                        args.runs)
        for form in FORMS:
            row[form + "_ms"], row[form + "_median_ms"] = run_bench(
                args.seqrt_run, libs[("scan", form, D)], {"B": B, "T": T},
                args.runs, env)
        gbs = {k: nbytes / (row[k + "_ms"] * 1e6)
               for k in ("copy", "sequential", "parallel", "auto")}
        row.update({k + "_gbs": v for k, v in gbs.items()})
        row["auto_over_copy"] = gbs["auto"] / gbs["copy"]
        result["scan"].append(row)
        print("%-22s %8.2f %8.2f %8.2f %8.2f | %7.2f %7.2f %7.2f %7.2f GB/s"
              % ("B=%d T=%d D=%d" % (B, T, D), gbs["auto"] / gbs["copy"],
                 gbs["sequential"] / gbs["copy"],
                 gbs["parallel"] / gbs["copy"],
                 gbs["auto"] / gbs["sequential"], gbs["copy"], gbs["auto"],
                 gbs["sequential"], gbs["parallel"]))
    print("(the call writes y into the caller's array: an ideal kernel "
          "shows 1.0 of copy)")

    print("\nforward, B=1 T=%d: sequential / default (above 1 the default "
          "is faster), best of %d" % (args.T_model, args.runs))
    print("%-10s %8s | %10s %10s" % ("model", "ratio", "seq ms", "auto ms"))
    for model in filter(None, args.models.split(",")):
        row = {"model": model, "B": 1, "T": args.T_model}
        for form, flag in MODEL_FORMS.items():
            # seqc run: random weights (seqrt-run needs a weights file).
            src = os.path.join(ROOT, "examples", model + ".seq")
            row[form + "_ms"], row[form + "_median_ms"] = run_bench(
                args.seqc, src, {"B": 1, "T": args.T_model}, args.runs, env,
                pre=["run"], post=[flag] if flag else [])
        result["models"].append(row)
        print("%-10s %8.2f | %10.1f %10.1f" %
              (model, row["sequential_ms"] / row["auto_ms"],
               row["sequential_ms"], row["auto_ms"]))
    result["load_after"] = os.getloadavg()[0]

    host = platform.node() or "host"
    # A later run the same day gets -2, -3, ...: results are never lost.
    path = result_path(args.out, "scan-cpu-%s-%s" % (host, result["date"]))
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print("\nwrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
