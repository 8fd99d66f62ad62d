"""NumPy reference for examples/retnet.seq: RetNet multi-scale retention.

Written from the parallel form of retention (Sun et al. 2023, eq. 5):
    Retention(X) = (Q K^T * D) V,   D_nm = γ^(n-m) if n >= m else 0
with γ_h = 1 - 2^(-5-h), then a per-head GroupNorm and the swish gate.
"""
import math

import numpy as np

D, H, K, V, F, L = 64, 4, 16, 32, 128, 2


def ln_params(p):
    return [(p + "weight", (D,), ("norm",)), (p + "bias", (D,), ("normal", 0.1))]


PARAMS = []
for i in range(L):
    p = "layers.%d." % i
    PARAMS += ln_params(p + "ln1.") + [
        (p + "retention.wq", (D, H * K), ("linear",)),
        (p + "retention.wk", (D, H * K), ("linear",)),
        (p + "retention.wv", (D, H * V), ("linear",)),
        (p + "retention.wg", (D, H * V), ("linear",)),
        (p + "retention.wo", (H * V, D), ("linear",)),
    ] + ln_params(p + "ln2.") + [
        (p + "ffn.w1", (D, F), ("linear",)),
        (p + "ffn.w2", (F, D), ("linear",)),
    ]
PARAMS += ln_params("ln_f.")


def layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def retention(w, p, x):
    Bn, T, _ = x.shape
    q = (x @ w[p + "wq"]).reshape(Bn, T, H, K).transpose(0, 2, 1, 3)
    k = (x @ w[p + "wk"]).reshape(Bn, T, H, K).transpose(0, 2, 1, 3) / math.sqrt(K)
    v = (x @ w[p + "wv"]).reshape(Bn, T, H, V).transpose(0, 2, 1, 3)
    gamma = 1.0 - 2.0 ** (-5.0 - np.arange(H))
    n = np.arange(T)
    expo = (n[:, None] - n[None, :]).astype(np.float64)
    Dm = np.where(expo >= 0, gamma[:, None, None] ** np.maximum(expo, 0), 0.0)
    o = ((q @ k.transpose(0, 1, 3, 2)) * Dm[None]) @ v        # [B, H, T, V]
    o = (o - o.mean(-1, keepdims=True)) / np.sqrt(o.var(-1, keepdims=True) + 1e-5)
    y = o.transpose(0, 2, 1, 3).reshape(Bn, T, H * V)
    g = x @ w[p + "wg"]
    return (g / (1 + np.exp(-g)) * y) @ w[p + "wo"]


def forward(w, x):
    for i in range(L):
        p = "layers.%d." % i
        y = x + retention(w, p + "retention.",
                          layer_norm(x, w[p + "ln1.weight"], w[p + "ln1.bias"]))
        x = y + gelu(layer_norm(y, w[p + "ln2.weight"], w[p + "ln2.bias"])
                     @ w[p + "ffn.w1"]) @ w[p + "ffn.w2"]
    return layer_norm(x, w["ln_f.weight"], w["ln_f.bias"])
