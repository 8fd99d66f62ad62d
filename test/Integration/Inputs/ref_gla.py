"""NumPy reference for examples/gla.seq: Gated Linear Attention.

Written from the parallel form of GLA (Yang et al. 2024, eq. 4): with
b_t = prod_{j<=t} g_j (per key channel),
    o_t = sum_{s<=t} (q_t * b_t / b_s) . k_s  v_s
which equals the recurrence S_t = diag(g_t) S_{t-1} + k_t^T v_t, o_t = q_t S_t.
"""
import numpy as np

D, H, K, V, L = 64, 4, 16, 32, 2

PARAMS = [("norm_f", (D,), ("norm",))]
for i in range(L):
    p = "layers.%d." % i
    PARAMS += [
        (p + "norm", (D,), ("norm",)),
        (p + "attn.wq", (D, H * K), ("linear",)),
        (p + "attn.wk", (D, H * K), ("linear",)),
        (p + "attn.wv", (D, H * V), ("linear",)),
        (p + "attn.wg", (D, H * K), ("linear",)),
        (p + "attn.wo", (H * V, D), ("linear",)),
    ]


def rms_norm(x, w, eps=1e-6):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def heads(x, n, d):
    b, t, _ = x.shape
    return x.reshape(b, t, n, d).transpose(0, 2, 1, 3)  # [B, n, T, d]


def gla(w, p, x):
    Bn, T, _ = x.shape
    q = heads(x @ w[p + "wq"], H, K)
    k = heads(x @ w[p + "wk"], H, K)
    v = heads(x @ w[p + "wv"], H, V)
    log_g = -np.logaddexp(0.0, -heads(x @ w[p + "wg"], H, K))  # log sigmoid
    cum = np.cumsum(log_g, axis=2)                             # log b_t
    # decay[b,h,t,s,k] = b_t / b_s for s <= t
    decay = np.exp(cum[:, :, :, None, :] - cum[:, :, None, :, :])
    causal = np.tril(np.ones((T, T)))[None, None, :, :, None]
    scores = np.sum(q[:, :, :, None, :] * decay * causal * k[:, :, None, :, :],
                    axis=-1)                                   # [B, H, T, T]
    o = scores @ v                                             # [B, H, T, V]
    return o.transpose(0, 2, 1, 3).reshape(Bn, T, H * V) @ w[p + "wo"]


def forward(w, x):
    for i in range(L):
        p = "layers.%d." % i
        x = x + gla(w, p + "attn.", rms_norm(x, w[p + "norm"]))
    return rms_norm(x, w["norm_f"])
