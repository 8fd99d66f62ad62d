"""NumPy reference for examples/deltanet.seq: DeltaNet (the delta rule).

Written from the transition form of the delta rule (Yang et al. 2024,
eq. 2): with unit-norm keys,
    S_t = (I - β_t k_t k_t^T) S_{t-1} + β_t k_t v_t^T,   o_t = S_t^T q_t
using explicit K x K transition matrices.
"""
import numpy as np

D, H, K, V, L = 64, 4, 16, 16, 2

PARAMS = [("norm_f", (D,), ("norm",))]
for i in range(L):
    p = "layers.%d." % i
    PARAMS += [
        (p + "norm", (D,), ("norm",)),
        (p + "attn.wq", (D, H * K), ("linear",)),
        (p + "attn.wk", (D, H * K), ("linear",)),
        (p + "attn.wv", (D, H * V), ("linear",)),
        (p + "attn.wb", (D, H), ("linear",)),
        (p + "attn.wo", (H * V, D), ("linear",)),
    ]


def rms_norm(x, w, eps=1e-6):
    return x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + eps) * w


def unit(x, eps=1e-6):
    return x / np.sqrt(np.sum(x ** 2, axis=-1, keepdims=True) + eps)


def deltanet(w, p, x):
    Bn, T, _ = x.shape
    q = unit((x @ w[p + "wq"]).reshape(Bn, T, H, K))
    k = unit((x @ w[p + "wk"]).reshape(Bn, T, H, K))
    v = (x @ w[p + "wv"]).reshape(Bn, T, H, V)
    beta = 1.0 / (1.0 + np.exp(-(x @ w[p + "wb"])))        # [B, T, H]
    eye = np.eye(K)
    S = np.zeros((Bn, H, K, V))
    o = np.zeros((Bn, T, H, V))
    for t in range(T):
        kk = k[:, t]                                         # [B, H, K]
        b = beta[:, t][..., None, None]
        A = eye - b * kk[..., :, None] * kk[..., None, :]    # [B, H, K, K]
        S = A @ S + b * kk[..., :, None] * v[:, t][..., None, :]
        o[:, t] = np.einsum("bhkv,bhk->bhv", S, q[:, t])
    return o.reshape(Bn, T, H * V) @ w[p + "wo"]


def forward(w, x):
    for i in range(L):
        p = "layers.%d." % i
        x = x + deltanet(w, p + "attn.", rms_norm(x, w[p + "norm"]))
    return rms_norm(x, w["norm_f"])
