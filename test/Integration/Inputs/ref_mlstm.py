"""NumPy reference for examples/mlstm.seq: the xLSTM mLSTM layer.

Written from the parallel form of the mLSTM (Beck et al. 2024, appendix,
eq. 73-80) without stabilisation (float64 has the range for these sizes):
    D_ts = exp(sum_{j=s+1..t} log f_j + ĩ_s)   for s <= t
    C̃_ts = (q_t . k_s) D_ts
    h̃_t = sum_s C̃_ts v_s / max(|sum_s C̃_ts|, 1)
The stabiliser m of the recurrent form cancels out of this ratio.
"""
import math

import numpy as np

D, H, K, V, L = 64, 4, 16, 16, 2

PARAMS = [("norm_f", (D,), ("norm",))]
for i in range(L):
    p = "blocks.%d." % i
    PARAMS += [
        (p + "norm", (D,), ("norm",)),
        (p + "mlstm.wq", (D, H * K), ("linear",)),
        (p + "mlstm.wk", (D, H * K), ("linear",)),
        (p + "mlstm.wv", (D, H * V), ("linear",)),
        (p + "mlstm.wi", (D, H), ("normal", 0.1)),
        (p + "mlstm.bi", (H,), ("normal", 0.5)),
        (p + "mlstm.wf", (D, H), ("normal", 0.1)),
        (p + "mlstm.bf", (H,), ("uniform", 1.0, 4.0)),
        (p + "mlstm.wo_gate", (D, H * V), ("linear",)),
        (p + "mlstm.wo", (H * V, D), ("linear",)),
    ]


def rms_norm(x, w, eps=1e-6):
    return x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + eps) * w


def mlstm(w, p, x):
    Bn, T, _ = x.shape
    q = (x @ w[p + "wq"]).reshape(Bn, T, H, K).transpose(0, 2, 1, 3)
    k = (x @ w[p + "wk"]).reshape(Bn, T, H, K).transpose(0, 2, 1, 3) / math.sqrt(K)
    v = (x @ w[p + "wv"]).reshape(Bn, T, H, V).transpose(0, 2, 1, 3)
    i_pre = (x @ w[p + "wi"] + w[p + "bi"]).transpose(0, 2, 1)      # [B, H, T]
    f_pre = (x @ w[p + "wf"] + w[p + "bf"]).transpose(0, 2, 1)
    log_f = -np.logaddexp(0.0, -f_pre)
    F = np.cumsum(log_f, axis=-1)                                   # [B, H, T]
    causal = np.tril(np.ones((T, T), dtype=bool))
    logD = F[..., :, None] - F[..., None, :] + i_pre[..., None, :]  # [B, H, t, s]
    Dmat = np.where(causal, np.exp(np.where(causal, logD, 0.0)), 0.0)
    Ct = (q @ k.transpose(0, 1, 3, 2)) * Dmat
    norm = np.maximum(np.abs(Ct.sum(-1)), 1.0)
    h = (Ct @ v) / norm[..., None]                                  # [B, H, T, V]
    h = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-5)
    h = h.transpose(0, 2, 1, 3).reshape(Bn, T, H * V)
    o = 1.0 / (1.0 + np.exp(-(x @ w[p + "wo_gate"])))
    return (o * h) @ w[p + "wo"]


def forward(w, x):
    for i in range(L):
        p = "blocks.%d." % i
        x = x + mlstm(w, p + "mlstm.", rms_norm(x, w[p + "norm"]))
    return rms_norm(x, w["norm_f"])
