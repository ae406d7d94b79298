"""Threads: one large step at 1, 2, ... threads: fastopt vs torch.optim fused vs the bound.

For each thread count t (``--threads 1,2,4``; default 1 up to the CPUs this process may use),
fastopt's functional step runs on t threads, torch's fused step with ``torch.set_num_threads(t)``
(torch.optim's own setting), and the memory probe on t threads, so "x bound" holds per thread
count. Every implementation steps the same buffers, interleaved, and each figure is the median
over several allocations (where a large buffer's pages land moves the time on a VM). Then a
row-sparse step (8192 Zipf ids into an embedding table) at the same thread counts, and the CPU
that idle worker threads burn right after a step (spinning while the caller does other work).
"""
import resource
import time

import numpy as np

import fastopt
from fastopt import _kernels
from fastopt.bench._timing import fmt_time, target, thread_counts, threads, try_torch

ALGORITHMS = {   # name: (functional step, state buffers, torch class kwargs)
    "Adagrad": (lambda p, g, s, t: fastopt.functional.adagrad([p], [g], [s[0]], t), 1, {}),
    "Adam": (lambda p, g, s, t: fastopt.functional.adam([p], [g], [s[0]], [s[1]], None, t),
             2, {}),
    "SGD momentum": (lambda p, g, s, t: fastopt.functional.sgd([p], [g], [s[0]], t, lr=1e-3,
                                                               momentum=0.9), 1,
                     dict(lr=1e-3, momentum=0.9)),
}
_TORCH_NAME = {"Adagrad": "Adagrad", "Adam": "Adam", "SGD momentum": "SGD"}


