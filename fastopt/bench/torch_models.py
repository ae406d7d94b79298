"""Benchmark section ``torch_models``: fastopt.torch vs torch.optim on model-shaped param lists.

For each algorithm of ALGORITHMS that fastopt.torch has (the default report: Adagrad, SGD
and Adam, the ones with targets; ``--full``: all), and each workload of WORKLOADS, the time
of one ``opt.step()`` (grads already in place) at 1 thread under torch.optim's three
implementations (for-loop ``foreach=False``, ``foreach=True``, ``fused=True``) and under
fastopt.torch, and torch fused and fastopt.torch again at N threads (the report's largest
thread count: torch.set_num_threads(N), which fastopt.torch follows, as torch's fused kernels
do). The for-loop and foreach steps are timed on their own; torch fused and fastopt.torch
take turns call by call (``_timing.seconds_per_call_alternating``: the best of 7 samples each,
``--full``: 15), at 1 thread and then at N. The ratios are torch's time over fastopt's at the
same thread count.

Then a training loop (``--quick``: skipped): a torch MLP's forward, backward and
``opt.step()`` with torch fused Adam and with fastopt.torch's, interleaved, at N threads; the
forward and backward are timed on their own, so fastopt's idle threads, if they kept spinning
on the cores torch's threads need, would show there.

Workloads: one big tensor (2^24 elements), ResNet-50's 161 parameter tensors (25.6M
elements; shapes from the architecture below, no torchvision needed), 96 tensors of 512 x 512
(a transformer's weight matrices) and a small MLP (6 tensors, about 10k elements), all
float32.
"""
import time

import numpy as np

from fastopt.bench._timing import (fmt_time, seconds_per_call, seconds_per_call_alternating,
                                    target, thread_counts, threads, try_torch)

#: Algorithms, with the kwargs both sides get; an algorithm is measured once fastopt.torch
#: has a class of that name (the default report measures DEFAULT_ALGORITHMS).
ALGORITHMS = {
    "Adagrad": dict(lr=1e-2),
    "SGD": dict(lr=1e-2, momentum=0.9),
    "RMSprop": dict(lr=1e-2),
    "Adadelta": dict(lr=1.0),
    "Adam": dict(lr=1e-3),
    "AdamW": dict(lr=1e-3),
    "Adamax": dict(lr=2e-3),
    "RAdam": dict(lr=1e-3),
    "NAdam": dict(lr=2e-3),
    "ASGD": dict(lr=1e-2),
    "Rprop": dict(lr=1e-2),
    "Adafactor": dict(lr=1e-2),
}

DEFAULT_ALGORITHMS = ("Adagrad", "SGD", "Adam")
VARIANTS = ("torch for-loop", "torch foreach", "torch fused", "fastopt")
AT_N = ("torch fused", "fastopt")   # measured again at N threads
#: Workloads whose N-thread speed-up over torch fused has a target (>= 1.1x), and the one
#: that must not get slower with threads (within 5% of 1 thread)
TARGET_WORKLOADS = ("big tensor (2^24)", "ResNet-50 shapes (161 tensors)",
                    "96 tensors of 512x512")
SMALL_WORKLOAD = "small MLP (6 tensors)"


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
    "96 tensors of 512x512": lambda: [(512, 512)] * 96,
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
    """Print the tables; return {algorithm: {workload: {variant: seconds per step}}}, the
    N-thread variants keyed "<variant> N"."""
    n_top = thread_counts(args)[-1]
    print(f"== torch_models: fastopt.torch vs torch.optim, one step of a whole model "
          f"(float32; 1 thread, then torch fused and fastopt.torch at N = {n_top}) ==")
    torch = try_torch()
    if torch is None:
        print("skipped: torch is not installed (pip install torch==2.13.0)")
        return {}
    import fastopt.torch
    budget = 0.1 if args.quick else 0.6 if args.full else 0.15
    repeat = 5 if args.full else 3
    samples = 3 if args.quick else 15 if args.full else 7
    names = ALGORITHMS if args.full else DEFAULT_ALGORITHMS
    assert len(resnet50_shapes()) == 161 and _numel(resnet50_shapes()) == 25_557_032
    at_n = n_top > 1
    results = {}
    for name in names:
        kwargs = ALGORITHMS[name]
        if not hasattr(fastopt.torch, name):
            continue
        results[name] = {}
        missing = {}
        print(f"\n{name} {kwargs}  (speed-up = torch time / fastopt time)")
        print(f"  {'workload':30s} {'elements':>10s} " +
              " ".join(f"{v:>14s}" for v in VARIANTS) + "  vs: loop foreach  fused" +
              (f" | {'fused N':>10s} {'fastopt N':>10s} vs fused" if at_n else ""),
              flush=True)
        for wname, shapes_fn in WORKLOADS.items():
            shapes = shapes_fn()
            gen = torch.Generator().manual_seed(0)
            params = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]
            for p in params:
                p.grad = torch.randn(p.shape, generator=gen) * 1e-2
            times, opts = {}, {}
            for variant in VARIANTS:
                try:
                    opts[variant] = _make(torch, name, variant, params, kwargs)
                except (RuntimeError, ValueError, TypeError) as e:  # no fused kernel or flag
                    missing[variant] = e
            # torch's for-loop and foreach steps once (no target); then torch fused and
            # fastopt.torch taking turns call by call, at 1 thread and at N
            for variant in VARIANTS[:2]:
                if variant in opts:
                    times[variant] = seconds_per_call(opts[variant].step, budget=budget,
                                                      repeat=repeat)
                    del opts[variant]
            steps = {variant: opt.step for variant, opt in opts.items()}
            times.update(seconds_per_call_alternating(steps, samples=samples))
            if at_n:
                with threads(torch, n_top):
                    times.update((f"{variant} N", t) for variant, t in
                                 seconds_per_call_alternating(steps, samples=samples).items())
            del opts, steps
            results[name][wname] = times
            print(_row(wname, _numel(shapes), times, at_n), flush=True)
            del params
        for variant, e in missing.items():
            print(f"  ({variant}: not available: {e})")
        _targets(name, results[name], n_top)
    if not args.quick:
        results["training loop"] = _training_loop(torch, n_top, rounds=10 if args.full else 6)
    return results


