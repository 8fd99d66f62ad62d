#!/usr/bin/env python3
"""GPU: matmuls on tensor cores (bench/models/matmul16.seq compiled for
cuda, and in f32 with --tf32), checked against PyTorch and timed against
it (cuBLAS; with TF32 allowed for the f32 ones) in the same run.

    PYTHONPATH=python LD_LIBRARY_PATH=lib python3 matmul.py \
        --libs DIR --out DIR [--check-only]

Checks every entry (each input layout, batched, f16) at sizes on and off
the kernel's tiles and its 16-byte vectors, on inputs whose rows are not
16-byte aligned too (the element-by-element copy); then times mm and
mm_nt at square and MLP sizes. The same for libmatmul_tf32.so (f32
inputs, tf32 products). Writes matmul.json.
"""

import argparse
import os

import torch

import seqc
from gpu_common import cuda_time, save


def run(lib, f32, check_only, checks, rows):
    """Checks and times the entries of `lib` (f32 inputs where `f32`),
    appending to `checks` and `rows`; the number of failed checks."""
    torch.manual_seed(0)
    model = seqc.load(lib).create(None)
    # The checks against exact f32 products; cuBLAS timed with TF32 where
    # ours is.
    torch.backends.cuda.matmul.allow_tf32 = False

    def shifted(shape, dtype):
        # A contiguous tensor one element past a 16-byte boundary.
        n = 1
        for s in shape:
            n *= s
        flat = torch.randn(n + 1, device="cuda").to(dtype)
        return flat[1:].view(*shape)

    def make(shape, dtype, unaligned):
        if unaligned:
            return shifted(shape, dtype)
        return torch.randn(*shape, device="cuda").to(dtype)

    entries = {
        "mm": (lambda B, M, N, K: ((M, K), (K, N)),
               lambda x, w: x @ w),
        "mm_nt": (lambda B, M, N, K: ((M, K), (N, K)),
                  lambda x, w: x @ w.T),
        "mm_tn": (lambda B, M, N, K: ((K, M), (K, N)),
                  lambda x, w: x.T @ w),
        "bmm": (lambda B, M, N, K: ((B, M, K), (B, K, N)),
                lambda x, w: x @ w),
        "mm_f16": (lambda B, M, N, K: ((M, K), (K, N)),
                   lambda x, w: x @ w),
    }
    failed = 0
    shapes = [(2, 128, 128, 64), (3, 100, 72, 40), (2, 257, 130, 33),
              (1, 64, 64, 16), (2, 1, 200, 96), (1, 333, 8, 512),
              (2, 512, 1024, 256)]
    for name, (shape_of, ref_of) in entries.items():
        dtype = (torch.float16 if name.endswith("f16") else
                 torch.float32 if f32 else torch.bfloat16)
        for B, M, N, K in shapes:
            for unaligned in (False, True):
                xs, ws = shape_of(B, M, N, K)
                x, w = make(xs, dtype, unaligned), make(ws, dtype, unaligned)
                y = getattr(model, name)(x, w)
                ref = ref_of(x.float(), w.float())
                err = ((y.float() - ref).abs().max() /
                       ref.abs().max().clamp_min(1e-6)).item()
                ok = err < 1e-2 and y.shape == ref.shape
                failed += not ok
                checks.append({"entry": name, "dtype": str(dtype)[6:],
                               "shape": [B, M, N, K],
                               "unaligned": unaligned, "rel_err": err,
                               "ok": ok})
                print("%-7s %-8s B%d M%d N%d K%d %-9s rel err %.2e %s" % (
                    name, str(dtype)[6:], B, M, N, K, "unaligned" if unaligned else "aligned",
                    err, "ok" if ok else "FAIL"))
    torch.backends.cuda.matmul.allow_tf32 = f32
    if not check_only:
        for name, (M, N, K) in (("mm", (4096, 4096, 4096)),
                                ("mm", (8192, 8192, 8192)),
                                ("mm_nt", (4096, 4096, 4096)),
                                ("mm", (4096, 2048, 512)),
                                ("mm", (4096, 512, 2048))):
            xs, ws = entries[name][0](1, M, N, K)
            dtype = torch.float32 if f32 else torch.bfloat16
            x = torch.randn(*xs, device="cuda").to(dtype)
            w = torch.randn(*ws, device="cuda").to(dtype)
            y = torch.empty(M, N, device="cuda", dtype=dtype)
            fn = getattr(model, name)
            ours = cuda_time(lambda: fn(x, w, out=y), 20)
            peer = entries[name][1]
            cublas = cuda_time(lambda: peer(x, w), 20)
            flops = 2.0 * M * N * K
            rows.append({"entry": name, "dtype": "tf32" if f32 else "bf16",
                         "shape": [M, N, K], "ours_ms": ours * 1e3,
                         "torch_ms": cublas * 1e3,
                         "ratio_vs_torch": cublas / ours,
                         "ours_TFLOPs": flops / ours / 1e12,
                         "torch_TFLOPs": flops / cublas / 1e12})
            print("%-6s %-4s %5dx%5dx%5d  ours %.3f ms (%.0f TFLOP/s)  torch %.3f "
                  "ms (%.0f)  %.2fx" % (name, "tf32" if f32 else "bf16", M, N, K,
                                        ours * 1e3,
                                        flops / ours / 1e12, cublas * 1e3,
                                        flops / cublas / 1e12, cublas / ours))
    model.close()
    return failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--libs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--check-only", action="store_true")
    args = ap.parse_args()
    checks, rows, failed = [], [], 0
    for lib, f32 in (("libmatmul16.so", False), ("libmatmul_tf32.so", True)):
        failed += run(os.path.join(args.libs, lib), f32, args.check_only,
                      checks, rows)
    save(args.out, "matmul.json", rows, checks=checks, failed=failed)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
