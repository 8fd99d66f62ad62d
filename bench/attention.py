#!/usr/bin/env python3
"""Fused attention on the CPU against the unfused compile, NumPy and PyTorch.

    /usr/bin/python3 bench/attention.py [--seqc build/bin/seqc]
        [--seqrt-run build/bin/seqrt-run] [--work build/bench-attention]
        [--out bench/results] [--threads N] [--T 1024,4096,16384]
        [--D 64,128] [--heads 4] [--max-scores-gib 6] [--libs DIR]
        [--build-only]

bench/models/attention.seq (`softmax(q @ k.T / sqrt(D)) @ v`, full and
causal, over [1, H, T, D] f32) is compiled twice per head size: as seqc
compiles it (fused: seq-fuse-attention) and with --no-fuse-attention (the
T x T scores computed and stored as written); its `decode` entry is one
query against the T keys (flash-decoding), reported in GB/s of K and V. Each configuration then runs,
in the same run and with the same thread count:

  fused     seqrt-run --bench on the fused library
  unfused   seqrt-run --bench on the unfused library
  numpy     the same math in NumPy float32 (BLAS matmuls)
  torch     torch.nn.functional.scaled_dot_product_attention on the CPU,
            when PyTorch is installed (the GPU machine has it)

Each is a separate process, timed (median of the runs) and measured for
peak resident memory (getrusage of that process). Unfused and NumPy are
skipped where the T x T scores alone would exceed --max-scores-gib. The
fused output is checked against NumPy's (or torch's) where both ran.

--build-only compiles the libraries into --work and stops (to carry them to
a machine without the compiler); --libs DIR runs libraries built so.
Writes OUT/attention-cpu-HOST-DATE.json and prints a table: each peer as
a ratio (its time / the fused time: above 1, seqc is faster), then the
absolute figures.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODEL = os.path.join(HERE, "models", "attention.seq")
BUDGET_S = 2.0


def flops(T, D, H, entry):
    # Two Tq x T x D matmuls, 2 flops per multiply-add; causal does half.
    if entry == "decode":
        return 4.0 * H * T * D
    f = 4.0 * H * T * T * D
    return f / 2 if entry == "causal" else f


# --------------------------------------------------------------------------
# Peers (run in a subprocess of this script: `--peer KIND ARGS`)
# --------------------------------------------------------------------------

def peer_main(kind, qkv_dir, entry, threads, out):
    import numpy as np
    q, k, v = (np.load(os.path.join(qkv_dir, n + ".npy")) for n in "qkv")
    if entry == "decode":
        q = np.load(os.path.join(qkv_dir, "q1.npy"))
    causal = entry == "causal"
    T, D = q.shape[2], q.shape[3]
    if kind == "numpy":
        scale = np.float32(1.0 / np.sqrt(D))

        def run():
            s = np.matmul(q, np.swapaxes(k, -1, -2)) * scale
            if causal:
                s = np.where(np.tril(np.ones((T, T), dtype=bool)), s,
                             np.float32(-np.inf))
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            return np.matmul(s, v)
    else:
        import torch
        torch.set_num_threads(threads)
        tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))

        def run():
            with torch.no_grad():
                return torch.nn.functional.scaled_dot_product_attention(
                    tq, tk, tv, is_causal=causal).numpy()
    t0 = time.perf_counter()
    o = run()
    first = time.perf_counter() - t0
    times = []
    start = time.perf_counter()
    # At least 3 timed runs, 1 when one takes over 5 s.
    while len(times) < (1 if first > 5 else 3) or (
            time.perf_counter() - start < BUDGET_S and len(times) < 200):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    np.save(out, o)
    times.sort()
    print("median_ms %.4f runs %d" % (times[len(times) // 2] * 1e3, len(times)))
    return 0


def run_measured(cmd, env):
    """Runs cmd; returns (stdout, peak RSS in MiB, exit status)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env=env, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return out, usage.ru_maxrss / 1024.0, p.returncode


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

def build(seqc, work, D, mcpu):
    """Compiles the model with head size D, fused and unfused."""
    libs = {}
    with open(MODEL) as f:
        src = re.sub(r"const H = \d+, D = \d+", "const H = %d, D = %d" %
                     (HEADS, D), f.read())
    for mode, flags in (("fused", []), ("unfused", ["--no-fuse-attention"])):
        d = os.path.join(work, "D%d-%s" % (D, mode))
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "attention.seq")
        with open(path, "w") as f:
            f.write(src)
        lib = os.path.join(d, "libattention.so")
        t0 = time.perf_counter()
        subprocess.run([seqc, path, "-o", lib, "--mcpu=" + mcpu] + flags,
                       check=True)
        libs[mode] = (lib, time.perf_counter() - t0)
    return libs


