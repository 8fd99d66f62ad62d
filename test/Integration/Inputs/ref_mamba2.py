"""NumPy reference for examples/mamba2.seq: Mamba-2's SSD layer.

Written from the quadratic (attention-like) form of SSD (Dao & Gu 2024,
section 4, the "masked kernel" M = L o (C B^T)):
    y_t = sum_{s<=t} (C_t . B_s) exp(sum_{j=s+1..t} Δ_j A) Δ_s x_s + D x_t
per head, which equals the recurrence h_t = a_t h_{t-1} + Δ_t x_t B_t^T.
"""
import numpy as np

D, Di, H, P, N, Kc, L = 64, 128, 4, 32, 16, 4, 2


def mamba2_params(p):
    return [
        (p + "in_proj", (D, 2 * Di + 2 * N + H), ("linear",)),
        (p + "conv_w", (Kc, Di + 2 * N), ("normal", 0.5)),
        (p + "conv_b", (Di + 2 * N,), ("normal", 0.1)),
        (p + "dt_bias", (H,), ("dt_bias", 1e-3, 1e-1)),
        (p + "A_log", (H,), ("log_uniform", 1.0, 16.0)),
        (p + "D_skip", (H,), ("norm",)),
        (p + "norm", (Di,), ("norm",)),
        (p + "out_proj", (Di, D), ("linear",)),
    ]


PARAMS = [("norm_f", (D,), ("norm",))]
for i in range(L):
    p = "layers.%d." % i
    PARAMS += [(p + "norm", (D,), ("norm",))] + mamba2_params(p + "mixer.")


def rms_norm(x, w, eps=1e-5):
    return x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1 + np.exp(-x))


def causal_conv(x, w, b):
    T = x.shape[1]
    y = np.broadcast_to(b, x.shape).copy()
    for lag in range(Kc):
        y[:, lag:] += w[Kc - 1 - lag] * x[:, : T - lag]
    return y


def ssd(w, p, u):
    Bn, T, _ = u.shape
    proj = u @ w[p + "in_proj"]
    z, xbc, dt = proj[..., :Di], proj[..., Di:2 * Di + 2 * N], proj[..., 2 * Di + 2 * N:]
    xbc = silu(causal_conv(xbc, w[p + "conv_w"], w[p + "conv_b"]))
    x, Bs, Cs = xbc[..., :Di], xbc[..., Di:Di + N], xbc[..., Di + N:]
    x = x.reshape(Bn, T, H, P)
    delta = np.logaddexp(0.0, dt + w[p + "dt_bias"])          # [B, T, H]
    A = -np.exp(w[p + "A_log"])                                # [H]
    seg = np.cumsum(delta * A, axis=1)                         # [B, T, H]
    # Lmask[b, h, t, s] = exp(seg_t - seg_s) for s <= t, else 0
    diff = seg.transpose(0, 2, 1)[:, :, :, None] - seg.transpose(0, 2, 1)[:, :, None, :]
    causal = np.tril(np.ones((T, T), dtype=bool))
    Lmask = np.where(causal, np.exp(np.where(causal, diff, 0.0)), 0.0)
    CB = Cs @ Bs.transpose(0, 2, 1)                            # [B, T, S]
    M = Lmask * CB[:, None]                                    # [B, H, T, S]
    xs = (delta[..., None] * x).transpose(0, 2, 1, 3)          # [B, H, S, P]
    y = (M @ xs).transpose(0, 2, 1, 3)                         # [B, T, H, P]
    y = y + x * w[p + "D_skip"][:, None]
    y = y.reshape(Bn, T, Di)
    return rms_norm(y * silu(z), w[p + "norm"]) @ w[p + "out_proj"]


def forward(w, x):
    for i in range(L):
        p = "layers.%d." % i
        x = x + ssd(w, p + "mixer.", rms_norm(x, w[p + "norm"]))
    return rms_norm(x, w["norm_f"])
