"""NumPy reference for examples/aaren.seq: Aaren, attention as an RNN.

Written from the definition the RNN computes (Feng et al. 2024, eq. 1):
for every prefix, o_t = softmax_{i<=t}(q . k_i / sqrt(K)) v_i, i.e. causal
softmax attention with one learned query per head.
"""
import math

import numpy as np

D, H, K, V, F, L = 64, 4, 16, 16, 128, 2


def ln_params(p):
    return [(p + "weight", (D,), ("norm",)), (p + "bias", (D,), ("normal", 0.1))]


PARAMS = []
for i in range(L):
    p = "blocks.%d." % i
    PARAMS += ln_params(p + "ln1.") + [
        (p + "attn.query", (H, K), ("normal", 1.0)),
        (p + "attn.wk", (D, H * K), ("linear",)),
        (p + "attn.wv", (D, H * V), ("linear",)),
        (p + "attn.wo", (H * V, D), ("linear",)),
    ] + ln_params(p + "ln2.") + [
        (p + "mlp.w1", (D, F), ("linear",)),
        (p + "mlp.w2", (F, D), ("linear",)),
    ]


def layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(x.var(-1, keepdims=True) + eps) * w + b


def aaren(w, p, x):
    Bn, T, _ = x.shape
    k = (x @ w[p + "wk"]).reshape(Bn, T, H, K)
    v = (x @ w[p + "wv"]).reshape(Bn, T, H, V)
    s = np.einsum("bthk,hk->bht", k, w[p + "query"]) / math.sqrt(K)   # [B, H, T]
    # scores[b, h, t, i] = s_i for i <= t, -inf after t
    scores = np.where(np.tril(np.ones((T, T), dtype=bool)), s[:, :, None, :], -np.inf)
    scores = scores - scores.max(-1, keepdims=True)
    pr = np.exp(scores)
    pr /= pr.sum(-1, keepdims=True)
    o = pr @ v.transpose(0, 2, 1, 3)                                 # [B, H, T, V]
    return o.transpose(0, 2, 1, 3).reshape(Bn, T, H * V) @ w[p + "wo"]


def forward(w, x):
    for i in range(L):
        p = "blocks.%d." % i
        y = x + aaren(w, p + "attn.", layer_norm(x, w[p + "ln1.weight"], w[p + "ln1.bias"]))
        h = layer_norm(y, w[p + "ln2.weight"], w[p + "ln2.bias"]) @ w[p + "mlp.w1"]
        x = y + np.maximum(h, 0.0) @ w[p + "mlp.w2"]
    return x