def main():
    global HEADS
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", nargs=5, metavar=("KIND", "DIR", "ENTRY",
                                                 "THREADS", "OUT"))
    ap.add_argument("--seqc", default=os.path.join(ROOT, "build", "bin", "seqc"))
    ap.add_argument("--seqrt-run",
                    default=os.path.join(ROOT, "build", "bin", "seqrt-run"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build",
                                                   "bench-attention"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--T", default="1024,4096")
    ap.add_argument("--D", default="64,128")
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--max-scores-gib", type=float, default=6.0)
    ap.add_argument("--max-unfused-T", type=int, default=1 << 30,
                    help="skip the unfused compile above this T (its time)")
    ap.add_argument("--libs", help="run the libraries --build-only made here")
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--mcpu", default="native",
                    help="the CPU to compile for (--build-only for another)")
    args = ap.parse_args()
    if args.peer:
        kind, d, entry, threads, out = args.peer
        return peer_main(kind, d, entry, int(threads), out)
    HEADS = args.heads
    import numpy as np

    Ts = [int(t) for t in args.T.split(",")]
    Ds = [int(d) for d in args.D.split(",")]
    os.makedirs(args.work, exist_ok=True)
    libs = {}
    for D in Ds:
        if args.libs:
            libs[D] = {m: (os.path.join(args.libs, "D%d-%s" % (D, m),
                                        "libattention.so"), None)
                       for m in ("fused", "unfused")}
        else:
            libs[D] = build(args.seqc, args.work, D, args.mcpu)
    if args.build_only:
        print("built in", args.work)
        return 0
    # Asked in a subprocess: importing torch here would make every child
    # (forked from this process) start with torch's resident memory, which
    # getrusage then counts in its peak.
    have_torch = subprocess.run([sys.executable, "-c", "import torch"],
                                capture_output=True).returncode == 0

    env = dict(os.environ)
    env["SEQRT_NUM_THREADS"] = str(args.threads)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    rng = np.random.default_rng(0)
    rows = []
    for D in Ds:
        for T in Ts:
            d = os.path.join(args.work, "in-T%d-D%d" % (T, D))
            os.makedirs(d, exist_ok=True)
            for n in "qkv":
                np.save(os.path.join(d, n + ".npy"),
                        rng.standard_normal((1, HEADS, T, D), dtype=np.float32))
            np.save(os.path.join(d, "q1.npy"),
                    rng.standard_normal((1, HEADS, 1, D), dtype=np.float32))
            scores_gib = HEADS * T * T * 4 / 2**30
            for entry in ("full", "causal", "decode"):
                row = {"T": T, "D": D, "H": HEADS, "B": 1, "entry": entry,
                       "gflop": flops(T, D, HEADS, entry) / 1e9,
                       # K and V read once: the bytes a decode step moves.
                       "kv_bytes": 2 * HEADS * T * D * 4}
                for mode in ("fused", "unfused", "numpy", "torch"):
                    if entry != "decode" and mode in ("unfused", "numpy") and \
                            scores_gib > args.max_scores_gib:
                        row[mode] = {"skipped": "scores need %.1f GiB" % scores_gib}
                        continue
                    if mode == "unfused" and T > args.max_unfused_T:
                        row[mode] = {"skipped": "T > --max-unfused-T"}
                        continue
                    if mode == "torch" and not have_torch:
                        continue
                    out = os.path.join(d, "%s-%s.npy" % (entry, mode))
                    if mode in ("fused", "unfused"):
                        cmd = [args.seqrt_run, libs[D][mode][0],
                               "--entry=" + entry, "--output=" + out,
                               "--bench=%d" % (
                                   200 if entry == "decode" else
                                   1 if mode == "unfused" and T >= 4096 else
                                   3 if T >= 4096 else 10)]
                        qfile = "q1.npy" if entry == "decode" else "q.npy"
                        cmd += ["--input", "q=%s/%s" % (d, qfile), "--input",
                                "k=%s/k.npy" % d, "--input", "v=%s/v.npy" % d]
                    else:
                        cmd = [sys.executable, os.path.abspath(__file__),
                               "--peer", mode, d, entry, str(args.threads), out]
                    text, rss, rc = run_measured(cmd, env)
                    m = re.search(r"median ([0-9.e+]+) ms", text) or \
                        re.search(r"median_ms ([0-9.]+)", text)
                    if rc != 0 or not m:
                        row[mode] = {"failed": text.strip()[-300:]}
                        continue
                    ms = float(m.group(1))
                    row[mode] = {"ms": ms, "peak_mib": rss,
                                 "gflops": row["gflop"] / (ms / 1e3),
                                 "kv_gbs": row["kv_bytes"] / (ms / 1e3) / 1e9}
                ref = next((m for m in ("numpy", "torch") if "ms" in row.get(m, {})),
                           None)
                if ref and "ms" in row["fused"]:
                    a = np.load(os.path.join(d, "%s-fused.npy" % entry))
                    b = np.load(os.path.join(d, "%s-%s.npy" % (entry, ref)))
                    row["fused_max_abs_err_vs_" + ref] = float(np.abs(a - b).max())
                rows.append(row)
                print_row(row)
                sys.stdout.flush()

    result = {
        "date": datetime.date.today().isoformat(),
        "machine": "%s, %s, %d logical CPUs" % (platform.node(), cpu_name(),
                                                os.cpu_count()),
        "threads": args.threads,
        "compile_s": {str(D): {m: libs[D][m][1] for m in libs[D]} for D in Ds},
        "rows": rows,
    }
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "attention-cpu-%s-%s.json" %
                        (platform.node(), result["date"]))
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print("wrote", path)
    return 0


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            return m.group(1).strip() if m else platform.processor()
    except OSError:
        return platform.processor()


def print_row(r):
    f = r["fused"]
    cells = ["T=%-6d D=%-3d %-6s" % (r["T"], r["D"], r["entry"])]
    if "ms" not in f:
        print(cells[0], "fused failed:", f)
        return
    if r["entry"] == "decode":
        cells.append("fused %9.3f ms %7.1f GB/s of K,V %7.0f MiB" %
                     (f["ms"], f["kv_gbs"], f["peak_mib"]))
    else:
        cells.append("fused %9.2f ms %7.1f GF/s %7.0f MiB" %
                     (f["ms"], f["gflops"], f["peak_mib"]))
    for peer in ("unfused", "numpy", "torch"):
        p = r.get(peer)
        if p is None:
            continue
        if "ms" in p:
            cells.append("%s %.2fx (%.2f ms, %.0f MiB)" %
                         (peer, p["ms"] / f["ms"], p["ms"], p["peak_mib"]))
        else:
            cells.append("%s %s" % (peer, next(iter(p.values()))[:40]))
    print(" | ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
