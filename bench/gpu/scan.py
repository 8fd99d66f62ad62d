#!/usr/bin/env python3
"""GPU: the diagonal scan h_t = a_t * h_{t-1} + b_t (bench/models/scan.seq,
f32, every state an output) against a device copy of the same bytes,
torch's associative_scan (torch.compile) and jax.lax.associative_scan, in
the same run (bench/README.md).

    PYTHONPATH=python LD_LIBRARY_PATH=lib python3 scan.py --bundle DIR --out DIR

The libraries are bench/models/scan.seq compiled for cuda with D = 256 and
D = 2048 (bench/gpu/bundle.py: bench/libscan256.so, libscan2048.so),
called through python/seqc on torch CUDA tensors, y written in place.
First each is checked against a float64 sequential loop at small shapes
that take both of seqc's GPU forms (fused: a thread per channel over all
of time; chunked: three phases over chunks of time) and odd lengths; then
B1 T65536 D256 (chunked) and B8 T4096 D2048 (fused) are timed with CUDA
events (median of --reps after warm-up). Bytes per element: a and b read,
y written, 12; the call is also timed from C (seqrt-run --bench, no
Python). The copy moves as many bytes (a tensor of 1.5 elements per
element, read and written). Prints ratio first, absolute second; writes
scan.json; exits 1 if a check fails.
"""

import argparse
import os
import re
import subprocess
import sys
import time

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import seqc  # noqa: E402
from gpu_common import cuda_time, save  # noqa: E402

SHAPES = [(1, 65536, 256), (8, 4096, 2048)]
CHECKS = [(2, 300, 256), (1, 1000, 256), (3, 77, 256), (1, 20, 2048),
          (8, 33, 2048)]


def reference(a, b):
    h = torch.zeros(a.shape[0], a.shape[2], dtype=torch.float64,
                    device=a.device)
    y = torch.empty(a.shape, dtype=torch.float64, device=a.device)
    a64, b64 = a.double(), b.double()
    for t in range(a.shape[1]):
        h = a64[:, t] * h + b64[:, t]
        y[:, t] = h
    return y


