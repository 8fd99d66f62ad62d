#!/usr/bin/env python3
"""GPU: matrix-state recurrences (GLA, RetNet-style retention, DeltaNet;
bench/models/{gla,retnet,deltanet}_core.seq at H16 K=V=128, f32) against
flash-linear-attention's Triton kernels in the same run: its chunkwise
forms (chunk_gla, chunk_simple_gla, chunk_delta_rule) and its recurrent
ones (fused_recurrent_*), the algorithm seqc's fused scan runs.

    PYTHONPATH=python LD_LIBRARY_PATH=lib python3 linear_attention.py \
        --bundle DIR --out DIR [--fla DIR]

--fla is the folder holding flash-linear-attention's `fla/` package (its
source, carried; only fla.ops.{gla,simple_gla,delta_rule} are imported,
without the package's model code). The libraries come from
bench/gpu/bundle.py (bench/lib{gla,retnet,deltanet}_core.so). Each is first
checked against a float64 loop over time at small shapes (outputs
NaN-filled), then timed at B8 T4096 with CUDA events (median of --reps);
fla is timed on bf16 inputs (what it is measured at; --fla-dtypes adds
f32), its output compared with ours. Prints ratio first (peer time / ours), absolute
second; writes linear_attention.json; exits 1 if a check fails.
"""

import argparse
import os
import sys
import time
import types

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import seqc  # noqa: E402
from gpu_common import cuda_time, save  # noqa: E402

H, K, V = 16, 128, 128
SHAPES = [(8, 4096)]
CHECKS = [(2, 37), (1, 300), (3, 1), (2, 128)]  # 128: whole chunks, no copies


def inputs(name, B, T, seed):
    g = torch.Generator(device="cuda").manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, device="cuda", generator=g)
    q, k, v = rand(B, H, T, K) / K ** 0.5, rand(B, H, T, K), rand(B, H, T, V)
    if name == "gla":
        return q, k / K ** 0.5, v, rand(B, H, T, K) + 3.0  # gates near 1
    if name == "retnet":
        return q, k / K ** 0.5, v, -0.05 * torch.rand(
            B, H, T, device="cuda", generator=g)
    return q, k, v, rand(B, H, T)


def reference(name, q, k, v, x):
    """float64, one step at a time: o [B, H, T, V]."""
    q, k, v, x = (t.double() for t in (q, k, v, x))
    B, _, T, _ = q.shape
    S = torch.zeros(B, H, K, V, dtype=torch.float64, device=q.device)
    o = torch.empty(B, H, T, V, dtype=torch.float64, device=q.device)
    if name == "deltanet":
        k = k * torch.rsqrt((k * k).sum(-1, keepdim=True) + 1e-6)
        x = torch.sigmoid(x)
    for t in range(T):
        kt, vt = k[:, :, t], v[:, :, t]
        if name == "gla":
            S = torch.sigmoid(x[:, :, t])[..., None] * S + \
                kt[..., None] * vt[:, :, None]
        elif name == "retnet":
            S = torch.exp(x[:, :, t])[..., None, None] * S + \
                kt[..., None] * vt[:, :, None]
        else:
            u = x[:, :, t, None] * (vt - torch.einsum("bhk,bhkv->bhv", kt, S))
            S = S + kt[..., None] * u[:, :, None]
        o[:, :, t] = torch.einsum("bhk,bhkv->bhv", q[:, :, t], S)
    return o


def load_fla(root):
    """fla.ops.{gla,simple_gla,delta_rule} without fla/__init__.py (which
    imports the model code and its dependencies)."""
    import re
    with open(os.path.join(root, "fla", "__init__.py")) as f:
        version = re.search(r'__version__ = "([^"]+)"', f.read()).group(1)
    for pkg in ("fla", "fla.ops"):
        if pkg not in sys.modules:
            m = types.ModuleType(pkg)
            m.__path__ = [os.path.join(root, *pkg.split("."))]
            m.__version__ = version
            sys.modules[pkg] = m
    from fla.ops.delta_rule import chunk_delta_rule, fused_recurrent_delta_rule
    from fla.ops.gla import chunk_gla, fused_recurrent_gla
    from fla.ops.simple_gla import chunk_simple_gla, fused_recurrent_simple_gla
    return {
        "gla": {"chunk": chunk_gla, "recurrent": fused_recurrent_gla},
        "retnet": {"chunk": chunk_simple_gla,
                   "recurrent": fused_recurrent_simple_gla},
        "deltanet": {"chunk": chunk_delta_rule,
                     "recurrent": fused_recurrent_delta_rule},
    }


