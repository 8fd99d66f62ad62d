"""Calls a generated library through python/seqc (ctypes, DLPack) with
NumPy arrays: outputs given and made, several outputs, in place, and the
errors the library reports. Used by Codegen/python.seq."""

import sys

import numpy as np

import seqc

lib = seqc.load(sys.argv[1])
print("model", lib.name, "device", lib.device, "dims", lib.dims,
      "entries", sorted(lib.entries))
model = lib.create(sys.argv[2])
x = np.arange(12, dtype=np.float32).reshape(3, 4)
y = np.ones((3, 4), np.float32)
out = np.full((3, 4), -1, np.float32)
r = model.forward(x, y, out=out)
print("given", r is out, out[1, 2])
made = model.forward(x, y)
print("made", made.shape, made.dtype, made[2, 3])
s, m = model.stats(x)
print("stats", s.tolist(), m.tolist())
model.forward(x, y, out=x)
print("in place", x[1, 2])
for what, args in [("rank", (np.zeros(4, np.float32), y)),
                   ("dtype", (np.zeros((3, 4)), y)),
                   ("strides", (np.zeros((4, 3), np.float32).T, y))]:
    try:
        model.forward(*args)
    except seqc.Error as e:
        print(what, "->", e)
try:
    model.forward(x)
except TypeError as e:
    print("arity ->", e)
# A CPU model has no stream to follow: the caller's stream is refused,
# none (back to its own) is fine.
print("set_stream", seqc.STATUS[lib.desc.set_stream(model._ptr, 1)],
      lib.desc.last_error().decode(), "/",
      seqc.STATUS[lib.desc.set_stream(model._ptr, None)])
try:
    lib.create("no/such.safetensors")
except seqc.Error as e:
    print("create ->", e)
model.close()
