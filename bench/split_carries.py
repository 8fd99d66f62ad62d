#!/usr/bin/env python3
"""Scans with a running max on the CPU: the max split off as a parallel
max scan (seq-split-carries, seqc's default) against the scan as written
(--no-split-carries).

    /usr/bin/python3 bench/split_carries.py [--seqc build/bin/seqc]
        [--seqrt-run build/bin/seqrt-run] [--work build/bench-split-carries]
        [--out bench/results] [--threads N] [--runs 5] [--T 4096,16384]
        [--models mlstm_core,aaren_core] [--libs DIR] [--mcpu CPU]
        [--compile-only]

Models (bench/models/), f32, B = 1, random inputs:
- mlstm_core: mLSTM's stabilised matrix memory alone, H = 4 heads,
  K = V = 64, the stabiliser m_t = max(log f_t + m_{t-1}, i_t) (max-plus):
  split, C goes chunkwise and n is a diagonal scan; as written, the whole
  scan is sequential.
- aaren_core: Aaren's online softmax alone, H = 16 heads, V = 64: split, the
  sums are diagonal scans of their own; as written, sequential.
The projections around them are left out: they cost the same in both forms.

Each model is compiled twice, split and --no-split-carries, and both
libraries are timed in the same run at each T with `seqrt-run LIB --random
--bench=N` (median and min of N timed runs after one untimed run), the two
forms alternating so that load from other processes hits both alike. The
table shows the ratio first (as written / split; above 1 the split is
faster), then both medians. Writes OUT/split-carries-HOST-MODELS-DATE.json
(bench/forms.py runs it, as it does bench/chunkwise.py).
With --libs DIR the libraries are taken from DIR (compiled elsewhere, by
--compile-only) instead of compiled here.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forms import compare_forms  # noqa: E402

if __name__ == "__main__":
    sys.exit(compare_forms(__doc__, "split-carries",
                           {"split": [], "written": ["--no-split-carries"]},
                           "mlstm_core,aaren_core", "running max split off vs scan as written"))