def _median_time(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def _torch_step(torch, name, kwargs, p, g, states):
    t = torch.from_numpy(p)
    t.requires_grad_(True)
    t.grad = torch.from_numpy(g)
    opt = getattr(torch.optim, _TORCH_NAME[name])([t], fused=True, **kwargs)
    opt.step()
    buffers = [k for k, v in opt.state[t].items() if torch.is_tensor(v) and v.shape == t.shape]
    for key, array in zip(buffers, states):
        opt.state[t][key] = torch.from_numpy(array)
    return opt.step


def run(args):
    n = 1 << 22 if args.quick else 1 << 24
    allocations = 1 if args.quick else 3 if args.full else 2
    reps = 5 if args.full else 3
    counts = thread_counts(args)
    torch = try_torch()
    print(f"## Threads: one float32 step of n = 2^{n.bit_length() - 1} at {counts} threads "
          f"(runtime {_kernels.threads_runtime()})")
    print("columns: time per step and x bound (fastopt / memory probe at the same thread "
          "count), speed-up over 1 thread, torch fused time and fastopt's speed-up over it")
    print(f"{'algorithm':>13} {'threads':>7} {'fastopt':>10} {'x bound':>7} {'vs 1 thr':>8} "
          f"{'torch fused':>11} {'speed-up':>8}", flush=True)
    results = {}
    for name, (step, n_state, kwargs) in ALGORITHMS.items():
        per = {t: {"fastopt": [], "bound": [], "torch": []} for t in counts}
        for a in range(allocations):
            rng = np.random.default_rng(a)
            p = rng.standard_normal(n).astype(np.float32)
            g = (rng.standard_normal(n) * 1e-3).astype(np.float32)
            states = [np.full(n, 0.1, np.float32) for _ in range(n_state)]
            tstep = _torch_step(torch, name, kwargs, p, g, states) if torch else None
            counter = [1]

            def ours():
                counter[0] += 1
                step(p, g, states, counter[0])

            for t in counts:   # interleaved: each count, each implementation, same buffers
                # torch.set_num_threads also sets the OpenMP runtime's count, which fastopt
                # shares when torch is loaded: set both
                with threads(torch, t):
                    per[t]["fastopt"].append(_median_time(ours, reps))
                    per[t]["bound"].append(_median_time(
                        lambda: _kernels.stream_probe(p, g, states, t), reps))
                    if tstep is not None:
                        per[t]["torch"].append(_median_time(tstep, reps))
        base = None
        for t in counts:
            f = float(np.median(per[t]["fastopt"]))
            b = float(np.median(per[t]["bound"]))
            base = base or f
            tt = float(np.median(per[t]["torch"])) if per[t]["torch"] else None
            torch_cols = (f"{fmt_time(tt):>11} {tt / f:7.2f}x" if tt else
                          f"{'-':>11} {'-':>8}")
            print(f"{name:>13} {t:>7} {fmt_time(f):>10} {f / b:7.2f} {base / f:7.2f}x "
                  f"{torch_cols}", flush=True)
            results[(name, t)] = {"fastopt": f, "bound": b, "torch fused": tt}
        worst = max(results[(name, t)]["fastopt"] / results[(name, t)]["bound"]
                    for t in counts)
        target(f"{name} 2^{n.bit_length() - 1}: x bound <= 1.10 at every thread count "
               f"(worst {worst:.2f})", worst <= 1.10)
    results.update(_sparse_rows(args, counts))
    results.update(_idle_workers(torch, counts[-1]))
    if torch is None:
        print("(torch not installed: its columns are empty)")
    return results


def _sparse_rows(args, counts):
    """Row-sparse Adagrad, 8192 Zipf ids into a 1e6 x 64 float32 table (1e5 with --quick), at
    each thread count: median over rounds of the mean over a cycle of batches, interleaved."""
    from fastopt.bench.sparse import zipf_batches
    n_rows = 10**5 if args.quick else 10**6
    rng = np.random.default_rng(0)
    p = np.zeros((n_rows, 64), np.float32)
    s = np.zeros((n_rows, 64), np.float32)
    p += 0.0   # every page mapped before timing
    s += 0.1
    batches = zipf_batches(n_rows, 8192, rng)
    per = {t: [] for t in counts}
    rounds, cycles = (3, 2) if args.quick else (7, 10) if args.full else (5, 4)
    for _ in range(rounds):
        for t in counts:
            with fastopt.num_threads(t):
                for g in batches:
                    fastopt.functional.adagrad_rows([p], [g], [s], 1)
                t0 = time.perf_counter()
                for _ in range(cycles):
                    for g in batches:
                        fastopt.functional.adagrad_rows([p], [g], [s], 1)
                per[t].append((time.perf_counter() - t0) / (cycles * len(batches)))
    print(f"row-sparse Adagrad, 8192 Zipf ids into a {n_rows:.0e} x 64 float32 table "
          f"(rows dealt out by index counts, updates in equal runs):")
    out, base = {}, None
    for t in counts:
        f = float(np.median(per[t]))
        base = base or f
        print(f"{'sparse Adagrad':>13} {t:>7} {fmt_time(f):>10} {'':>7} {base / f:7.2f}x",
              flush=True)
        out[("sparse Adagrad", t)] = {"fastopt": f}
    if counts[-1] > 1:
        gain = out[("sparse Adagrad", counts[0])]["fastopt"] / out[("sparse Adagrad",
                                                                   counts[-1])]["fastopt"]
        target(f"sparse Adagrad at {counts[-1]} threads >= 1.5x its time at {counts[0]} "
               f"({gain:.2f}x)", gain >= 1.5)
    return out


def _cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _burnt_after(step, rounds=10, sleep=0.05):
    """Median CPU seconds this process uses while the caller sleeps right after step()."""
    step()
    burnt = []
    for _ in range(rounds):
        step()
        c0 = _cpu_seconds()
        time.sleep(sleep)
        burnt.append(_cpu_seconds() - c0)
    return float(np.median(burnt))


def _idle_workers(torch, t):
    """CPU burnt in the 50 ms after a threaded 2^22 Adagrad step, fastopt vs torch fused: the
    time idle OpenMP workers spin on cores that torch's or NumPy's next work needs."""
    if t < 2:
        return {}
    from fastopt import _openmp
    n = 1 << 22
    p, g, s = (np.full(n, v, np.float32) for v in (1.0, 1e-3, 0.1))
    rows = {}
    with threads(torch, t):
        rows["fastopt"] = _burnt_after(lambda: fastopt.functional.adagrad([p], [g], [s], 1))
        if torch is not None:
            rows["torch fused"] = _burnt_after(_torch_step(torch, "Adagrad", {}, p.copy(),
                                                           g.copy(), [s.copy()]))
    print(f"idle workers: CPU burnt during a 50 ms sleep right after a 2^22 Adagrad step at {t} "
          f"threads (fastopt's OpenMP runtime: {_openmp.RUNTIME}"
          + (f", GOMP_SPINCOUNT={_openmp.SPINCOUNT}" if _openmp.SPINCOUNT else "") + "):")
    for name, sec in rows.items():
        print(f"{name:>13} {sec * 1e3:9.2f} ms", flush=True)
    if _openmp.RUNTIME == "bundled":
        target(f"idle fastopt workers burn <= 1 ms of CPU after a step "
               f"({rows['fastopt'] * 1e3:.2f} ms)", rows["fastopt"] <= 1e-3)
    else:
        print("  (the system's libgomp, shared with torch: its spin is the runtime's default "
              "or GOMP_SPINCOUNT / OMP_WAIT_POLICY; the wheel's own copy spins briefly)")
    return {("idle workers", k): {"cpu": v} for k, v in rows.items()}
