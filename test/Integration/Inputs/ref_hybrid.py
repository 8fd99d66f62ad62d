"""NumPy reference for examples/hybrid.seq: a Jamba-style stack.

Mamba layers (the selective SSM of ref_mamba.py) and one causal GQA
attention layer without positional encoding, each followed by a SwiGLU MLP.
"""
import numpy as np

import ref_mamba

D, H, KV, Dh, F = 64, 4, 2, 16, 128


def layer_params(p):
    return [
        (p + "norm", (D,), ("norm",)),
        (p + "mlp_norm", (D,), ("norm",)),
        (p + "mlp.w_gate", (D, F), ("linear",)),
        (p + "mlp.w_up", (D, F), ("linear",)),
        (p + "mlp.w_down", (F, D), ("linear",)),
    ]


PARAMS = [("norm_f", (D,), ("norm",))]
for i in range(2):
    p = "mamba.%d." % i
    PARAMS += layer_params(p) + ref_mamba.mamba_params(p + "mixer.")
PARAMS += layer_params("attn.") + [
    ("attn.mixer.wq", (D, H * Dh), ("linear",)),
    ("attn.mixer.wk", (D, KV * Dh), ("linear",)),
    ("attn.mixer.wv", (D, KV * Dh), ("linear",)),
    ("attn.mixer.wo", (H * Dh, D), ("linear",)),
]

rms_norm = ref_mamba.rms_norm


def attention(w, p, x):
    Bn, T, _ = x.shape
    q = (x @ w[p + "wq"]).reshape(Bn, T, H, Dh).transpose(0, 2, 1, 3)
    k = (x @ w[p + "wk"]).reshape(Bn, T, KV, Dh).transpose(0, 2, 1, 3)
    v = (x @ w[p + "wv"]).reshape(Bn, T, KV, Dh).transpose(0, 2, 1, 3)
    k, v = np.repeat(k, H // KV, axis=1), np.repeat(v, H // KV, axis=1)
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(Dh)
    s = s + np.triu(np.full((T, T), -np.inf), k=1)
    pr = np.exp(s - s.max(-1, keepdims=True))
    pr /= pr.sum(-1, keepdims=True)
    return (pr @ v).transpose(0, 2, 1, 3).reshape(Bn, T, H * Dh) @ w[p + "wo"]


def mlp(w, p, x):
    a = x @ w[p + "w_gate"]
    return (a / (1 + np.exp(-a)) * (x @ w[p + "w_up"])) @ w[p + "w_down"]


def layer(w, p, x, mixer):
    x = x + mixer(w, p + "mixer.", rms_norm(x, w[p + "norm"]))
    return x + mlp(w, p + "mlp.", rms_norm(x, w[p + "mlp_norm"]))


def forward(w, x):
    x = layer(w, "mamba.0.", x, ref_mamba.mamba)
    x = layer(w, "attn.", x, attention)
    x = layer(w, "mamba.1.", x, ref_mamba.mamba)
    return rms_norm(x, w["norm_f"])
