"""What bench/chunkwise.py and bench/split_carries.py share: a model
compiled two ways (seqc's default and a --no-* flag), both libraries timed
in the same run at each T by `seqrt-run LIB --random --bench=N`, alternating
(three rounds, the middle median kept) so that load from other processes
hits both alike; the table shows the ratio first (baseline / default: above
1 the default is faster), then both medians and mins; the JSON goes to
OUT/NAME-HOST-DATE.json (-2, -3, ... for later runs the same day).
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


def run_bench(tool, lib, dims, runs, env):
    """(median, min) ms of `runs` timed calls of LIB on random inputs."""
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


def result_path(out, stem):
    """OUT/STEM.json, or STEM-2.json, ... when that exists."""
    os.makedirs(out, exist_ok=True)
    path, n = os.path.join(out, stem + ".json"), 1
    while os.path.exists(path):
        n += 1
        path = os.path.join(out, "%s-%d.json" % (stem, n))
    return path


def compare_forms(doc, name, forms, models, title):
    """The whole benchmark. `forms` is {default: [], baseline: [flag]}, in
    that order; `models` the default --models; `name` the JSON's stem and
    the --work folder's suffix."""
    (default, _), (baseline, _) = forms.items()
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--seqc", default=os.path.join(ROOT, "build/bin/seqc"))
    p.add_argument("--seqrt-run",
                   default=os.path.join(ROOT, "build/bin/seqrt-run"))
    p.add_argument("--work", default=os.path.join(ROOT, "build/bench-" + name))
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--T", default="4096,16384")
    p.add_argument("--models", default=models)
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
    model_list = args.models.split(",")

    libs = {}
    for model in model_list:
        src = os.path.join(HERE, "models", model + ".seq")
        for form, flags in forms.items():
            lib_name = "lib%s-%s.so" % (model, form)
            if args.libs:
                libs[(model, form)] = os.path.join(args.libs, lib_name)
                continue
            lib = os.path.join(args.work, lib_name)
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
    host = platform.node() or "host"
    result = {"cpu": cpu_name(), "host": host, "threads": args.threads,
              "cores": os.cpu_count(), "loadavg_at_start": load,
              "date": datetime.date.today().isoformat(), "note": args.note,
              "runs": args.runs, "rows": []}
    print("%s, B=1, f32, %d threads (%s, %s)" % (title, args.threads,
                                                 result["cpu"], host))
    print("%-13s %7s | %8s %8s | %11s %11s | %11s %11s" %
          ("model", "T", "ratio", "min-rat", baseline + " ms",
           default + " ms", baseline + " min", default + " min"))
    for model in model_list:
        for T in [int(t) for t in args.T.split(",")]:
            row = {"model": model, "B": 1, "T": T}
            med = {f: [] for f in forms}
            mins = {f: [] for f in forms}
            for _ in range(3):
                for form in forms:
                    m, lo = run_bench(args.seqrt_run, libs[(model, form)],
                                      {"B": 1, "T": T}, args.runs, env)
                    med[form].append(m)
                    mins[form].append(lo)
            for form in forms:
                row[form + "_ms"] = sorted(med[form])[1]
                row[form + "_min_ms"] = min(mins[form])
            row["ratio"] = row[baseline + "_ms"] / row[default + "_ms"]
            row["min_ratio"] = (row[baseline + "_min_ms"] /
                                row[default + "_min_ms"])
            result["rows"].append(row)
            print("%-13s %7d | %8.2f %8.2f | %11.1f %11.1f | %11.1f %11.1f" %
                  (model, T, row["ratio"], row["min_ratio"],
                   row[baseline + "_ms"], row[default + "_ms"],
                   row[baseline + "_min_ms"], row[default + "_min_ms"]))
            sys.stdout.flush()

    path = result_path(args.out, "%s-%s-%s-%s" % (
        name, host, "+".join(model_list), result["date"]))
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print("\nwrote", path)
    return 0
