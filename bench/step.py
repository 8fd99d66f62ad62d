#!/usr/bin/env python3
"""The step form on the CPU: what one decoded token costs, against what a
token costs inside the forward over the whole sequence.

    /usr/bin/python3 bench/step.py [--seqc build/bin/seqc]
        [--seqrt-run build/bin/seqrt-run] [--work build/bench-step]
        [--out bench/results] [--threads N] [--runs 3] [-T 1024]
        [--models llama,mamba,...]

Each example is compiled once (`seqc X.seq -o libX.so`); seqrt-run runs it
on random weights and inputs at B=1, T tokens:
  - forward: the entry over all T tokens (median of --runs), per token;
  - step: `forward_step` over the same T tokens, one per call from a fresh
    state (`--chunk=1`, what decoding does), per token; and with
    `--chunk=64` (chunked prefill);
and the ratio step / forward per token (how much dearer a token is when it
comes alone). The step's time includes seqrt-run's copying of each token
in and out, as any caller's would. Writes OUT/step-cpu-HOST-DATE.json and
prints the table.
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELS = ["llama", "mamba", "mamba2", "gla", "retnet", "deltanet", "hybrid",
          "rwkv", "lstm", "mlstm", "aaren"]


def bench(tool, lib, T, runs, env, extra):
    cmd = [tool, lib, "--random", "--dim", "B=1", "--dim", "T=%d" % T,
           "--bench=%d" % runs] + extra
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return float(re.search(r"median ([0-9.e+-]+) ms", r.stdout).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqc", default=os.path.join(ROOT, "build/bin/seqc"))
    ap.add_argument("--seqrt-run",
                    default=os.path.join(ROOT, "build/bin/seqrt-run"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build/bench-step"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("-T", type=int, default=1024)
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()

    os.makedirs(args.work, exist_ok=True)
    env = dict(os.environ, SEQRT_NUM_THREADS=str(args.threads))
    rows = []
    print("%-9s %12s %14s %14s %9s" % ("model", "forward/tok", "step/tok (1)",
                                       "step/tok (64)", "1 vs fwd"))
    for name in args.models.split(","):
        lib = os.path.join(args.work, "lib%s.so" % name)
        subprocess.run([args.seqc, os.path.join(ROOT, "examples",
                                                name + ".seq"), "-o", lib],
                       check=True)
        T = args.T
        fwd = bench(args.seqrt_run, lib, T, args.runs, env, [])
        one = bench(args.seqrt_run, lib, T, 1, env,
                    ["--entry=forward_step", "--chunk=1"])
        many = bench(args.seqrt_run, lib, T, args.runs, env,
                     ["--entry=forward_step", "--chunk=64"])
        row = {"model": name, "T": T, "forward_ms": fwd,
               "forward_ms_per_token": fwd / T,
               "step1_ms_per_token": one / T,
               "step64_ms_per_token": many / T,
               "step1_vs_forward": (one / T) / (fwd / T)}
        rows.append(row)
        print("%-9s %9.4f ms %11.4f ms %11.4f ms %8.1fx"
              % (name, fwd / T, one / T, many / T, one / fwd))
        sys.stdout.flush()

    host = platform.node() or "host"
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f
                       if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "step-cpu-%s-%s.json" % (
        host, datetime.date.today().isoformat()))
    with open(path, "w") as f:
        json.dump({"machine": {"cpu": cpu, "cores": os.cpu_count(),
                               "threads": args.threads},
                   "T": args.T, "rows": rows}, f, indent=1)
    print("wrote", path)


if __name__ == "__main__":
    main()
