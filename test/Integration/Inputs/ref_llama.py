"""NumPy reference for examples/llama.seq: two Llama blocks.

RMSNorm, rotary embeddings (rotate-half form, base 10000), grouped-query
attention (kv head h // G serves query head h, as repeat_interleave does),
causal softmax attention and a SwiGLU MLP, from the LLaMA paper.
"""
import numpy as np

D, H, KV, Dh, F, L = 64, 4, 2, 16, 128, 2

PARAMS = [("norm", (D,), ("norm",))]
for i in range(L):
    p = "blocks.%d." % i
    PARAMS += [
        (p + "attn_norm", (D,), ("norm",)),
        (p + "mlp_norm", (D,), ("norm",)),
        (p + "attn.wq", (D, H * Dh), ("linear",)),
        (p + "attn.wk", (D, KV * Dh), ("linear",)),
        (p + "attn.wv", (D, KV * Dh), ("linear",)),
        (p + "attn.wo", (H * Dh, D), ("linear",)),
        (p + "mlp.w_gate", (D, F), ("linear",)),
        (p + "mlp.w_up", (D, F), ("linear",)),
        (p + "mlp.w_down", (F, D), ("linear",)),
    ]


def rms_norm(x, w, eps=1e-5):
    return x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + eps) * w


def rope(x):
    """x: [B, n, T, Dh]; position t rotates pair (x[i], x[i + Dh/2])."""
    T = x.shape[2]
    theta = 10000.0 ** (-2.0 * np.arange(Dh // 2) / Dh)
    ang = np.arange(T)[:, None] * theta[None, :]
    c, s = np.cos(ang), np.sin(ang)
    x1, x2 = x[..., : Dh // 2], x[..., Dh // 2:]
    return np.concatenate([x1 * c - x2 * s, x1 * s + x2 * c], axis=-1)


def attention(w, p, x):
    Bn, T, _ = x.shape
    q = (x @ w[p + "wq"]).reshape(Bn, T, H, Dh).transpose(0, 2, 1, 3)
    k = (x @ w[p + "wk"]).reshape(Bn, T, KV, Dh).transpose(0, 2, 1, 3)
    v = (x @ w[p + "wv"]).reshape(Bn, T, KV, Dh).transpose(0, 2, 1, 3)
    q, k = rope(q), rope(k)
    k = np.repeat(k, H // KV, axis=1)
    v = np.repeat(v, H // KV, axis=1)
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(Dh)
    s = s + np.triu(np.full((T, T), -np.inf), k=1)
    s = s - s.max(axis=-1, keepdims=True)
    pr = np.exp(s)
    pr /= pr.sum(axis=-1, keepdims=True)
    o = pr @ v
    return o.transpose(0, 2, 1, 3).reshape(Bn, T, H * Dh) @ w[p + "wo"]


def mlp(w, p, x):
    a = x @ w[p + "w_gate"]
    return (a / (1 + np.exp(-a)) * (x @ w[p + "w_up"])) @ w[p + "w_down"]


def forward(w, x):
    for i in range(L):
        p = "blocks.%d." % i
        x = x + attention(w, p + "attn.", rms_norm(x, w[p + "attn_norm"]))
        x = x + mlp(w, p + "mlp.", rms_norm(x, w[p + "mlp_norm"]))
    return rms_norm(x, w["norm"])
