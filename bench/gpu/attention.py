#!/usr/bin/env python3
"""GPU: fused attention (bench/models/attention.seq compiled for cuda)
against PyTorch's scaled_dot_product_attention (the flash, cuDNN and
memory-efficient backends) and FlexAttention, in the same run
(bench/README.md).

    PYTHONPATH=python LD_LIBRARY_PATH=lib python3 attention.py --bundle DIR --out DIR

The libraries (bench/gpu/bundle.py) are the model with H = 16, bf16 at
D = 64 and 128 (bench/libattention_bf16_d64.so, ...), f16 and f32 at D = 64,
called through python/seqc on torch CUDA tensors, the output written in
place. First each entry is checked against float64 attention computed by
torch from the same inputs, at small and odd shapes (relative error 1e-2
for bf16 outputs, 2e-3 for f16, 1e-4 for f32); then prefill (`full`, `causal`) is timed
with CUDA events (median of --reps; ours and each peer in turn, --rounds
times, the least median kept, each after --cooldown seconds idle) at
B x H x T x D in CONFIGS and
reported in TFLOP/s (4 B H T^2 D, half of it causal), and decoding (one
query against T keys) in GB/s of keys and values read, beside a device
copy of the same bytes. Prints ratios first (a peer's time / ours: above
1, seqc is faster), absolute figures second; writes attention.json; exits
1 if a check fails.
"""

import argparse
import os
import sys
import time

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import seqc  # noqa: E402
from gpu_common import cuda_time, save  # noqa: E402

H = 16
CONFIGS = [(4, 4096, 64), (4, 4096, 128), (1, 16384, 64), (1, 16384, 128)]
DECODE = [(8, 4096, 128), (8, 16384, 128), (1, 65536, 128)]
CHECKS = [(2, 100), (1, 333), (2, 333), (1, 1)]
# Decoding over a long cache: 128 key splits a row (the merge's 32-wide
# steps).
DECODE_CHECKS = [(1, 8192)]
DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}


def lib_name(dtype, D):
    return "libattention_%s_d%d.so" % (dtype, D)


def reference(q, k, v, causal):
    s = q.double() @ k.double().transpose(-1, -2) / q.shape[-1] ** 0.5
    if causal:
        T = s.shape[-1]
        mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
        s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, dim=-1) @ v.double()


