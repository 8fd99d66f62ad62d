#!/usr/bin/env python3
"""Builds the GPU bundle: every example compiled for cuda, with inputs,
weights and the interpreter's outputs, and the runtime-only seqrt-run.

    bundle.py --seqc build/bin/seqc --build build --out build/gpu-bundle
              [--examples examples] [-B 2] [-T 16] [--gpu-arch sm_90a]

The folder (docs/gpu.md) runs where the GPU is, without the compiler:
    LD_LIBRARY_PATH=lib python3 run.py --out $OUT
runs each library with seqrt-run on its inputs, compares with the
interpreter's outputs (the harness's tolerance), runs compute-sanitizer
(memcheck, racecheck) over each, times each, and writes report.json.
"""

import argparse
import json
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "test", "Integration", "Inputs"))
import harness  # noqa: E402
from compiled import run  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqc", required=True)
    ap.add_argument("--build", required=True, help="the build folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--examples", default=os.path.join(ROOT, "examples"))
    ap.add_argument("--shapes", default="2x16,1x100,1x300",
                    help="comma-separated BxT")
    ap.add_argument("--gpu-arch", default="sm_90a")
    ap.add_argument("--only", default="", help="comma-separated examples")
    ap.add_argument("--fla", default="",
                    help="a checkout of flash-linear-attention: its fla/ "
                    "package is copied to fla_src/ for linear_attention.py "
                    "--fla fla_src")
    args = ap.parse_args()

    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "bin"))
    os.makedirs(os.path.join(out, "lib"))
    shutil.copy(os.path.join(args.build, "bin", "seqrt-run"),
                os.path.join(out, "bin"))
    for f in os.listdir(os.path.join(args.build, "lib")):
        if f.startswith("libseqrt.so"):
            shutil.copy(os.path.join(args.build, "lib", f),
                        os.path.join(out, "lib"), follow_symlinks=True)
    shutil.copy(os.path.join(HERE, "run_bundle.py"),
                os.path.join(out, "run.py"))

    for script in ("gpu_common.py", "pointwise.py", "torch_peers.py",
                   "scan.py", "attention.py", "linear_attention.py",
                   "matmul.py"):
        shutil.copy(os.path.join(HERE, script), out)
    shutil.copytree(os.path.join(ROOT, "python", "seqc"),
                    os.path.join(out, "python", "seqc"))
    if args.fla:
        shutil.copytree(os.path.join(args.fla, "fla"),
                        os.path.join(out, "fla_src", "fla"),
                        ignore=shutil.ignore_patterns("__pycache__"))
    # Benchmark models, each compiled for cuda into bench/libNAME.so from
    # bench/models/MODEL.seq with its text rewritten by `edits` (a list of
    # (old, new)) and extra seqc `flags`.
    os.makedirs(os.path.join(out, "bench"))

    def build(name, model, edits=(), flags=()):
        with open(os.path.join(ROOT, "bench", "models", model + ".seq")) as f:
            text = f.read()
        for old, new in edits:
            text = text.replace(old, new)
        src = os.path.join(out, "bench", name + ".seq")
        with open(src, "w") as f:
            f.write(text)
        ok = run([args.seqc, src, "--target=cuda",
                  "--gpu-arch=" + args.gpu_arch] + list(flags) +
                 ["-o", os.path.join(out, "bench", "lib%s.so" % name)]) == 0
        os.remove(src)
        if ok:
            os.remove(os.path.join(out, "bench", "%s.h" % name))
        return ok

    builds = [(m, m, (), ()) for m in ("silu_affine", "gate", "mlp",
                                       "matmul16")]
    # The MLP in bf16 (its matmuls on tensor cores); f32 contractions on
    # tensor cores as tf32 (--tf32): the MLP, the matmuls in f32 and, below,
    # the chunkwise recurrences.
    builds += [("mlp_bf16", "mlp", (("f32[", "bf16["),), ()),
               ("mlp_tf32", "mlp", (), ("--tf32",)),
               ("matmul_tf32", "matmul16", (("bf16[", "f32["),), ("--tf32",))]
    # The diagonal scan at D = 256 and 2048 (bench/gpu/scan.py).
    builds += [("scan%d" % D, "scan", (("const D = 256", "const D = %d" % D),),
                ()) for D in (256, 2048)]
    # Matrix-state recurrences at H = 16, K = V = 128, the sizes
    # flash-linear-attention is measured at (bench/gpu/linear_attention.py),
    # in f32 and with --tf32.
    heads = (("const H = 4, K = 64, V = 64", "const H = 16, K = 128, V = 128"),)
    for model in ("gla_core", "retnet_core", "deltanet_core"):
        builds += [(model, model, heads, ()),
                   (model + "_tf32", model, heads, ("--tf32",))]
    # Attention with H = 16: bf16 at D = 64 and 128, f16 and f32 at D = 64
    # (bench/gpu/attention.py), and bf16 at D = 96 and 256 for its checks
    # (the tensor-core form's other shapes: Q in shared memory, 2 warps a
    # block, 3 blocks a step; 16 rows a warp, 2 blocks a step in 64 KiB of
    # dynamic shared memory).
    for dtype, D in (("bf16", 64), ("bf16", 128), ("f16", 64), ("f32", 64),
                     ("bf16", 96), ("bf16", 256)):
        builds.append(("attention_%s_d%d" % (dtype, D), "attention",
                       (("const H = 4, D = 64", "const H = 16, D = %d" % D),
                        ("f32[", dtype + "[")), ()))
    for name, model, edits, flags in builds:
        if not build(name, model, edits, flags):
            return 1

    names = sorted(f[:-4] for f in os.listdir(args.examples)
                   if f.endswith(".seq"))
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    shapes = [tuple(int(v) for v in s.split("x"))
              for s in args.shapes.split(",")]
    cases, failed = [], []
    for name in names:
        src = os.path.join(args.examples, name + ".seq")
        lib = os.path.join(out, "lib", "lib%s.so" % name)
        if run([args.seqc, src, "--target=cuda", "--gpu-arch=" + args.gpu_arch,
                "-o", lib]) != 0:
            failed.append(name)
            continue
        header = os.path.join(out, "lib", "%s.h" % name)
        with open(header) as f:
            has_step = "_forward_step(" in f.read()
        os.remove(header)
        ref = harness.load_ref(name)
        for B, T in shapes:
            case = "%s_B%d_T%d" % (name, B, T)
            d = os.path.join(out, case)
            os.makedirs(d)
            harness.write_safetensors(os.path.join(d, "weights.safetensors"),
                                      harness.make_weights(ref.PARAMS))
            flags = ["--weights=" + os.path.join(d, "weights.safetensors")]
            inputs = {}
            for iname, arr in harness.make_inputs(ref, B, T, 0).items():
                path = os.path.join(d, "in_%s.npy" % iname)
                np.save(path, arr)
                flags += ["--input", "%s=%s" % (iname, path)]
                inputs[iname] = "in_%s.npy" % iname
            if run([args.seqc, "run", src, "--interpret"] + flags +
                   ["--output=" + os.path.join(d, "expected.npy")]) != 0:
                failed.append(case)
                shutil.rmtree(d)
                continue
            cases.append({"case": case, "model": name,
                          "lib": "../lib/lib%s.so" % name,
                          "weights": "weights.safetensors", "inputs": inputs,
                          "expected": "expected.npy",
                          # The step entry over the same tokens, that many
                          # per call, must give the forward's outputs.
                          "chunks": [1, 7] if has_step else []})
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump({"gpu_arch": args.gpu_arch, "cases": cases}, f, indent=1)
    size = sum(os.path.getsize(os.path.join(r, f))
               for r, _, fs in os.walk(out) for f in fs)
    print("bundle: %d cases in %s (%.1f MiB)%s" % (
        len(cases), out, size / 2**20,
        "; not built: " + ", ".join(failed) if failed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
