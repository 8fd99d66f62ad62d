"""NumPy reference for examples/rwkv.seq: RWKV-4 time and channel mixing.

wkv is evaluated from its closed form (Peng et al. 2023, eq. 14) as explicit
sums over the past, in float64, with no running-max recurrence:
    wkv_t = (sum_{i<t} e^{-(t-1-i) w + k_i} v_i + e^{u + k_t} v_t)
          / (sum_{i<t} e^{-(t-1-i) w + k_i}     + e^{u + k_t})
"""
import numpy as np

D, F, L = 64, 128, 2


def ln_params(p):
    return [(p + "weight", (D,), ("norm",)), (p + "bias", (D,), ("normal", 0.1))]


PARAMS = []
for i in range(L):
    p = "blocks.%d." % i
    a, f = p + "att.", p + "ffn."
    PARAMS += ln_params(p + "ln1.") + [
        (a + "time_decay", (D,), ("normal", 0.5, -1.0)),
        (a + "time_first", (D,), ("normal", 0.5)),
        (a + "time_mix_k", (D,), ("uniform", 0.0, 1.0)),
        (a + "time_mix_v", (D,), ("uniform", 0.0, 1.0)),
        (a + "time_mix_r", (D,), ("uniform", 0.0, 1.0)),
        (a + "key", (D, D), ("linear",)),
        (a + "value", (D, D), ("linear",)),
        (a + "receptance", (D, D), ("linear",)),
        (a + "output", (D, D), ("linear",)),
    ] + ln_params(p + "ln2.") + [
        (f + "time_mix_k", (D,), ("uniform", 0.0, 1.0)),
        (f + "time_mix_r", (D,), ("uniform", 0.0, 1.0)),
        (f + "key", (D, F), ("linear",)),
        (f + "value", (F, D), ("linear",)),
        (f + "receptance", (D, D), ("linear",)),
    ]
PARAMS += ln_params("ln_out.")


def layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(x.var(-1, keepdims=True) + eps) * w + b


def shift(x):
    out = np.zeros_like(x)
    out[:, 1:] = x[:, :-1]
    return out


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def time_mix(w, p, x):
    T = x.shape[1]
    xx = shift(x)
    mix = lambda m: x * w[p + m] + xx * (1 - w[p + m])
    k = mix("time_mix_k") @ w[p + "key"]
    v = mix("time_mix_v") @ w[p + "value"]
    r = sigmoid(mix("time_mix_r") @ w[p + "receptance"])
    decay, u = np.exp(w[p + "time_decay"]), w[p + "time_first"]
    wkv = np.zeros_like(k)
    for t in range(T):
        i = np.arange(t)
        e = np.exp(-(t - 1 - i)[None, :, None] * decay + k[:, :t])     # [B, t, D]
        cur = np.exp(u + k[:, t])
        wkv[:, t] = ((e * v[:, :t]).sum(1) + cur * v[:, t]) / (e.sum(1) + cur)
    return (r * wkv) @ w[p + "output"]


def channel_mix(w, p, x):
    xx = shift(x)
    mix = lambda m: x * w[p + m] + xx * (1 - w[p + m])
    k = np.maximum(mix("time_mix_k") @ w[p + "key"], 0.0) ** 2
    r = sigmoid(mix("time_mix_r") @ w[p + "receptance"])
    return r * (k @ w[p + "value"])


def forward(w, x):
    for i in range(L):
        p = "blocks.%d." % i
        x = x + time_mix(w, p + "att.", layer_norm(x, w[p + "ln1.weight"], w[p + "ln1.bias"]))
        x = x + channel_mix(w, p + "ffn.", layer_norm(x, w[p + "ln2.weight"], w[p + "ln2.bias"]))
    return layer_norm(x, w["ln_out.weight"], w["ln_out.bias"])