def inputs(B, Tq, T, D, dtype, seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    q = torch.randn(B, H, Tq, D, device="cuda", generator=g).to(dtype)
    k = torch.randn(B, H, T, D, device="cuda", generator=g).to(dtype)
    v = torch.randn(B, H, T, D, device="cuda", generator=g).to(dtype)
    return q, k, v


def summarize(e, names, amount, unit, scale):
    """Adds each one's rate (`amount` per second / `scale`, key NAME_UNIT)
    and each peer's ratio (its time / ours) to `e`; returns the line that
    prints them, peers first."""
    for name in ["ours"] + names:
        if name + "_ms" in e:
            e[name + "_" + unit] = amount / (e[name + "_ms"] * 1e-3) / scale
            if name != "ours":
                e["ratio_vs_" + name] = e[name + "_ms"] / e["ours_ms"]
    label = unit.replace("TFLOPs", "TFLOP/s").replace("GBps", "GB/s")
    return "%s   ours %.3f ms (%.1f %s)%s" % (
        "  ".join("%.3fx vs %s (%.3f ms, %.0f %s)" % (
            e["ratio_vs_" + n], n, e[n + "_ms"], e[n + "_" + unit], label)
            for n in names if n + "_ms" in e),
        e["ours_ms"], e["ours_" + unit], label,
        "".join("   %s: %s" % (n, e[n + "_error"])
                for n in names if n + "_error" in e))


def sdpa_peers():
    """name -> fn(q, k, v, causal) for each SDPA backend there is."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    peers = {}
    for name, backend in (("flash", "FLASH_ATTENTION"),
                          ("cudnn", "CUDNN_ATTENTION"),
                          ("efficient", "EFFICIENT_ATTENTION")):
        if hasattr(SDPBackend, backend):
            def fn(q, k, v, causal, b=getattr(SDPBackend, backend)):
                with sdpa_kernel(b):
                    return F.scaled_dot_product_attention(q, k, v,
                                                          is_causal=causal)
            peers[name] = fn
    return peers


def flex_peer():
    from torch.nn.attention.flex_attention import (create_block_mask,
                                                   flex_attention)
    flex = torch.compile(flex_attention, dynamic=False)
    masks = {}

    def fn(q, k, v, causal):
        if not causal:
            return flex(q, k, v)
        key = (q.shape[-2], k.shape[-2])
        if key not in masks:
            masks[key] = create_block_mask(
                lambda b, h, qi, ki: qi >= ki, None, None, key[0], key[1])
        return flex(q, k, v, block_mask=masks[key])
    return fn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2,
                    help="prefill: ours and each peer timed in turn this "
                    "many times, the least median kept (a kernel timed "
                    "right after cuDNN's ran up to 10%% slower)")
    ap.add_argument("--cooldown", type=float, default=1.0,
                    help="prefill: seconds idle before each timing, so "
                    "that none runs in the clocks a previous one left")
    ap.add_argument("--peers", default="flash,cudnn,efficient,flex,copy")
    ap.add_argument("--checks-only", action="store_true",
                    help="only the checks (e.g. under compute-sanitizer)")
    args = ap.parse_args()
    wanted = args.peers.split(",")
    models = {}
    # bf16 at D = 96 and 256 are checked only.
    for dtype, D in (("bf16", 64), ("bf16", 128), ("f16", 64), ("f32", 64),
                     ("bf16", 96), ("bf16", 256)):
        models[dtype, D] = seqc.load(os.path.join(
            args.bundle, "bench", lib_name(dtype, D))).create(None)
    result = {"checks": [], "prefill": [], "decode": []}
    ok_all = True

    # Checks: every entry at small and odd shapes, outputs NaN-filled.
    for (dtype, D), model in models.items():
        tol = {"bf16": 1e-2, "f16": 2e-3}.get(dtype, 1e-4)
        shapes = [(B, T, entry) for B, T in CHECKS
                  for entry in ("full", "causal", "decode")]
        shapes += [(B, T, "decode") for B, T in DECODE_CHECKS]
        for B, T, entry in shapes:
            Tq = 1 if entry == "decode" else T
            q, k, v = inputs(B, Tq, T, D, DTYPES[dtype], B * T + D)
            o = torch.full_like(q, float("nan"))
            getattr(model, entry)(q, k, v, out=o)
            torch.cuda.synchronize()
            want = reference(q, k, v, entry == "causal")
            err = float(((o.double() - want).abs() /
                         (1 + want.abs())).max())
            ok = err < tol  # False for NaN
            ok_all = ok_all and ok
            result["checks"].append({"dtype": dtype, "entry": entry,
                                     "shape": [B, H, T, D],
                                     "max_rel_err": err, "ok": ok})
            print("%s check %s %s B%d T%d D%d: max rel err %.3g" % (
                "ok  " if ok else "FAIL", dtype, entry, B, T, D, err))

    if args.checks_only:
        return 0 if ok_all else 1
    peers = {k: v for k, v in sdpa_peers().items() if k in wanted}
    if "flex" in wanted:
        peers["flex"] = flex_peer()
    for B, T, D in CONFIGS:
        q, k, v = inputs(B, T, T, D, torch.bfloat16, 1)
        o = torch.empty_like(q)
        for entry in ("full", "causal"):
            causal = entry == "causal"
            flop = 4.0 * B * H * T * T * D / (2 if causal else 1)
            e = {"entry": entry, "shape": [B, H, T, D], "dtype": "bf16",
                 "flop": flop}
            fn = getattr(models["bf16", D], entry)

            def keep(key, ms):
                e[key] = min(e.get(key, ms), ms)

            def idle():
                torch.cuda.synchronize()
                time.sleep(args.cooldown)
            for _ in range(args.rounds):
                idle()
                keep("ours_ms", cuda_time(lambda: fn(q, k, v, out=o),
                                          args.reps) * 1e3)
                for name, peer in peers.items():
                    if name + "_error" in e:
                        continue
                    try:
                        if name + "_first_call_s" not in e:
                            t0 = time.perf_counter()
                            got = peer(q, k, v, causal)
                            torch.cuda.synchronize()
                            e[name + "_first_call_s"] = (time.perf_counter()
                                                         - t0)
                            e[name + "_max_abs_diff"] = float(
                                (got.float() - o.float()).abs().max())
                            del got
                        idle()
                        keep(name + "_ms", cuda_time(
                            lambda: peer(q, k, v, causal), args.reps) * 1e3)
                    except Exception as ex:  # a peer that fails is reported
                        e[name + "_error"] = ("%s: %s" % (
                            type(ex).__name__, ex))[:300]
            line = summarize(e, list(peers), flop, "TFLOPs", 1e12)
            result["prefill"].append(e)
            print("%s B%d H%d T%d D%d bf16: %s" % (entry, B, H, T, D, line))
        del q, k, v, o
        torch.cuda.empty_cache()

    for B, T, D in DECODE:
        q, k, v = inputs(B, 1, T, D, torch.bfloat16, 2)
        o = torch.empty_like(q)
        nbytes = 2 * k.numel() * k.element_size()
        e = {"entry": "decode", "shape": [B, H, T, D], "dtype": "bf16",
             "bytes": nbytes}
        fn = models["bf16", D].decode
        e["ours_ms"] = cuda_time(lambda: fn(q, k, v, out=o), args.reps) * 1e3
        names = [n for n in peers if n != "flex"]
        for name in names:
            try:
                got = peers[name](q, k, v, False)
                e[name + "_max_abs_diff"] = float(
                    (got.float() - o.float()).abs().max())
                e[name + "_ms"] = cuda_time(
                    lambda: peers[name](q, k, v, False), args.reps) * 1e3
            except Exception as ex:
                e[name + "_error"] = ("%s: %s" % (type(ex).__name__, ex))[:300]
        if "copy" in wanted:
            # As many bytes moved: half of them read, half written.
            src = torch.empty(nbytes // 4, dtype=torch.bfloat16, device="cuda")
            dst = torch.empty_like(src)
            e["copy_ms"] = cuda_time(lambda: dst.copy_(src), args.reps) * 1e3
            names.append("copy")
            del src, dst
        line = summarize(e, names, nbytes, "GBps", 1e9)
        result["decode"].append(e)
        print("decode B%d H%d T%d D%d bf16: %s" % (B, H, T, D, line))
        del q, k, v, o
        torch.cuda.empty_cache()
    save(args.out, "attention.json", result["prefill"] + result["decode"],
         checks=result["checks"])
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
