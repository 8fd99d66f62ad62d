#!/usr/bin/env python3
"""GPU: compiled models called from Python (python/seqc, DLPack, no copies)
on PyTorch CUDA tensors, checked against PyTorch and timed against it in
the same run (bench/README.md).

    PYTHONPATH=python LD_LIBRARY_PATH=lib python3 torch_peers.py \
        --libs DIR --out DIR

Models (bench/models, compiled for cuda into --libs): silu_affine (y =
silu(x) * w + b, R x 4096 f32) against PyTorch eager and a device copy of
the same bytes; gate (silu(a) * b + a); mlp (gelu(x @ w1) @ w2, f32,
N x 512 x 2048) against PyTorch eager (cuBLAS). Writes torch_peers.json.
"""

import argparse
import json
import os
import tempfile
import time

import torch

import seqc
from gpu_common import save


def timed(fn, reps=30):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def weights_file(path, tensors, dtype="F32"):
    """A safetensors file of `tensors`, as F32 or BF16."""
    import numpy as np
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        if dtype == "BF16":
            a = t.detach().cpu().to(torch.bfloat16).view(torch.int16).numpy()
        else:
            a = t.detach().cpu().numpy().astype(np.float32)
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--libs", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(0)
    rows = []
    wdir = tempfile.mkdtemp(prefix="seqc-peers-")

    def report(name, shape, ours, peers, err, nbytes=None, flops=None):
        e = {"model": name, "shape": shape, "ours_ms": ours * 1e3,
             "max_abs_err": err}
        for p, t in peers.items():
            e[p + "_ms"] = t * 1e3
            e["ratio_vs_" + p] = t / ours
        if nbytes:
            e["ours_GBps"] = nbytes / ours / 1e9
        if flops:
            e["ours_TFLOPs"] = flops / ours / 1e12
        rows.append(e)
        print("%-12s %-14s %s   ours %.3f ms%s   err %.2g" % (
            name, shape, "  ".join("%.2fx vs %s (%.3f ms)" % (t / ours, p, t * 1e3)
                                   for p, t in peers.items()),
            ours * 1e3, " (%.0f GB/s)" % (nbytes / ours / 1e9) if nbytes else
            " (%.2f TFLOP/s)" % (flops / ours / 1e12) if flops else "", err))

    # silu_affine
    lib = seqc.load(os.path.join(args.libs, "libsilu_affine.so"))
    C = 4096
    w, b = torch.randn(C), torch.randn(C)
    wf = os.path.join(wdir, "silu_affine.safetensors")
    weights_file(wf, {"w": w, "b": b})
    model = lib.create(wf)
    w, b = w.cuda(), b.cuda()
    for R in (4096, 16384):
        x = torch.randn(R, C, device="cuda")
        y = torch.empty_like(x)
        model.forward(x, out=y)
        ref = torch.nn.functional.silu(x) * w + b
        err = (y - ref).abs().max().item()
        ours = timed(lambda: model.forward(x, out=y))
        eager = timed(lambda: torch.nn.functional.silu(x) * w + b)
        copy = timed(lambda: y.copy_(x))
        report("silu_affine", "%dx%d" % (R, C), ours,
               {"torch": eager, "copy": copy}, err, nbytes=2 * R * C * 4)
    model.close()

    # gate
    lib = seqc.load(os.path.join(args.libs, "libgate.so"))
    model = lib.create(None)
    for R in (4096, 16384):
        a = torch.randn(R, C, device="cuda")
        bb = torch.randn(R, C, device="cuda")
        y = torch.empty_like(a)
        model.forward(a, bb, out=y)
        ref = torch.nn.functional.silu(a) * bb + a
        err = (y - ref).abs().max().item()
        ours = timed(lambda: model.forward(a, bb, out=y))
        eager = timed(lambda: torch.nn.functional.silu(a) * bb + a)
        report("gate", "%dx%d" % (R, C), ours, {"torch": eager}, err,
               nbytes=3 * R * C * 4)
    model.close()

    # mlp
    lib = seqc.load(os.path.join(args.libs, "libmlp.so"))
    D, F = 512, 2048
    w1, w2 = torch.randn(D, F) / D ** 0.5, torch.randn(F, D) / F ** 0.5
    wf = os.path.join(wdir, "mlp.safetensors")
    weights_file(wf, {"w1": w1, "w2": w2})
    model = lib.create(wf)
    w1, w2 = w1.cuda(), w2.cuda()

    def mlp_ref(x):
        h = x @ w1
        return (0.5 * h * (1.0 + torch.tanh(
            0.7978845608 * (h + 0.044715 * h * h * h)))) @ w2
    torch.backends.cuda.matmul.allow_tf32 = False
    for N in (1024, 4096):
        x = torch.randn(N, D, device="cuda")
        y = torch.empty(N, D, device="cuda")
        model.forward(x, out=y)
        err = (y - mlp_ref(x)).abs().max().item()
        ours = timed(lambda: model.forward(x, out=y), reps=10)
        eager = timed(lambda: mlp_ref(x))
        report("mlp", "%dx%dx%d" % (N, D, F), ours, {"torch": eager}, err,
               flops=4 * N * D * F)
    model.close()

    # mlp in f32 built with --tf32: its matmuls on tensor cores as tf32,
    # against cuBLAS with TF32 allowed.
    lib = seqc.load(os.path.join(args.libs, "libmlp_tf32.so"))
    model = lib.create(wf)
    for N in (1024, 4096, 16384):
        x = torch.randn(N, D, device="cuda")
        y = torch.empty(N, D, device="cuda")
        model.forward(x, out=y)
        torch.backends.cuda.matmul.allow_tf32 = False
        ref = mlp_ref(x)
        err = ((y - ref).abs().max() / ref.abs().max()).item()
        torch.backends.cuda.matmul.allow_tf32 = True
        ours = timed(lambda: model.forward(x, out=y), reps=20)
        eager = timed(lambda: mlp_ref(x))
        report("mlp_tf32", "%dx%dx%d" % (N, D, F), ours, {"torch": eager},
               err, flops=4 * N * D * F)
    torch.backends.cuda.matmul.allow_tf32 = False
    model.close()

    # mlp in bf16: its matmuls on tensor cores, against cuBLAS in bf16.
    lib = seqc.load(os.path.join(args.libs, "libmlp_bf16.so"))
    w1, w2 = torch.randn(D, F) / D ** 0.5, torch.randn(F, D) / F ** 0.5
    wf = os.path.join(wdir, "mlp_bf16.safetensors")
    weights_file(wf, {"w1": w1, "w2": w2}, "BF16")
    model = lib.create(wf)
    w1, w2 = w1.cuda().bfloat16(), w2.cuda().bfloat16()
    for N in (1024, 4096, 16384):
        x = torch.randn(N, D, device="cuda").bfloat16()
        y = torch.empty(N, D, device="cuda").bfloat16()
        model.forward(x, out=y)
        h = x.float() @ w1.float()
        ref = (0.5 * h * (1.0 + torch.tanh(
            0.7978845608 * (h + 0.044715 * h * h * h)))) @ w2.float()
        err = ((y.float() - ref).abs().max() / ref.abs().max()).item()
        ours = timed(lambda: model.forward(x, out=y), reps=20)
        eager = timed(lambda: mlp_ref(x))
        report("mlp_bf16", "%dx%dx%d" % (N, D, F), ours, {"torch": eager},
               err, flops=4 * N * D * F)
    model.close()

    save(args.out, "torch_peers.json", rows)

if __name__ == "__main__":
    main()
