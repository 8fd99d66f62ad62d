#!/usr/bin/env python3
"""Matrix-state recurrences on the CPU: the chunkwise form (seq-chunkwise,
seqc's default) against the sequential scan (--no-chunkwise).

    /usr/bin/python3 bench/chunkwise.py [--seqc build/bin/seqc]
        [--seqrt-run build/bin/seqrt-run] [--work build/bench-chunkwise]
        [--out bench/results] [--threads N] [--runs 5] [--T 4096,16384]
        [--models gla_core,mamba2_core,deltanet_core]

Models (bench/models/), f32, B = 1, random inputs:
- gla_core: the GLA recurrence alone, H = 4 heads, K = V = 64, per-key
  gates sigmoid(f): S_t = diag(g_t) S_{t-1} + k_t^T v_t, o_t = q_t S_t.
- mamba2_core: Mamba-2's SSD recurrence alone, H = 8 heads, P = N = 64, one
  decay exp(dt A_h) per head: h_t = a_t h_{t-1} + dt x_t B_t^T, y_t = h_t C_t.
- deltanet_core: DeltaNet's delta rule alone, H = 4 heads, K = V = 64,
  S_t = S_{t-1} + beta_t k_t (v_t - k_t^T S_{t-1})^T, o_t = q_t^T S_t
  (chunkwise in the WY form).
The projections around them are left out: they cost the same in both forms.

Each model is compiled twice, chunkwise and --no-chunkwise, and both
libraries are timed in the same run at each T with `seqrt-run LIB --random
--bench=N` (median and min of N timed runs after one untimed run), the two
forms alternating so that load from other processes hits both alike. The
table shows the ratio first (sequential / chunkwise; above 1 the chunkwise
form is faster), then both medians. Writes
OUT/chunkwise-cpu-HOST-MODELS-DATE.json (MODELS the model names joined by
'+', so runs of other model sets on the same day do not overwrite it).
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
FORMS = {"chunkwise": [], "sequential": ["--no-chunkwise"]}


def run_bench(tool, lib, dims, runs, env):
    cmd = [tool, lib, "--random", "--bench=%d" % runs]
    for k, v in dims.items():
        cmd += ["--dim", "%s=%d" % (k, v)]
    text = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if text.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), text.stderr.strip()))
    m = re.search(r"median ([0-9.e+]+) ms over \d+ runs \(min ([0-9.e+]+) ms",
                  text.stdout)
    return float(m.group(1)), float(m.group(2))


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
    p.add_argument("--work",
                   default=os.path.join(ROOT, "build/bench-chunkwise"))
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--T", default="4096,16384")
    p.add_argument("--models", default="gla_core,mamba2_core,deltanet_core")
    p.add_argument("--note", default="",
                   help="what else ran on the machine (into the JSON)")
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    env = dict(os.environ, SEQRT_NUM_THREADS=str(args.threads))

    libs = {}
    for model in args.models.split(","):
        src = os.path.join(HERE, "models", model + ".seq")
        for form, flags in FORMS.items():
            lib = os.path.join(args.work, "lib%s-%s.so" % (model, form))
            subprocess.run([args.seqc, src, "-o", lib] + flags, check=True)
            libs[(model, form)] = lib

    try:
        load = os.getloadavg()
    except OSError:
        load = None
    result = {"cpu": cpu_name(), "threads": args.threads,
              "cores": os.cpu_count(), "loadavg_at_start": load,
              "date": datetime.date.today().isoformat(), "note": args.note,
              "runs": args.runs, "rows": []}
    print("chunkwise vs sequential scan, B=1, f32, %d threads (%s)" %
          (args.threads, result["cpu"]))
    print("%-13s %7s | %8s %8s | %10s %10s | %10s %10s" %
          ("model", "T", "ratio", "min-rat", "seq ms", "chunk ms",
           "seq min", "chunk min"))
    for model in args.models.split(","):
        for T in [int(t) for t in args.T.split(",")]:
            row = {"model": model, "B": 1, "T": T}
            med = {f: [] for f in FORMS}
            mins = {f: [] for f in FORMS}
            # Alternate the forms (three rounds) so both see the same load.
            for _ in range(3):
                for form in FORMS:
                    m, lo = run_bench(args.seqrt_run, libs[(model, form)],
                                      {"B": 1, "T": T}, args.runs, env)
                    med[form].append(m)
                    mins[form].append(lo)
            for form in FORMS:
                row[form + "_ms"] = sorted(med[form])[1]
                row[form + "_min_ms"] = min(mins[form])
            row["ratio"] = row["sequential_ms"] / row["chunkwise_ms"]
            row["min_ratio"] = row["sequential_min_ms"] / row["chunkwise_min_ms"]
            result["rows"].append(row)
            print("%-13s %7d | %8.2f %8.2f | %10.1f %10.1f | %10.1f %10.1f" %
                  (model, T, row["ratio"], row["min_ratio"],
                   row["sequential_ms"], row["chunkwise_ms"],
                   row["sequential_min_ms"], row["chunkwise_min_ms"]))
            sys.stdout.flush()

    os.makedirs(args.out, exist_ok=True)
    host = platform.node() or "host"
    models = "+".join(args.models.split(","))
    path = os.path.join(args.out, "chunkwise-cpu-%s-%s-%s.json" %
                        (host, models, result["date"]))
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print("\nwrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
