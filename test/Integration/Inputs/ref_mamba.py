"""NumPy reference for examples/mamba.seq: the Mamba selective SSM.

From Gu & Dao 2023 (Algorithm 2 and section 3.5): the selective scan is
evaluated in its unrolled (convolution-like) form
    y_t = sum_{s<=t} C_t . (exp(sum_{j=s+1..t} Δ_j A) * Δ_s B_s) u_s + D u_t
rather than as a recurrence.
"""
import numpy as np

D, Di, N, R, Kc, L = 64, 128, 16, 4, 4, 2


def mamba_params(p):
    return [
        (p + "in_proj", (D, 2 * Di), ("linear",)),
        (p + "conv_w", (Kc, Di), ("normal", 0.5)),
        (p + "conv_b", (Di,), ("normal", 0.1)),
        (p + "x_proj", (Di, R + 2 * N), ("linear",)),
        (p + "dt_proj", (R, Di), ("linear",)),
        (p + "dt_bias", (Di,), ("dt_bias", 1e-3, 1e-1)),
        (p + "A_log", (Di, N), ("log_uniform", 1.0, 16.0)),
        (p + "D_skip", (Di,), ("norm",)),
        (p + "out_proj", (Di, D), ("linear",)),
    ]


PARAMS = [("norm_f", (D,), ("norm",))]
for i in range(L):
    p = "layers.%d." % i
    PARAMS += [(p + "norm", (D,), ("norm",))] + mamba_params(p + "mixer.")


def rms_norm(x, w, eps=1e-5):
    return x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1 + np.exp(-x))


def causal_conv(x, w, b):
    """Depthwise conv1d with left zero padding; w: [Kc, C] (tap Kc-1 = now)."""
    T = x.shape[1]
    y = np.broadcast_to(b, x.shape).copy()
    for lag in range(Kc):          # tap Kc-1-lag multiplies x_{t-lag}
        y[:, lag:] += w[Kc - 1 - lag] * x[:, : T - lag]
    return y


def mamba(w, p, x):
    Bn, T, _ = x.shape
    xz = x @ w[p + "in_proj"]
    xi, z = xz[..., :Di], xz[..., Di:]
    u = silu(causal_conv(xi, w[p + "conv_w"], w[p + "conv_b"]))
    dbc = u @ w[p + "x_proj"]
    dt, Bs, Cs = dbc[..., :R], dbc[..., R:R + N], dbc[..., R + N:]
    delta = np.logaddexp(0.0, dt @ w[p + "dt_proj"] + w[p + "dt_bias"])
    A = -np.exp(w[p + "A_log"])                       # [Di, N]
    cum = np.cumsum(delta, axis=1)                    # [B, T, Di]
    y = np.zeros((Bn, T, Di))
    for t in range(T):
        # decay from s to t: exp((cum_t - cum_s) A), s = 0..t
        dec = np.exp((cum[:, t, None, :] - cum[:, : t + 1, :])[..., None] * A)
        contrib = dec * (delta[:, : t + 1, :, None] * Bs[:, : t + 1, None, :]
                         * u[:, : t + 1, :, None])    # [B, s, Di, N]
        y[:, t] = np.einsum("bsdn,bn->bd", contrib, Cs[:, t])
    y = y + u * w[p + "D_skip"]
    return (y * silu(z)) @ w[p + "out_proj"]


def forward(w, x):
    for i in range(L):
        p = "layers.%d." % i
        x = x + mamba(w, p + "mixer.", rms_norm(x, w[p + "norm"]))
    return rms_norm(x, w["norm_f"])
