"""What the GPU benchmark scripts share (copied into the bundle beside
them): timing on the GPU with CUDA events, and the result file."""

import json
import os

import numpy as np


def cuda_time(fn, reps, warmup=3):
    """The median time of `fn` in seconds, between CUDA events on the
    current stream, after `warmup` untimed calls."""
    import torch
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(True), torch.cuda.Event(True)
    times = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) * 1e-3)
    return float(np.median(times))


def save(out, name, results, **extra):
    """Writes OUT/NAME: the device, `extra` and the results; prints the
    device."""
    import torch
    dev = torch.cuda.get_device_name(0)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, name), "w") as f:
        json.dump(dict(device=dev, **extra, results=results), f, indent=1)
    print("device:", dev)
