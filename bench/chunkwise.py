#!/usr/bin/env python3
"""Matrix-state recurrences on the CPU: the chunkwise form (seq-chunkwise,
seqc's default) against the sequential scan (--no-chunkwise).

    /usr/bin/python3 bench/chunkwise.py [--seqc build/bin/seqc]
        [--seqrt-run build/bin/seqrt-run] [--work build/bench-chunkwise]
        [--out bench/results] [--threads N] [--runs 5] [--T 4096,16384]
        [--models gla_core,mamba2_core,deltanet_core]

Models (bench/models/), f32, B = 1, random inputs:
- gla_core: the GLA recurrence alone, H = 4 heads, K = V = 64, per-key
  gates sigmoid(f): S_t = diag(g_t) S_{t-1} + k_t^T v_t, o_t = q_t S_t.
- mamba2_core: Mamba-2's SSD recurrence alone, H = 8 heads, P = N = 64, one
  decay exp(dt A_h) per head: h_t = a_t h_{t-1} + dt x_t B_t^T, y_t = h_t C_t.
- deltanet_core: DeltaNet's delta rule alone, H = 4 heads, K = V = 64,
  S_t = S_{t-1} + beta_t k_t (v_t - k_t^T S_{t-1})^T, o_t = q_t^T S_t
  (chunkwise in the WY form).
The projections around them are left out: they cost the same in both forms.

Each model is compiled twice, chunkwise and --no-chunkwise, and both
libraries are timed in the same run at each T with `seqrt-run LIB --random
--bench=N` (median and min of N timed runs after one untimed run), the two
forms alternating so that load from other processes hits both alike. The
table shows the ratio first (sequential / chunkwise; above 1 the chunkwise
form is faster), then both medians. Writes
OUT/chunkwise-cpu-HOST-MODELS-DATE.json (MODELS the model names joined by
'+'; -2, -3, ... for later runs the same day). bench/forms.py runs it, as
it does bench/split_carries.py (--libs DIR, --compile-only, --mcpu too).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forms import compare_forms  # noqa: E402

if __name__ == "__main__":
    sys.exit(compare_forms(__doc__, "chunkwise-cpu",
                           {"chunkwise": [], "sequential": ["--no-chunkwise"]},
                           "gla_core,mamba2_core,deltanet_core", "chunkwise vs sequential scan"))
