"""Benchmark section ``torch_models``: fastopt.torch vs torch.optim on model-shaped param lists.

One thread (torch.set_num_threads(1)). For each algorithm of ALGORITHMS that fastopt.torch
has, and each workload of WORKLOADS, the time of one ``opt.step()`` (grads already in place)
under torch.optim's three implementations (for-loop ``foreach=False``, ``foreach=True``,
``fused=True``) and under fastopt.torch; the ratios are torch's time over fastopt's.

Workloads: one big tensor (2^24 elements), ResNet-50's 161 parameter tensors (25.6M
elements; shapes from the architecture below, no torchvision needed) and a small MLP
(6 tensors, about 10k elements), all float32.
"""
from fastopt.bench._timing import fmt_time, seconds_per_call, try_torch

#: Algorithms, with the kwargs both sides get; an algorithm is measured once fastopt.torch
#: has a class of that name.
ALGORITHMS = {
    "Adagrad": dict(lr=1e-2),
    "SGD": dict(lr=1e-2, momentum=0.9),
    "RMSprop": dict(lr=1e-2),
    "Adadelta": dict(lr=1.0),
    "Adam": dict(lr=1e-3),
    "AdamW": dict(lr=1e-3),
}

VARIANTS = ("torch for-loop", "torch foreach", "torch fused", "fastopt")


def resnet50_shapes():
    """The shapes of ResNet-50's 161 parameter tensors (25,557,032 elements), in model order:
    the stem conv and its batch norm, 16 bottleneck blocks (1x1, 3x3, 1x1 convs, each with a
    batch norm's weight and bias; the first block of each stage also has a 1x1 downsample
    conv and batch norm), then the 1000-way classifier."""
    shapes = [(64, 3, 7, 7), (64,), (64,)]
    inplanes = 64
    for planes, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for b in range(blocks):
            width, out = planes, planes * 4
            shapes += [(width, inplanes, 1, 1), (width,), (width,),
                       (width, width, 3, 3), (width,), (width,),
                       (out, width, 1, 1), (out,), (out,)]
            if b == 0:
                shapes += [(out, inplanes, 1, 1), (out,), (out,)]
            inplanes = out
    shapes += [(1000, 2048), (1000,)]
    return shapes


def mlp_shapes():
    """A small MLP 32 -> 64 -> 64 -> 32: 6 tensors, 8,352 elements."""
    return [(64, 32), (64,), (64, 64), (64,), (32, 64), (32,)]


WORKLOADS = {
    "big tensor (2^24)": lambda: [(2 ** 24,)],
    "ResNet-50 shapes (161 tensors)": resnet50_shapes,
    "small MLP (6 tensors)": mlp_shapes,
}


def _numel(shapes):
    n = 0
    for s in shapes:
        k = 1
        for d in s:
            k *= d
        n += k
    return n


def _make(torch, name, variant, params, kwargs):
    if variant == "fastopt":
        import fastopt.torch
        return getattr(fastopt.torch, name)(params, **kwargs)
    flags = {"torch for-loop": dict(foreach=False), "torch foreach": dict(foreach=True),
             "torch fused": dict(fused=True)}[variant]
    return getattr(torch.optim, name)(params, **kwargs, **flags)


def run(args):
    """Print the tables; return {algorithm: {workload: {variant: seconds per step}}}."""
    print("== torch_models: fastopt.torch vs torch.optim, one step of a whole model "
          "(1 thread, float32) ==")
    torch = try_torch()
    if torch is None:
        print("skipped: torch is not installed (pip install torch==2.13.0)")
        return {}
    import fastopt.torch
    budget = 0.1 if args.quick else 0.6
    repeat = 3 if args.quick else 5
    assert len(resnet50_shapes()) == 161 and _numel(resnet50_shapes()) == 25_557_032
    results = {}
    for name, kwargs in ALGORITHMS.items():
        if not hasattr(fastopt.torch, name):
            continue
        results[name] = {}
        print(f"\n{name} {kwargs}  (speed-up = torch time / fastopt time)")
        print(f"  {'workload':32s} {'elements':>11s}  " +
              "  ".join(f"{v:>14s}" for v in VARIANTS) + "   fastopt vs: loop  foreach  fused")
        for wname, shapes_fn in WORKLOADS.items():
            shapes = shapes_fn()
            gen = torch.Generator().manual_seed(0)
            params = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]
            for p in params:
                p.grad = torch.randn(p.shape, generator=gen) * 1e-2
            times = {}
            for variant in VARIANTS:
                try:
                    opt = _make(torch, name, variant, params, kwargs)
                except (RuntimeError, ValueError, TypeError) as e:  # no fused kernel or flag
                    print(f"  ({variant}: not available: {e})")
                    continue
                times[variant] = seconds_per_call(opt.step, budget=budget, repeat=repeat)
                del opt
            results[name][wname] = times
            fo = times.get("fastopt")
            ratios = [f"{times[v] / fo:5.2f}x" if v in times and fo else "    -"
                      for v in VARIANTS[:3]]
            print(f"  {wname:32s} {_numel(shapes):11,d}  " +
                  "  ".join(fmt_time(times[v]).rjust(14) if v in times else " " * 14
                            for v in VARIANTS) + "   " + "  ".join(ratios))
            del params
    return results
