"""Writes inputs for seqrt-run.test and checks what seqrt-run wrote.

The model (TestModel.c): forward(x: f32[B, T, 4]) -> y = x * w + b, and
stats(x) -> (sum over the last axis, max over the last axis).

  test_model.py gen DIR          weights and inputs under DIR
  test_model.py forward DIR X Y  checks Y == X * w + b
  test_model.py stats DIR X S    checks S.0.npy (sum) and S.1.npy (max)
"""
import json
import struct
import sys

import numpy as np

W = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
B = np.array([0.5, -1.0, 0.0, 2.0], dtype=np.float32)


def write_safetensors(path, tensors):
    header, data = {}, b""
    for name, array in tensors.items():
        dtype = {np.float32: "F32", np.float16: "F16"}[array.dtype.type]
        raw = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def gen(d):
    write_safetensors(f"{d}/w.safetensors", {"w": W, "b": B})
    write_safetensors(f"{d}/w_bad.safetensors", {"w": np.ones(5, np.float32),
                                                  "b": B})
    write_safetensors(f"{d}/w_f16.safetensors", {"w": W.astype(np.float16),
                                                  "b": B})
    x = (np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 10) / 4
    np.save(f"{d}/x.npy", x)
    np.save(f"{d}/x64.npy", x.astype(np.float64))
    np.save(f"{d}/x_bad.npy", np.zeros((2, 3, 5), np.float32))
    np.save(f"{d}/x_rank2.npy", np.zeros((6, 4), np.float32))
    np.save(f"{d}/x_i32.npy", np.zeros((2, 3, 4), np.int32))


def check(name, got, want):
    if got.dtype != want.dtype or got.shape != want.shape:
        sys.exit(f"{name}: got {got.dtype}{list(got.shape)}, "
                 f"want {want.dtype}{list(want.shape)}")
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    if err > 1e-6:
        sys.exit(f"{name}: max error {err}")
    print(f"{name}: {got.dtype}{list(got.shape)} ok")


def main():
    mode, d = sys.argv[1], sys.argv[2]
    if mode == "gen":
        gen(d)
    elif mode == "forward":
        x, y = np.load(sys.argv[3]), np.load(sys.argv[4])
        check("y", y, (x.astype(np.float32) * W + B).astype(np.float32))
    elif mode == "stats":
        x, base = np.load(sys.argv[3]), sys.argv[4]
        check("sum", np.load(f"{base}.0.npy"), x.sum(axis=-1))
        check("max", np.load(f"{base}.1.npy"), x.max(axis=-1))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
