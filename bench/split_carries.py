#!/usr/bin/env python3
"""Scans with a running max on the CPU: the max split off as a parallel
max scan (seq-split-carries, seqc's default) against the scan as written
(--no-split-carries).

    /usr/bin/python3 bench/split_carries.py [--seqc build/bin/seqc]
        [--seqrt-run build/bin/seqrt-run] [--work build/bench-split-carries]
        [--out bench/results] [--threads N] [--runs 5] [--T 4096,16384]
        [--models mlstm_core,aaren_core] [--libs DIR] [--mcpu CPU]
        [--compile-only]

Models (bench/models/), f32, B = 1, random inputs:
- mlstm_core: mLSTM's stabilised matrix memory alone, H = 4 heads,
  K = V = 64, the stabiliser m_t = max(log f_t + m_{t-1}, i_t) (max-plus):
  split, C goes chunkwise and n is a diagonal scan; as written, the whole
  scan is sequential.
- aaren_core: Aaren's online softmax alone, H = 16 heads, V = 64: split, the
  sums are diagonal scans of their own; as written, sequential.
The projections around them are left out: they cost the same in both forms.

Each model is compiled twice, split and --no-split-carries, and both
libraries are timed in the same run at each T with `seqrt-run LIB --random
--bench=N` (median and min of N timed runs after one untimed run), the two
forms alternating so that load from other processes hits both alike. The
table shows the ratio first (as written / split; above 1 the split is
faster), then both medians. Writes OUT/split-carries-HOST-DATE.json.
With --libs DIR the libraries are taken from DIR (compiled elsewhere, by
--compile-only) instead of compiled here.
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
FORMS = {"split": [], "written": ["--no-split-carries"]}


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
                   default=os.path.join(ROOT, "build/bench-split-carries"))
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--T", default="4096,16384")
    p.add_argument("--models", default="mlstm_core,aaren_core")
    p.add_argument("--libs", default="",
                   help="take the libraries from this directory")
    p.add_argument("--mcpu", default="",
                   help="seqc --mcpu= for the libraries (default: native)")
    p.add_argument("--compile-only", action="store_true",
                   help="compile the libraries into --work and stop")
    p.add_argument("--note", default="",
                   help="what else ran on the machine (into the JSON)")
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    env = dict(os.environ, SEQRT_NUM_THREADS=str(args.threads))

    libs = {}
    for model in args.models.split(","):
        src = os.path.join(HERE, "models", model + ".seq")
        for form, flags in FORMS.items():
            name = "lib%s-%s.so" % (model, form)
            if args.libs:
                libs[(model, form)] = os.path.join(args.libs, name)
                continue
            lib = os.path.join(args.work, name)
            mcpu = ["--mcpu=" + args.mcpu] if args.mcpu else []
            subprocess.run([args.seqc, src, "-o", lib] + mcpu + flags,
                           check=True)
            libs[(model, form)] = lib
    if args.compile_only:
        return 0

    try:
        load = os.getloadavg()
    except OSError:
        load = None
    result = {"cpu": cpu_name(), "threads": args.threads,
              "cores": os.cpu_count(), "loadavg_at_start": load,
              "date": datetime.date.today().isoformat(), "note": args.note,
              "runs": args.runs, "rows": []}
    print("running max split off vs scan as written, B=1, f32, %d threads "
          "(%s, %s)" % (args.threads, result["cpu"], platform.node()))
    print("%-12s %7s | %8s %8s | %10s %10s | %10s %10s" %
          ("model", "T", "ratio", "min-rat", "written ms", "split ms",
           "written min", "split min"))
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
            row["ratio"] = row["written_ms"] / row["split_ms"]
            row["min_ratio"] = row["written_min_ms"] / row["split_min_ms"]
            result["rows"].append(row)
            print("%-12s %7d | %8.2f %8.2f | %10.1f %10.1f | %10.1f %10.1f" %
                  (model, T, row["ratio"], row["min_ratio"],
                   row["written_ms"], row["split_ms"],
                   row["written_min_ms"], row["split_min_ms"]))
            sys.stdout.flush()

    os.makedirs(args.out, exist_ok=True)
    host = platform.node() or "host"
    result["host"] = host
    path = os.path.join(args.out, "split-carries-%s-%s.json" %
                        (host, result["date"]))
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print("\nwrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
