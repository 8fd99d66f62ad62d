#!/usr/bin/env python3
"""Runs the GPU bundle (see bundle.py) where the GPU is.

    LD_LIBRARY_PATH=lib python3 run.py --out DIR [--sanitize] [--bench N]
                                      [--only mamba,rwkv]

For each case: seqrt-run on its inputs (on cuda:0), the outputs compared
with the interpreter's (rtol 1e-4 on the scale of the values, as the
harness), optionally compute-sanitizer memcheck and racecheck, and a
timing. Prints a table and writes DIR/report.json; exits 1 if any case
fails.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def compare(got, want):
    got, want = got.astype(np.float64), want.astype(np.float64)
    if got.shape != want.shape:
        return False, "shape %s, expected %s" % (got.shape, want.shape)
    if not np.all(np.isfinite(got)):
        return False, "non-finite values"
    err = np.abs(got - want)
    tol = 1e-4 * (1 + np.abs(want))
    worst = float(np.max(err / (1 + np.abs(want)))) if err.size else 0.0
    return bool(np.all(err <= tol)), "max rel err %.3g" % worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--sanitize", action="store_true")
    ap.add_argument("--bench", type=int, default=20)
    ap.add_argument("--only", default="",
                    help="comma-separated models (default: every case)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(HERE, "cases.json")) as f:
        cases = json.load(f)["cases"]
    if args.only:
        cases = [c for c in cases if c["model"] in args.only.split(",")]
    run_bin = os.path.join(HERE, "bin", "seqrt-run")
    sanitizer = shutil.which("compute-sanitizer") or (
        "/usr/local/cuda/bin/compute-sanitizer"
        if os.path.exists("/usr/local/cuda/bin/compute-sanitizer") else None)
    report, ok_all = [], True
    # The outputs stay out of --out, which keeps the report only.
    scratch = tempfile.mkdtemp(prefix="seqc-bundle-")
    for c in cases:
        d = os.path.join(HERE, c["case"])
        flags = ["--weights=" + os.path.join(d, c["weights"])]
        for name, f in c["inputs"].items():
            flags += ["--input", "%s=%s" % (name, os.path.join(d, f))]
        got_path = os.path.join(scratch, c["case"] + "_got.npy")
        cmd = [run_bin, os.path.join(d, c["lib"])] + flags
        r = subprocess.run(cmd + ["--output=" + got_path,
                                  "--bench=%d" % args.bench],
                           capture_output=True, text=True)
        entry = {"case": c["case"], "model": c["model"]}
        if r.returncode != 0:
            entry.update(ok=False, error=(r.stderr or r.stdout)[-600:])
        else:
            ok, msg = compare(np.load(got_path),
                              np.load(os.path.join(d, c["expected"])))
            entry.update(ok=ok, compare=msg)
            m = re.search(r"median ([0-9.e+-]+) ms", r.stdout)
            if m:
                entry["median_ms"] = float(m.group(1))
        for chunk in c.get("chunks", []) if entry["ok"] else []:
            step_path = os.path.join(scratch, "%s_step%d.npy" % (c["case"],
                                                                 chunk))
            s = subprocess.run(cmd + ["--entry=forward_step",
                                      "--chunk=%d" % chunk,
                                      "--output=" + step_path],
                               capture_output=True, text=True)
            if s.returncode != 0:
                entry.update(ok=False, error="step chunk %d: %s" % (
                    chunk, (s.stderr or s.stdout)[-600:]))
                break
            ok, msg = compare(np.load(step_path),
                              np.load(os.path.join(d, c["expected"])))
            entry["step_chunk%d" % chunk] = msg
            entry["ok"] = entry["ok"] and ok
        if args.sanitize and sanitizer and r.returncode == 0:
            for tool in ("memcheck", "racecheck"):
                s = subprocess.run([sanitizer, "--tool", tool,
                                    "--error-exitcode", "3"] + cmd,
                                   capture_output=True, text=True)
                summary = [l for l in s.stdout.splitlines()
                           if "ERROR SUMMARY" in l or "RACECHECK SUMMARY" in l]
                entry[tool] = {"rc": s.returncode,
                               "summary": summary[-1] if summary else
                               (s.stdout + s.stderr)[-300:]}
                if s.returncode != 0:
                    entry["ok"] = False
        ok_all = ok_all and entry["ok"]
        report.append(entry)
        # Written after every case: a run cut short keeps what it did.
        with open(os.path.join(args.out, "report.json"), "w") as f:
            json.dump(report, f, indent=1)
        print("%-4s %-24s %-22s %s%s" % (
            "ok" if entry["ok"] else "FAIL", c["case"],
            entry.get("compare", ""),
            "%.3f ms" % entry["median_ms"] if "median_ms" in entry else "",
            "" if entry["ok"] else "  " + str(entry.get("error", entry))[:400]))
        sys.stdout.flush()
    shutil.rmtree(scratch, ignore_errors=True)
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    print("%d of %d cases pass (%d with the step entry at chunks of 1 and "
          "7)" % (sum(e["ok"] for e in report), len(report),
                  sum("step_chunk1" in e for e in report)))
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