def fla_args(name, form, q, k, v, x, dtype):
    """fla's inputs ([B, T, H, .], no scaling) for our (q, k, v, x)."""
    def bthk(t):
        return t.transpose(1, 2).contiguous().to(dtype)
    if name == "gla":
        # fused_recurrent_gla names the key gates gk (an unknown g is
        # ignored).
        gate = "g" if form == "chunk" else "gk"
        return (bthk(q), bthk(k), bthk(v)), {gate: bthk(F.logsigmoid(x))}
    if name == "retnet":
        return (bthk(q), bthk(k), bthk(v)), {"g": bthk(x)}
    kn = k * torch.rsqrt((k * k).sum(-1, keepdim=True) + 1e-6)
    return (bthk(q), bthk(kn), bthk(v)), {"beta": bthk(torch.sigmoid(x))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--fla", default="")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--only", default="gla,retnet,deltanet")
    ap.add_argument("--variant", default="",
                    help="tf32: the libraries built with --tf32 "
                    "(lib*_core_tf32.so), checked to 5e-3")
    ap.add_argument("--fla-dtypes", default="bf16",
                    help="comma-separated: bf16, f32 (each a Triton compile "
                    "of 30-80 s a kernel on its first call)")
    args = ap.parse_args()
    names = args.only.split(",")
    suffix = "_" + args.variant if args.variant else ""
    tol = 5e-3 if args.variant == "tf32" else 1e-4
    models = {n: seqc.load(os.path.join(args.bundle, "bench", "lib%s_core%s.so"
                                        % (n, suffix))).create(None)
              for n in names}
    result = {"checks": [], "results": []}
    ok_all = True
    for name in names:
        for B, T in CHECKS:
            q, k, v, x = inputs(name, B, T, B * T)
            o = torch.full((B, H, T, V), float("nan"), device="cuda")
            models[name].forward(q, k, v, x, out=o)
            torch.cuda.synchronize()
            want = reference(name, q, k, v, x)
            err = float(((o.double() - want).abs() / (1 + want.abs())).max())
            ok = err < tol  # False for NaN
            ok_all = ok_all and ok
            result["checks"].append({"model": name, "shape": [B, H, T, K],
                                     "max_rel_err": err, "ok": ok})
            print("%s check %s B%d T%d: max rel err %.3g" % (
                "ok  " if ok else "FAIL", name, B, T, err))
    fla = {}
    if args.fla:
        try:
            fla = load_fla(args.fla)
        except Exception as ex:
            result["fla_error"] = ("%s: %s" % (type(ex).__name__, ex))[:300]
            print("fla:", result["fla_error"])
    for name in names:
        for B, T in SHAPES:
            q, k, v, x = inputs(name, B, T, 1)
            o = torch.empty(B, H, T, V, device="cuda")
            e = {"model": name, "shape": [B, H, T, K]}
            e["ours_ms"] = cuda_time(
                lambda: models[name].forward(q, k, v, x, out=o),
                args.reps) * 1e3
            line = ["ours %.3f ms (f32%s)" % (e["ours_ms"], suffix)]
            for form, fn in fla.get(name, {}).items():
                for dname in args.fla_dtypes.split(","):
                    dtype = {"bf16": torch.bfloat16, "f32": torch.float32}[dname]
                    key = "fla_%s_%s" % (form, dname)
                    try:
                        pos, kw = fla_args(name, form, q, k, v, x, dtype)
                        t0 = time.perf_counter()
                        got = fn(*pos, scale=1.0, **kw)[0]
                        torch.cuda.synchronize()
                        e[key + "_first_call_s"] = time.perf_counter() - t0
                        diff = (got.float().transpose(1, 2) - o).abs().max()
                        e[key + "_max_abs_diff"] = float(diff)
                        e[key + "_ms"] = cuda_time(
                            lambda: fn(*pos, scale=1.0, **kw), args.reps) * 1e3
                        line.append("%s %.2fx (%.3f ms)" % (
                            key, e[key + "_ms"] / e["ours_ms"], e[key + "_ms"]))
                        del got, pos, kw
                    except Exception as ex:
                        e[key + "_error"] = ("%s: %s" % (
                            type(ex).__name__, ex))[:300]
                        line.append("%s error" % key)
            result["results"].append(e)
            print("%s B%d H%d T%d K%d: %s" % (name, B, H, T, K,
                                              "; ".join(line)))
            del q, k, v, x, o
            torch.cuda.empty_cache()
    save(args.out, "linear_attention%s.json" % suffix, result["results"],
         checks=result["checks"], fla_error=result.get("fla_error"))
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
