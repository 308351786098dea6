#!/usr/bin/env python3
"""Why one float32 run underestimates torch's float32 error on some corpus models.

  /usr/bin/python3 scripts/float32-kinks.py MODEL FORM    # e.g. regnet_x_400mf fresh (scripts/torch_zoo.py)

Runs the corpus case's train-mode forward in float64 and in float32 three ways (default kernels,
channels-last, oneDNN off) and prints
  - per ReLU/ReLU6/Hardswish/Hardsigmoid call that has any: the float32 forward error at its input
    (largest over the three ways) and how many float64 inputs lie within 3x that error of a kink;
  - per max-pool call where any way differs: how many window maxima each float32 way takes from
    another position than float64 does (near-ties decided by rounding).
Which side of a kink an input falls on, or which of two near-equal values a window takes, is
decided by rounding, so the gradient of everything behind it differs between any two float32
implementations by far more than one run's error shows (the corpus's float32 error is therefore
the spread over torch_zoo.float32_ways).
"""
import copy
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_zoo as tz  # noqa: E402

KINKS = {
    'relu': lambda a, k: [0.0],
    'hardtanh': lambda a, k: [k.get('min_val', a[0] if len(a) > 0 else -1.0), k.get('max_val', a[1] if len(a) > 1 else 1.0)],
    'hardswish': lambda a, k: [-3.0, 3.0],
    'hardsigmoid': lambda a, k: [-3.0, 3.0],
}


def main(name, form):
    torch.manual_seed(0)
    model = tz.deterministic(tz.FULL[name]())
    if form == 'trained':
        tz.perturb(model, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(1)
    x = torch.rand(tz.BATCH, *tz.SHAPE, generator=g)
    record, pools = [], []
    original = {k: getattr(F, k) for k in KINKS}
    original_pool = F.max_pool2d

    def pool(inp, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
        out, idx = torch._C._nn.max_pool2d_with_indices(inp, kernel_size, stride or kernel_size, padding, dilation, ceil_mode)
        pools.append(idx.contiguous())
        return (out, idx) if return_indices else out

    def wrap(fn):
        def call(inp, *a, **k):
            record.append((fn, inp.detach().double().clone().contiguous(), KINKS[fn](a, k)))
            return original[fn](inp, *a, **k)
        return call

    def run(dtype, channels_last=False, mkldnn=True):
        record.clear()
        pools.clear()
        m, xx = tz.prepare(model, x, dtype, channels_last=channels_last)
        with torch.no_grad(), torch.backends.mkldnn.flags(enabled=mkldnn):
            m.train()(xx)
        return list(record), list(pools)

    for k in KINKS:
        setattr(F, k, wrap(k))
    F.max_pool2d = pool
    try:
        r64, p64 = run(torch.float64)
        runs = [run(torch.float32), run(torch.float32, channels_last=True), run(torch.float32, mkldnn=False)]
    finally:
        for k, f in original.items():
            setattr(F, k, f)
        F.max_pool2d = original_pool
    ways = [r for r, _ in runs]
    total = 0
    for i, (fn, z, kinks) in enumerate(r64):
        err = max(float((w[i][1] - z).abs().max()) for w in ways)
        near = sum(int(((z - kk).abs() < 3 * err).sum()) for kk in kinks)
        total += near
        if near:
            print('call %3d %-11s %-18s float32 forward error %.1e  inputs within 3x of a kink: %d' % (i, fn, tuple(z.shape), err, near))
    moved = 0
    for i, idx in enumerate(p64):
        diff = [int((p[i] != idx).sum()) for _, p in runs]
        moved += max(diff)
        if any(diff):
            print('max-pool %2d %-18s window maxima taken elsewhere (default, channels-last, oneDNN off): %s' % (i, tuple(idx.shape), diff))
    print('%s %s: %d activation calls, %d inputs within 3x float32 forward error of a kink; %d max-pools, %d maxima moved' % (name, form, len(r64), total, len(p64), moved))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