def _training_loop(torch, n_top, rounds, width=1024, batch=256, iters=25):
    """Median seconds per iteration of forward+backward and of the step, Adam, torch fused vs
    fastopt.torch, at n_top threads: rounds interleaved, each side first in every other."""
    import statistics

    import fastopt.torch
    F = torch.nn.functional
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, width, generator=gen)
    y = torch.randint(0, 10, (batch,), generator=gen)
    loops = {}
    for variant, make in (("torch fused", lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True)),
                          ("fastopt", lambda ps: fastopt.torch.Adam(ps, lr=1e-3))):
        torch.manual_seed(1)
        model = torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.ReLU(),
                                    torch.nn.Linear(width, width), torch.nn.ReLU(),
                                    torch.nn.Linear(width, 10))
        loops[variant] = (model, make(model.parameters()))
    per = {v: {"fwd+bwd": [], "step": []} for v in loops}
    with threads(torch, n_top):
        for r in range(rounds):
            order = list(loops) if r % 2 == 0 else list(loops)[::-1]   # neither always first
            for variant in order:
                model, opt = loops[variant]
                fb, st = [], []
                for i in range(iters):
                    t0 = time.perf_counter()
                    loss = F.cross_entropy(model(x), y)
                    opt.zero_grad(set_to_none=False)
                    loss.backward()
                    t1 = time.perf_counter()
                    opt.step()
                    t2 = time.perf_counter()
                    if i >= 5:   # the first ones build state
                        fb.append(t1 - t0)
                        st.append(t2 - t1)
                per[variant]["fwd+bwd"].append(statistics.median(fb))
                per[variant]["step"].append(statistics.median(st))
    n = sum(p.numel() for p in loops["fastopt"][0].parameters())
    print(f"\ntraining loop at {n_top} threads: an MLP {width}-{width}-{width}-10 "
          f"({n / 1e6:.2f}M params), batch {batch}, Adam; median of {rounds} interleaved rounds")
    out = {}
    for variant in loops:
        fb, st = (float(np.median(per[variant][k])) for k in ("fwd+bwd", "step"))
        out[variant] = {"fwd+bwd": fb, "step": st}
        print(f"  {variant:12s} forward+backward {fmt_time(fb)}   step {fmt_time(st)}   "
              f"iteration {fmt_time(fb + st)}", flush=True)
    ratio = out["fastopt"]["fwd+bwd"] / out["torch fused"]["fwd+bwd"]
    target(f"training loop: torch's forward+backward next to fastopt.torch's steps within 5% "
           f"of its time next to torch fused's ({ratio:.3f}x)", ratio <= 1.05)
    return out


def _ratio(times, num, den):
    return f"{times[num] / times[den]:5.2f}x" if num in times and den in times else "    -"


def _row(wname, numel, times, at_n):
    line = (f"  {wname:30s} {numel:10,d} " +
            " ".join(fmt_time(times[v]).rjust(14) if v in times else f"{'-':>14}"
                     for v in VARIANTS) + "  " +
            " ".join(_ratio(times, v, "fastopt") for v in VARIANTS[:3]))
    if at_n:
        line += (" | " + " ".join(fmt_time(times[f"{v} N"]).rjust(10)
                                  if f"{v} N" in times else f"{'-':>10}" for v in AT_N) +
                 " " + _ratio(times, "torch fused N", "fastopt N"))
    return line


def _targets(name, by_workload, n_top):
    """The issue's targets at N threads (torch's default count): >= 1.1x torch fused on the
    large workloads; the small MLP no slower than at 1 thread (within 5%)."""
    key = "N" if n_top > 1 else None
    for wname in TARGET_WORKLOADS:
        t = by_workload.get(wname, {})
        fo, tf = (t.get("fastopt N"), t.get("torch fused N")) if key else (
            t.get("fastopt"), t.get("torch fused"))
        if fo and tf:
            target(f"{name} {wname}: fastopt.torch >= 1.1x torch fused at {n_top} "
                   f"thread{'s' if n_top > 1 else ''} ({tf / fo:.2f}x)", tf / fo >= 1.1)
    t = by_workload.get(SMALL_WORKLOAD, {})
    if key and "fastopt N" in t and "fastopt" in t:
        r = t["fastopt N"] / t["fastopt"]
        target(f"{name} {SMALL_WORKLOAD}: fastopt.torch at {n_top} threads within 5% of 1 "
               f"thread ({r:.2f}x its time)", r <= 1.05)
