"""NumPy reference for examples/lstm.seq: a two-layer LSTM.

The cell equations of Gers et al. 2000 (PyTorch's nn.LSTM, gate order
i, f, g, o), stepped in time, then a linear read-out.
"""
import numpy as np

D, Hd, L = 64, 64, 2

PARAMS = [("w_out", (Hd, D), ("linear",)), ("b_out", (D,), ("normal", 0.1))]
for i in range(L):
    p = "layers.%d." % i
    PARAMS += [
        (p + "w_ih", (D, 4 * Hd), ("linear",)),
        (p + "w_hh", (Hd, 4 * Hd), ("linear",)),
        (p + "bias", (4 * Hd,), ("normal", 0.1)),
    ]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm(w_ih, w_hh, bias, x):
    Bn, T, _ = x.shape
    h = np.zeros((Bn, Hd))
    c = np.zeros((Bn, Hd))
    ys = []
    for t in range(T):
        z = x[:, t] @ w_ih + h @ w_hh + bias
        i, f, g, o = (z[:, j * Hd:(j + 1) * Hd] for j in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        ys.append(h)
    return np.stack(ys, axis=1)


def forward(w, x):
    for i in range(L):
        p = "layers.%d." % i
        x = lstm(w[p + "w_ih"], w[p + "w_hh"], w[p + "bias"], x)
    return x @ w["w_out"] + w["b_out"]