def inputs(B, T, D, seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    a = 0.5 + 0.5 * torch.rand(B, T, D, device="cuda", generator=g)
    b = torch.randn(B, T, D, device="cuda", generator=g)
    return a, b


def torch_peer():
    from torch._higher_order_ops.associative_scan import associative_scan

    def combine(x, y):
        return (x[0] * y[0], y[0] * x[1] + y[1])

    @torch.compile(dynamic=False)
    def scan(a, b):
        return associative_scan(combine, (a, b), dim=1,
                                combine_mode="pointwise")[1]
    return scan


def jax_peer():
    import jax
    import jax.numpy as jnp

    def combine(x, y):
        return (x[0] * y[0], y[0] * x[1] + y[1])

    @jax.jit
    def scan(a, b):
        return jax.lax.associative_scan(combine, (a, b), axis=1)[1]
    return scan, jnp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--peers", default="copy,torch,jax")
    args = ap.parse_args()
    peers = args.peers.split(",")
    models = {D: seqc.load(os.path.join(args.bundle, "bench",
                                        "libscan%d.so" % D)).create(None)
              for D in (256, 2048)}
    result = {"checks": [], "results": []}
    ok_all = True
    for B, T, D in CHECKS + SHAPES:
        # Inputs and y (NaN: an element not written shows) are written on
        # torch's stream just before the call, which must wait for them.
        a, b = inputs(B, T, D, B * T + D)
        y = torch.full_like(a, float("nan"))
        models[D].forward(a, b, out=y)
        torch.cuda.synchronize()
        want = reference(a, b)
        err = float(((y.double() - want).abs() / (1 + want.abs())).max())
        ok = err < 1e-4  # False for NaN
        ok_all = ok_all and ok
        result["checks"].append({"shape": [B, T, D], "max_rel_err": err,
                                 "ok": ok})
        print("%s check B%d T%d D%d: max rel err %.3g" % (
            "ok  " if ok else "FAIL", B, T, D, err))
        del want
    for B, T, D in SHAPES:
        a, b = inputs(B, T, D, 1)
        y = torch.empty_like(a)
        nbytes = 12 * a.numel()
        e = {"shape": [B, T, D], "bytes": nbytes}
        e["ours_ms"] = cuda_time(lambda: models[D].forward(a, b, out=y),
                                 args.reps) * 1e3
        # The same call from C (seqrt-run: no Python, random inputs).
        r = subprocess.run(
            [os.path.join(args.bundle, "bin", "seqrt-run"),
             os.path.join(args.bundle, "bench", "libscan%d.so" % D),
             "--random", "--dim", "B=%d" % B, "--dim", "T=%d" % T,
             "--bench=%d" % args.reps], capture_output=True, text=True)
        m = re.search(r"median ([0-9.e+-]+) ms", r.stdout)
        if m:
            e["ours_c_ms"] = float(m.group(1))
        if "copy" in peers:
            src = torch.empty(a.numel() * 3 // 2, device="cuda")
            dst = torch.empty_like(src)
            e["copy_ms"] = cuda_time(lambda: dst.copy_(src), args.reps) * 1e3
            del src, dst
        if "torch" in peers:
            try:
                scan = torch_peer()
                t0 = time.perf_counter()
                got = scan(a, b)
                torch.cuda.synchronize()
                e["torch_first_call_s"] = time.perf_counter() - t0
                e["torch_max_abs_diff"] = float((got - y).abs().max())
                e["torch_ms"] = cuda_time(lambda: scan(a, b), args.reps) * 1e3
                del got
            except Exception as ex:  # a peer that fails is reported
                e["torch_error"] = ("%s: %s" % (type(ex).__name__, ex))[:300]
            torch.cuda.empty_cache()
        if "jax" in peers:
            try:
                scan, jnp = jax_peer()
                ja = jnp.asarray(a.cpu().numpy())
                jb = jnp.asarray(b.cpu().numpy())
                t0 = time.perf_counter()
                got = scan(ja, jb).block_until_ready()
                e["jax_first_call_s"] = time.perf_counter() - t0
                e["jax_max_abs_diff"] = float(
                    np.abs(np.asarray(got) - y.cpu().numpy()).max())
                times = []
                for _ in range(args.reps + 3):
                    t0 = time.perf_counter()
                    scan(ja, jb).block_until_ready()
                    times.append(time.perf_counter() - t0)
                e["jax_ms"] = float(np.median(times[3:])) * 1e3
                del ja, jb, got
            except Exception as ex:
                e["jax_error"] = ("%s: %s" % (type(ex).__name__, ex))[:300]
        for k in ("ours", "ours_c", "copy", "torch", "jax"):
            if k + "_ms" in e:
                e[k + "_GBps"] = nbytes / (e[k + "_ms"] * 1e-3) / 1e9
        for k in ("copy", "torch", "jax"):
            if k + "_ms" in e:
                e["ratio_vs_" + k] = e[k + "_ms"] / e["ours_ms"]
        result["results"].append(e)
        print("scan B%d T%d D%d: %s   ours %.3f ms (%.0f GB/s; from C %s)%s" % (
            B, T, D, "  ".join(
                "%.2fx vs %s (%.3f ms, %.0f GB/s)" % (
                    e["ratio_vs_" + k], k, e[k + "_ms"], e[k + "_GBps"])
                for k in ("copy", "torch", "jax") if k + "_ms" in e),
            e["ours_ms"], e["ours_GBps"],
            "%.3f ms" % e["ours_c_ms"] if "ours_c_ms" in e else "-",
            "".join("   %s: %s" % (k, e[k + "_error"])
                    for k in ("torch", "jax") if k + "_error" in e)))
        del a, b, y
        torch.cuda.empty_cache()
    save(args.out, "scan.json", result["results"], checks=result["checks"])
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
