#!/usr/bin/env python3
"""seqc CPU benchmarks: compile time, models against NumPy, memory bandwidth.

    /usr/bin/python3 bench/run.py [--seqc build/bin/seqc]
        [--seqrt-run build/bin/seqrt-run] [--work build/bench]
        [--out bench/results] [--threads N] [--only compile,models,elementwise]

Builds nothing itself: it runs the seqc and seqrt-run it is given. Three
sections (bench/README.md says what each figure means):

  compile      `seqc examples/X.seq -o libX.so` for every example, cold (a
               fresh output folder each time; seqc keeps no cache for -o),
               median of 3; split into front end / lowering / LLVM codegen
               + link from the --emit stages (seqc has no --mlir-timing).
  models       bench/models/mlp.seq and llama_block.seq run by seqrt-run
               --bench against the same float32 math in NumPy, same weights
               and inputs, same thread count, measured in the same run.
  elementwise  bench/models/silu_affine.seq and gate.seq on 64 MiB tensors,
               as GB/s and as a fraction of NumPy's copy bandwidth
               (np.copyto into a preallocated array) measured in the same run.

Prints one table per section (ratio first, absolute second) and writes
OUT/cpu-DATE.json and OUT/cpu-DATE.png (matplotlib, Agg; skipped with a
message when matplotlib is missing).

NumPy runs in a subprocess of this script (`run.py --peer SPEC`) whose
environment has OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed and the BLAS
thread count set to --threads; that subprocess reports which BLAS it runs.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELS = os.path.join(HERE, "models")

MIB = 1 << 20
# Seconds of timed runs to aim for per measurement (at least 3 runs).
BUDGET_S = 3.0


# Weights are made and written as the Integration tests make them.
sys.path.insert(0, os.path.join(ROOT, "test", "Integration", "Inputs"))
import harness  # noqa: E402
from harness import read_safetensors, write_safetensors  # noqa: E402,F401


def linear(name, shape):
    return harness.make_weight(name, shape, ("linear",))


def norm(name, shape):
    return harness.make_weight(name, shape, ("norm",))


def normal(name, shape):
    return harness.make_weight(name, shape, ("normal", 1.0))


# mlp.seq: D = 512, F = 2048; N rows.
MLP_D, MLP_F, MLP_N = 512, 2048, 1024

# llama_block.seq: D = 256, H = 8, KV = 4, Dh = 32, F = 768; B x T.
LB_D, LB_H, LB_KV, LB_DH, LB_F, LB_B, LB_T = 256, 8, 4, 32, 768, 4, 256

# Elementwise chains: R x C f32 = 64 MiB per tensor.
EW_R, EW_C = 4096, 4096


def case_mlp():
    w = {"w1": linear("w1", (MLP_D, MLP_F)), "w2": linear("w2", (MLP_F, MLP_D))}
    x = normal("x", (MLP_N, MLP_D))
    return dict(name="mlp", seq="mlp.seq", weights=w, inputs={"x": x},
                shape="N=%d D=%d F=%d" % (MLP_N, MLP_D, MLP_F),
                flops=2 * 2 * MLP_N * MLP_D * MLP_F)


def case_llama_block():
    D, H, KV, Dh, F = LB_D, LB_H, LB_KV, LB_DH, LB_F
    w = {"attn_norm": norm("attn_norm", (D,)),
         "mlp_norm": norm("mlp_norm", (D,)),
         "attn.wq": linear("attn.wq", (D, H * Dh)),
         "attn.wk": linear("attn.wk", (D, KV * Dh)),
         "attn.wv": linear("attn.wv", (D, KV * Dh)),
         "attn.wo": linear("attn.wo", (H * Dh, D)),
         "mlp.w_gate": linear("mlp.w_gate", (D, F)),
         "mlp.w_up": linear("mlp.w_up", (D, F)),
         "mlp.w_down": linear("mlp.w_down", (F, D))}
    x = normal("x", (LB_B, LB_T, D))
    rows = LB_B * LB_T
    flops = (2 * rows * D * (2 * H * Dh + 2 * KV * Dh)      # q k v o
             + 2 * 2 * LB_B * H * LB_T * LB_T * Dh          # q k^T, p v
             + 2 * 3 * rows * D * F)                        # SwiGLU
    return dict(name="llama_block", seq="llama_block.seq", weights=w,
                inputs={"x": x},
                shape="B=%d T=%d D=%d H=%d KV=%d F=%d" % (LB_B, LB_T, D, H,
                                                          KV, F),
                flops=flops)


def case_silu_affine():
    w = {"w": normal("w", (EW_C,)), "b": normal("b", (EW_C,))}
    return dict(name="silu_affine", seq="silu_affine.seq", weights=w,
                inputs={"x": normal("x", (EW_R, EW_C))},
                expr="y = silu(x) * w + b", n_in=1, n_out=1)


def case_gate():
    return dict(name="gate", seq="gate.seq", weights={},
                inputs={"a": normal("a", (EW_R, EW_C)),
                        "b": normal("b", (EW_R, EW_C))},
                expr="y = silu(a) * b + a", n_in=2, n_out=1)


def np_mlp(w, x):
    h = x @ w["w1"]
    g = 0.5 * h * (1.0 + np.tanh(0.7978845608 * (h + 0.044715 * h * h * h)))
    return g @ w["w2"]


def np_llama_block(w, x):
    H, KV, Dh = LB_H, LB_KV, LB_DH
    B, T, _ = x.shape
    f32 = np.float32

    def rms(v, s):
        return v / np.sqrt(np.mean(v * v, axis=-1, keepdims=True) + f32(1e-5)) * s

    pos = np.arange(T, dtype=f32)
    freq = np.power(f32(10000.0), np.arange(Dh // 2, dtype=f32) * f32(-2.0) / f32(Dh))
    angle = pos[:, None] * freq[None, :]
    cos, sin = np.cos(angle), np.sin(angle)

    def rope(v):
        v1, v2 = v[..., :Dh // 2], v[..., Dh // 2:]
        return np.concatenate([v1 * cos - v2 * sin, v2 * cos + v1 * sin], -1)

    a = rms(x, w["attn_norm"])
    q = rope((a @ w["attn.wq"]).reshape(B, T, H, Dh).transpose(0, 2, 1, 3))
    k = rope((a @ w["attn.wk"]).reshape(B, T, KV, Dh).transpose(0, 2, 1, 3))
    v = (a @ w["attn.wv"]).reshape(B, T, KV, Dh).transpose(0, 2, 1, 3)
    k = np.repeat(k, H // KV, axis=1)
    v = np.repeat(v, H // KV, axis=1)
    s = (q @ k.swapaxes(-1, -2)) * f32(1.0 / np.sqrt(Dh))
    s = np.where(np.tri(T, dtype=bool), s, f32(-np.inf))
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    o = (p @ v).transpose(0, 2, 1, 3).reshape(B, T, H * Dh)
    h = x + o @ w["attn.wo"]
    m = rms(h, w["mlp_norm"])
    g = m @ w["mlp.w_gate"]
    u = (g / (1.0 + np.exp(-g))) * (m @ w["mlp.w_up"])
    return h + u @ w["mlp.w_down"]


def np_silu_affine(w, x):
    return x / (1.0 + np.exp(-x)) * w["w"] + w["b"]


def np_gate(w, a, b):
    return a / (1.0 + np.exp(-a)) * b + a


PEER_FNS = {"mlp": np_mlp, "llama_block": np_llama_block,
            "silu_affine": np_silu_affine, "gate": np_gate}


# ---------------------------------------------------------------------------
# The NumPy peer (its own process: OPENBLAS_* cleaned, threads set)
# ---------------------------------------------------------------------------

def _time_runs(fn, budget):
    """Warm-up, a pilot, then enough runs for `budget` seconds (>= 3)."""
    fn()
    t0 = time.perf_counter()
    fn()
    pilot = time.perf_counter() - t0
    n = int(min(50, max(3, round(budget / max(pilot, 1e-6)))))
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return dict(median_ms=1e3 * float(np.median(times)),
                min_ms=1e3 * times[0], max_ms=1e3 * times[-1], runs=n)


def blas_info():
    info = {"numpy": np.__version__}
    try:
        import threadpoolctl
        info["threadpoolctl"] = [
            {k: d.get(k) for k in ("internal_api", "version", "num_threads",
                                   "threading_layer", "architecture",
                                   "filepath")}
            for d in threadpoolctl.threadpool_info()]
    except ImportError:
        info["threadpoolctl"] = None
    # The BLAS library actually mapped (Debian's numpy links libblas.so.3,
    # an alternative that may be the reference BLAS or OpenBLAS).
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                if re.search(r"blas|lapack|mkl", os.path.basename(p)):
                    libs.add(os.path.realpath(p))
    except OSError:
        pass
    info["mapped"] = sorted(libs)
    if not libs and info["threadpoolctl"] is None:
        import contextlib
        import io
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            np.show_config()
        info["show_config"] = buf.getvalue()
    return info


def peer_main(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    result = {"blas": blas_info(), "env": {
        k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                       "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
              "cases": {}}
    budget = spec["budget"]
    for c in spec["cases"]:
        w = read_safetensors(c["weights"]) if c["weights"] else {}
        ins = [np.load(p) for p in c["inputs"]]
        fn = PEER_FNS[c["name"]]
        out = fn(w, *ins)
        np.save(c["output"], np.asarray(out, dtype=np.float32))
        r = _time_runs(lambda: fn(w, *ins), budget)
        if c.get("copy"):
            src = ins[0]
            dst = np.empty_like(src)
            r["copy"] = _time_runs(lambda: np.copyto(dst, src), budget / 2)
            r["copy"]["bytes"] = 2 * src.nbytes
        result["cases"][c["name"]] = r
    json.dump(result, sys.stdout)
    return 0


def run_peer(cases, work, threads):
    spec = os.path.join(work, "peer_spec.json")
    with open(spec, "w") as f:
        json.dump({"cases": cases, "budget": BUDGET_S}, f)
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = str(threads)
    proc = subprocess.run([sys.executable, os.path.abspath(__file__),
                           "--peer", spec], env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit("bench: the NumPy peer failed")
    return json.loads(proc.stdout)


# ---------------------------------------------------------------------------
# seqc and seqrt-run
# ---------------------------------------------------------------------------

BENCH_RE = re.compile(
    r"bench: '(\w+)' median ([\d.e+-]+) ms over (\d+) runs "
    r"\(min ([\d.e+-]+) ms, max ([\d.e+-]+) ms, (\d+) threads\)")


def timed(cmd, **kw):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise RuntimeError("failed: " + " ".join(cmd))
    return dt, proc.stdout


def seqrt_bench(run, lib, flags, n, env):
    _, out = timed([run, lib] + flags + ["--bench=%d" % n], env=env)
    m = BENCH_RE.search(out)
    if not m:
        raise RuntimeError("no bench line in seqrt-run's output:\n" + out)
    return dict(median_ms=float(m.group(2)), runs=int(m.group(3)),
                min_ms=float(m.group(4)), max_ms=float(m.group(5)),
                threads=int(m.group(6)))


def seqc_time(run, lib, flags, env, output):
    """A pilot (--bench=1: one untimed and one timed run, also writing the
    output), then enough runs for BUDGET_S, at least 3. A forward slower
    than BUDGET_S / 3 keeps the pilot's single timed run, so that a slow
    build does not make the whole benchmark slow."""
    pilot = seqrt_bench(run, lib, flags + ["--output=" + output], 1, env)
    t = pilot["median_ms"] * 1e-3
    if 3 * t > BUDGET_S:
        return pilot
    n = int(min(50, max(3, round(BUDGET_S / max(t, 1e-6)))))
    return seqrt_bench(run, lib, flags, n, env)


def median(xs):
    return float(np.median(xs))


def bench_compile(seqc, reps, log):
    rows = []
    examples = sorted(glob.glob(os.path.join(ROOT, "examples", "*.seq")))
    for src in examples:
        name = os.path.splitext(os.path.basename(src))[0]
        totals, fronts, lowers = [], [], []
        try:
            for _ in range(reps):
                d = tempfile.mkdtemp(prefix="seqc-bench-")
                try:
                    dt, _ = timed([seqc, src, "-o",
                                   os.path.join(d, "lib%s.so" % name)])
                finally:
                    shutil.rmtree(d, ignore_errors=True)
                totals.append(dt)
            # The split, from the --emit stages (one run each, the process
            # start included in the front end; --emit=llvm also prints the
            # LLVM IR).
            dt, _ = timed([seqc, src, "--emit=typed"])
            fronts.append(dt)
            dt, _ = timed([seqc, src, "--emit=llvm"])
            lowers.append(dt)
        except RuntimeError as e:
            rows.append(dict(example=name, error=str(e)))
            log("  %-10s FAILED: %s" % (name, e))
            continue
        total = median(totals)
        front = median(fronts)
        upto_llvm = median(lowers)
        row = dict(example=name, total_s=total, runs_s=totals,
                   front_end_s=front,
                   lowering_s=max(0.0, upto_llvm - front),
                   codegen_link_s=max(0.0, total - upto_llvm))
        rows.append(row)
        log("  %-10s %.3f s" % (name, total))
    return rows


def bench_models(seqc, run, work, threads, log):
    env = dict(os.environ, SEQRT_NUM_THREADS=str(threads))
    cases = [case_mlp(), case_llama_block()]
    return _bench_cases(cases, seqc, run, work, threads, env, log, copy=False)


def bench_elementwise(seqc, run, work, threads, log):
    env = dict(os.environ, SEQRT_NUM_THREADS=str(threads))
    cases = [case_silu_affine(), case_gate()]
    return _bench_cases(cases, seqc, run, work, threads, env, log, copy=True)


def _bench_cases(cases, seqc, run, work, threads, env, log, copy):
    peer_cases, rows = [], []
    for c in cases:
        name = c["name"]
        lib = os.path.join(work, "lib%s.so" % name)
        try:
            compile_s, _ = timed([seqc, os.path.join(MODELS, c["seq"]), "-o",
                                  lib])
        except RuntimeError as e:
            c["error"] = str(e)
            log("  %s FAILED: %s" % (name, e))
            continue
        flags = []
        wpath = None
        if c["weights"]:
            wpath = os.path.join(work, name + ".safetensors")
            write_safetensors(wpath, c["weights"])
            flags.append("--weights=" + wpath)
        ipaths = []
        for iname, arr in c["inputs"].items():
            p = os.path.join(work, "%s_%s.npy" % (name, iname))
            np.save(p, arr)
            ipaths.append(p)
            flags += ["--input", "%s=%s" % (iname, p)]
        sout = os.path.join(work, name + "_seqc.npy")
        log("  %s: seqrt-run" % name)
        try:
            s = seqc_time(run, lib, flags, env, sout)
        except RuntimeError as e:
            c["error"] = str(e)
            log("  %s FAILED: %s" % (name, e))
            continue
        c.update(compile_s=compile_s, seqc=s, seqc_out=sout)
        peer_cases.append(dict(name=name, weights=wpath, inputs=ipaths,
                               output=os.path.join(work, name + "_numpy.npy"),
                               copy=copy and not peer_cases))
    failed = [dict(name=c["name"], error=c["error"]) for c in cases
              if "error" in c]
    cases = [c for c in cases if "error" not in c]
    if not cases:
        return dict(rows=[], failed=failed, copy=None, blas=None, peer_env={})
    log("  numpy peer (%s)" % ", ".join(c["name"] for c in cases))
    peer = run_peer(peer_cases, work, threads)
    copy_r = None
    for c, pc in zip(cases, peer_cases):
        p = peer["cases"][c["name"]]
        if "copy" in p:
            copy_r = p.pop("copy")
        got = np.load(c["seqc_out"]).astype(np.float64)
        want = np.load(pc["output"]).astype(np.float64)
        rel = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-6))
        row = dict(name=c["name"], compile_s=c["compile_s"], seqc=c["seqc"],
                   numpy=p, max_rel_err=rel, agree=bool(rel < 1e-3),
                   ratio=c["seqc"]["median_ms"] / p["median_ms"])
        for k in ("shape", "flops", "expr", "n_in", "n_out"):
            if k in c:
                row[k] = c[k]
        if "flops" in c:
            row["seqc_gflops"] = c["flops"] / (c["seqc"]["median_ms"] * 1e6)
            row["numpy_gflops"] = c["flops"] / (p["median_ms"] * 1e6)
        rows.append(row)
    if copy_r is not None:
        copy_gbs = copy_r["bytes"] / (copy_r["median_ms"] * 1e6)
        copy_r["gbs"] = copy_gbs
        for row in rows:
            nbytes = (row["n_in"] + row["n_out"]) * EW_R * EW_C * 4
            row["bytes"] = nbytes
            row["seqc_gbs"] = nbytes / (row["seqc"]["median_ms"] * 1e6)
            row["numpy_gbs"] = nbytes / (row["numpy"]["median_ms"] * 1e6)
            row["seqc_frac_copy"] = row["seqc_gbs"] / copy_gbs
            row["numpy_frac_copy"] = row["numpy_gbs"] / copy_gbs
    return dict(rows=rows, failed=failed, copy=copy_r, blas=peer["blas"],
                peer_env=peer["env"])


# ---------------------------------------------------------------------------
# Machine, tables, plot
# ---------------------------------------------------------------------------

def machine_info():
    info = {"platform": platform.platform(), "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        first = text.split("\n\n")[0]
        fields = dict((k.strip(), v.strip()) for k, _, v in
                      (l.partition(":") for l in first.splitlines()))
        info["cpu"] = fields.get("model name")
        info["cpu_family_model_stepping"] = "%s/%s/%s" % (
            fields.get("cpu family"), fields.get("model"), fields.get("stepping"))
        info["cache"] = fields.get("cache size")
        flags = fields.get("flags", "").split()
        info["simd"] = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f",
                                    "avx512bw", "avx512vl", "avx512_bf16",
                                    "amx_tile") if f in flags]
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        info["memory_gib"] = round(kb / (1 << 20), 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            if k.strip() in ("L1d cache", "L2 cache", "L3 cache",
                             "Hypervisor vendor"):
                info[k.strip()] = v.strip()
    except OSError:
        pass
    return info


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True,
                               text=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except OSError:
        return None


def describe_blas(b):
    if b.get("threadpoolctl"):
        return "; ".join("%s %s (%s, %s threads, %s)" % (
            d.get("internal_api"), d.get("version"), d.get("architecture"),
            d.get("num_threads"), d.get("filepath")) for d in b["threadpoolctl"])
    if b.get("mapped"):
        return ", ".join(b["mapped"])
    return "unknown (see show_config in the JSON)"


def print_failed(rows, key):
    for r in rows:
        print("%-11s FAILED: %s" % (r[key], r["error"].splitlines()[0]))


def print_compile(rows):
    failed = [r for r in rows if "error" in r]
    rows = [r for r in rows if "error" not in r]
    if not rows:
        return print_failed(failed, "example")
    print("\nCompile time, `seqc examples/X.seq -o libX.so` (cold, median of %d;"
          " goal < 1 s)" % len(rows[0]["runs_s"]))
    print("%-11s %8s %6s %10s %10s %14s" % ("example", "total s", "< 1 s",
                                           "front s", "lower s",
                                           "codegen+link s"))
    for r in rows:
        print("%-11s %8.3f %6s %10.3f %10.3f %14.3f" % (
            r["example"], r["total_s"], "yes" if r["total_s"] < 1 else "NO",
            r["front_end_s"], r["lowering_s"], r["codegen_link_s"]))
    print_failed(failed, "example")


def print_models(res, threads):
    print("\nForward time, seqc vs NumPy float32 (same inputs, %d threads each)"
          % threads)
    print("%-12s %12s %11s %11s %9s %9s %10s %7s" % (
        "model", "seqc/numpy", "seqc ms", "numpy ms", "seqc GF/s",
        "numpy GF/s", "compile s", "agree"))
    for r in res["rows"]:
        print("%-12s %11.2fx %11.2f %11.2f %9.2f %9.2f %10.2f %7s" % (
            r["name"], r["ratio"], r["seqc"]["median_ms"],
            r["numpy"]["median_ms"], r["seqc_gflops"], r["numpy_gflops"],
            r["compile_s"], "yes" if r["agree"] else "NO"))
    print_failed(res["failed"], "name")
    for r in res["rows"]:
        print("  %-12s %s" % (r["name"], r["shape"]))


def print_elementwise(res, threads):
    c = res["copy"]
    if c is None:
        return print_failed(res["failed"], "name")
    print("\nMemory-bound elementwise chains, 64 MiB per tensor (%d threads);"
          " copy: np.copyto %.2f GB/s (%.2f ms for 2 x 64 MiB)"
          % (threads, c["gbs"], c["median_ms"]))
    print("%-12s %10s %9s %9s %10s %9s %9s %7s  %s" % (
        "chain", "seqc/copy", "seqc GB/s", "seqc ms", "numpy/copy",
        "numpy GB/s", "numpy ms", "agree", "expression"))
    for r in res["rows"]:
        print("%-12s %10.2f %9.2f %9.2f %10.2f %9.2f %9.2f %7s  %s" % (
            r["name"], r["seqc_frac_copy"], r["seqc_gbs"],
            r["seqc"]["median_ms"], r["numpy_frac_copy"], r["numpy_gbs"],
            r["numpy"]["median_ms"], "yes" if r["agree"] else "NO", r["expr"]))
    print_failed(res["failed"], "name")


def plot(result, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\nbench: matplotlib is missing: no plot (`make deps` installs "
              "python3-matplotlib)")
        return None
    panels = [k for k in ("compile", "models", "elementwise") if k in result
              and (result[k] if k == "compile" else result[k]["rows"])]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.6),
                             squeeze=False)
    for ax, key in zip(axes[0], panels):
        if key == "compile":
            rows = [r for r in result["compile"] if "error" not in r]
            names = [r["example"] for r in rows]
            x = np.arange(len(rows))
            bottom = np.zeros(len(rows))
            for part, label in (("front_end_s", "front end"),
                                ("lowering_s", "lowering"),
                                ("codegen_link_s", "LLVM codegen + link")):
                v = np.array([r[part] for r in rows])
                ax.bar(x, v, bottom=bottom, label=label)
                bottom += v
            ax.axhline(1.0, color="red", ls="--", lw=1, label="goal 1 s")
            ax.set_xticks(x)
            ax.set_xticklabels(names, rotation=60, ha="right")
            ax.set_ylabel("seconds (median of %d)" % len(rows[0]["runs_s"]))
            ax.set_title("compile time, seqc -o lib.so")
            ax.legend(fontsize=8)
        elif key == "models":
            rows = result["models"]["rows"]
            x = np.arange(len(rows))
            s = [r["seqc"]["median_ms"] for r in rows]
            n = [r["numpy"]["median_ms"] for r in rows]
            ax.bar(x - 0.2, s, 0.4, label="seqc")
            ax.bar(x + 0.2, n, 0.4, label="NumPy (%s)" % result["blas_short"])
            for i, r in enumerate(rows):
                ax.text(i, max(s[i], n[i]) * 1.15, "%.2fx" % r["ratio"],
                        ha="center", fontsize=9)
            ax.set_yscale("log")
            ax.set_ylim(top=max(s + n) * 4)
            ax.set_xticks(x)
            ax.set_xticklabels([r["name"] for r in rows])
            ax.set_ylabel("ms per forward (median)")
            ax.set_title("forward, seqc vs NumPy, %d threads"
                         % result["threads"])
            ax.legend(fontsize=8)
        else:
            res = result["elementwise"]
            rows = res["rows"]
            x = np.arange(len(rows))
            ax.bar(x - 0.2, [r["seqc_gbs"] for r in rows], 0.4, label="seqc")
            ax.bar(x + 0.2, [r["numpy_gbs"] for r in rows], 0.4, label="NumPy")
            ax.axhline(res["copy"]["gbs"], color="red", ls="--", lw=1,
                       label="np.copyto %.1f GB/s" % res["copy"]["gbs"])
            for i, r in enumerate(rows):
                ax.text(i - 0.2, r["seqc_gbs"], "%.0f%%" % (
                    100 * r["seqc_frac_copy"]), ha="center", va="bottom",
                    fontsize=9)
            ax.set_xticks(x)
            ax.set_xticklabels([r["expr"] for r in rows], fontsize=8)
            ax.set_ylabel("GB/s (bytes read + written)")
            ax.set_title("elementwise, 64 MiB tensors")
            ax.legend(fontsize=8)
    fig.suptitle("seqc %s on %s (%s cores), %s" % (
        result["seqc_rev"], result["machine"].get("cpu"),
        result["machine"].get("cores"), result["date"]), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--peer":
        return peer_main(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seqc", default=os.path.join(ROOT, "build", "bin", "seqc"))
    ap.add_argument("--seqrt-run", default=os.path.join(ROOT, "build", "bin",
                                                        "seqrt-run"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "bench"),
                    help="folder for libraries, weights and inputs")
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="folder for cpu-DATE.json and cpu-DATE.png")
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="SEQRT_NUM_THREADS and NumPy's BLAS threads "
                    "(default: all cores)")
    ap.add_argument("--compile-reps", type=int, default=3)
    ap.add_argument("--only", default="compile,models,elementwise")
    args = ap.parse_args()

    for tool in (args.seqc, args.seqrt_run):
        if not os.access(tool, os.X_OK):
            raise SystemExit("bench: %s is not there: build first (make build)"
                             % tool)
    seqc, run = os.path.abspath(args.seqc), os.path.abspath(args.seqrt_run)
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    only = set(args.only.split(","))
    t_start = time.perf_counter()
    log = lambda s: (sys.stderr.write(s + "\n"), sys.stderr.flush())

    date = datetime.date.today().isoformat()
    result = dict(date=date, seqc=args.seqc, seqrt_run=args.seqrt_run,
                  seqc_rev=git_rev(), machine=machine_info(),
                  threads=args.threads)
    m = result["machine"]
    print("machine: %s, %s cores, %s GiB, SIMD %s; seqc %s" % (
        m.get("cpu"), m.get("cores"), m.get("memory_gib"),
        " ".join(m.get("simd", [])), result["seqc_rev"]))
    result["load_before"] = os.getloadavg()[0]
    if result["load_before"] > 0.5 * (os.cpu_count() or 1):
        print("warning: load average %.1f on %d cores: other work competes "
              "for the CPU, the figures are noisy" % (result["load_before"],
                                                      os.cpu_count()))

    if "compile" in only:
        log("compile time (%d runs per example)" % args.compile_reps)
        result["compile"] = bench_compile(seqc, args.compile_reps, log)
        print_compile(result["compile"])
    blas, status = None, 0
    if "models" in only:
        log("models")
        result["models"] = bench_models(seqc, run, args.work, args.threads, log)
        blas = result["models"]["blas"] or blas
        print_models(result["models"], args.threads)
    if "elementwise" in only:
        log("elementwise")
        result["elementwise"] = bench_elementwise(seqc, run, args.work,
                                                  args.threads, log)
        blas = result["elementwise"]["blas"] or blas
        print_elementwise(result["elementwise"], args.threads)
    if "compile" in result and any("error" in r for r in result["compile"]):
        status = 1
    if any(result.get(k, {}).get("failed") for k in ("models", "elementwise")):
        status = 1
    if blas:
        result["blas"] = describe_blas(blas)
        mapped = blas.get("mapped") or []
        result["blas_short"] = ("OpenBLAS" if any("openblas" in p for p in
                                                  mapped) else
                                "reference BLAS" if mapped else "BLAS ?")
        print("\nNumPy %s, BLAS: %s" % (blas["numpy"], result["blas"]))
    else:
        result["blas_short"] = ""
    result["wall_s"] = time.perf_counter() - t_start
    result["load_after"] = os.getloadavg()[0]

    stem = os.path.join(args.out, "cpu-%s" % date)
    with open(stem + ".json", "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    png = plot(result, stem + ".png")
    print("\nwrote %s.json%s (%.0f s)" % (stem, " and " + png if png else "",
                                          result["wall_s"]))
    return status


if __name__ == "__main__":
    sys.exit(main())
