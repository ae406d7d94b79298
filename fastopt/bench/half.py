"""Half precision: float32, bfloat16 params, bfloat16 params + float32 master weights, and
float32 params + bfloat16 state, against torch.optim's fused kernels on the same dtypes.

For each algorithm and size, one param of n elements in each storage (its own buffers),
stepped by fastopt's NumPy object (``master_weights``, ``state_dtype``) and by torch's fused
step, interleaved, at 1 thread and at N (torch with torch.set_num_threads at the same count);
the best of several repeats, the median over the rounds. Bytes per element are what the
fused step must move in that storage (bfloat16 Adam: read p, g, m, v and write p, m, v, two
bytes each: 14), and "x bound" is the time over those bytes at the memory bandwidth the
float32 streaming probe reaches in the same run and thread count.

torch has no master weights or bfloat16 state in one pass; the rows compare with what a torch
user runs for them: master weights as ``g32.copy_(g); fused float32 step; p.copy_(p32)``
(the ZeRO-Offload pattern), bfloat16 state against torch's fused float32 step.

Then row-sparse Adagrad in the same four storages: a 1e6 x 64 table, 8192 Zipf ids per step
(the sparse section's batches), fastopt's object on SparseRows against torch.optim.Adagrad's
sparse path (not fused: torch has no fused sparse step) on the same dtype's COO grads, where
torch takes that dtype.
"""
import numpy as np

import fastopt
from fastopt import _kernels
from fastopt.bench._timing import fmt_time, seconds_per_call, target, thread_counts, threads
from fastopt.bench.sparse import DIM, _cycle, zipf_batches

#: algorithm: (fastopt class, torch.optim class, kwargs, state buffers like the param)
ALGORITHMS = {
    "adam": ("Adam", "Adam", dict(lr=1e-3), 2),
    "adagrad": ("Adagrad", "Adagrad", dict(lr=1e-2), 1),
    "sgd_momentum": ("SGD", "SGD", dict(lr=1e-2, momentum=0.9), 1),
}

#: storage: (label, bytes per element of a step with s state buffers)
STORAGE = {
    "float32": ("float32", lambda s: 4 * (3 + 2 * s)),
    "bf16": ("bfloat16 params", lambda s: 2 * (3 + 2 * s)),
    "bf16+master": ("bfloat16 + fp32 masters", lambda s: 2 + 4 + 4 * s + 2 + 4 + 4 * s),
    "fp32+bf16 state": ("fp32 + bfloat16 state", lambda s: 12 + 4 * s),
}


def _bf16():
    try:
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    except ImportError:
        return None


def _fastopt_step(algo, storage, n, bf16):
    """fastopt's step for one (algorithm, storage): a closure (its buffers inside)."""
    cls, _, kwargs, _ = ALGORITHMS[algo]
    rng = np.random.default_rng(0)
    p32 = rng.standard_normal(n).astype(np.float32)
    g32 = (rng.standard_normal(n) * 1e-3).astype(np.float32)
    opts = {}
    if storage == "float32":
        p, g = p32, g32
    elif storage == "fp32+bf16 state":
        p, g, opts = p32, g32, dict(state_dtype=bf16)
    else:
        p, g = p32.astype(bf16), g32.astype(bf16)
        if storage == "bf16+master":
            opts = dict(master_weights=True)
    opt = getattr(fastopt, cls)([p], **kwargs, **opts)
    grads = [g]
    opt.step(grads)   # (state made, pages touched)
    return lambda: opt.step(grads)


def _torch_step(torch, algo, storage, n):
    """torch's fused step for the same storage (see the module docstring), or None."""
    _, cls, kwargs, _ = ALGORITHMS[algo]
    gen = torch.Generator().manual_seed(0)
    dtype = torch.bfloat16 if storage == "bf16" else torch.float32
    p = torch.randn(n, generator=gen).to(dtype).requires_grad_()
    p.grad = (torch.randn(n, generator=gen) * 1e-3).to(dtype)
    try:
        opt = getattr(torch.optim, cls)([p], fused=True, **kwargs)
        opt.step()
    except (RuntimeError, TypeError, ValueError):
        return None
    if storage != "bf16+master":
        return opt.step
    half = p.detach().to(torch.bfloat16)
    g_half = p.grad.to(torch.bfloat16)

    def step():   # half grad -> float32, the fused float32 step, float32 -> half param
        p.grad.copy_(g_half)
        opt.step()
        half.copy_(p.detach())
    return step


def _sparse_rows(torch, bf16, counts, budget, rounds, quick):
    """Row-sparse Adagrad per storage (module docstring): a table of its own per storage."""
    n_rows, k = (10 ** 5 if quick else 10 ** 6), 8192
    batches32 = zipf_batches(n_rows, k, np.random.default_rng(1))
    touched = np.mean([np.unique(g.indices).size for g in batches32])
    print(f"\n-- row-sparse adagrad: {n_rows:.0e} x {DIM} table, {k} Zipf ids "
          f"({touched:.0f} distinct rows) per step --")
    print(f"{'storage':>24} {'B/row':>5}"
          + "".join(f" | {c:>2} thr {'fastopt':>10}" + (f" {'torch':>7}" if torch else "")
                    for c in counts))
    steps = {}
    for storage in STORAGE:
        half = storage in ("bf16", "bf16+master")
        dt = bf16 if half else np.dtype(np.float32)
        table = np.zeros((n_rows, DIM), dt)
        batches = [fastopt.SparseRows(g.indices, g.values.astype(dt)) for g in batches32]
        opts = (dict(master_weights=True) if storage == "bf16+master" else
                dict(state_dtype=bf16) if storage == "fp32+bf16 state" else {})
        opt = fastopt.Adagrad([table], lr=1e-2, **opts)
        ours = _cycle(batches, lambda g, t, opt=opt: opt.step([g]))
        steps[storage] = (ours, _torch_sparse(torch, table, batches32, storage)
                          if torch and storage in ("float32", "bf16") else None)
    times = {}
    for _ in range(rounds):
        for c in counts:
            with threads(torch, c):
                for storage, (ours, theirs) in steps.items():
                    times.setdefault((storage, c, 0), []).append(
                        seconds_per_call(ours, budget=budget))
                    if theirs is not None:
                        times.setdefault((storage, c, 1), []).append(
                            seconds_per_call(theirs, budget=budget))
    out = []
    for storage, (label, bpe_of) in STORAGE.items():
        grad_bytes = 4 if storage in ("float32", "fp32+bf16 state") else 2
        # (a dense step's bytes per element less the grad's: a row step reads it from the batch)
        row = dict(storage=storage, bytes_per_row=DIM * (bpe_of(1) - grad_bytes), times={})
        line = f"{label:>24} {row['bytes_per_row']:>5}"
        for c in counts:
            f = row["times"][f"fastopt {c}"] = float(np.median(times[(storage, c, 0)]))
            line += f" | {'':>6} {fmt_time(f):>10}"
            if torch:
                tt = times.get((storage, c, 1))
                if tt:
                    t = row["times"][f"torch {c}"] = float(np.median(tt))
                    line += f" {t / f:6.1f}x"
                else:
                    line += f" {'-':>7}"
        out.append(row)
        print(line, flush=True)
    print("  (B/row: the param and state row read and written, and the master's where kept; "
          "torch: torch.optim.Adagrad's sparse step time / fastopt's)")
    return out


def _torch_sparse(torch, table, batches32, storage):
    """torch.optim.Adagrad (sparse path) on an embedding lookup's COO grads, same dtype."""
    dtype = torch.bfloat16 if storage == "bf16" else torch.float32
    tp = torch.zeros(table.shape, dtype=dtype).requires_grad_()
    grads = []
    for g in batches32:
        tp.grad = None
        torch.nn.functional.embedding(torch.from_numpy(g.indices), tp, sparse=True).backward(
            torch.from_numpy(g.values).to(dtype))
        grads.append(tp.grad)
    opt = torch.optim.Adagrad([tp], lr=1e-2)

    def step(g, t):
        tp.grad = g
        with torch.sparse.check_sparse_tensor_invariants(False):   # (as a training loop)
            opt.step()
    try:
        return _cycle(grads, step)
    except (RuntimeError, TypeError):
        return None


def _bandwidth(n, n_threads, budget):
    """Bytes per second the float32 streaming probe moves (read p, g, s1, s2; write p, s1,
    s2: 28 bytes per element) on n elements at n_threads."""
    p = np.zeros(n, np.float32)
    g = np.full(n, 1e-9, np.float32)
    s = [np.zeros(n, np.float32), np.zeros(n, np.float32)]
    t = seconds_per_call(lambda: _kernels.stream_probe(p, g, s, n_threads), budget=budget)
    return 28 * n / t


def run(args):
    from fastopt.bench._timing import try_torch
    torch = try_torch()
    bf16 = _bf16()
    quick, full = args.quick, args.full
    sizes = [1 << 20] if quick else [1_000_000, 1 << 24]
    budget = 0.3 if full else 0.05 if quick else 0.08
    rounds = 5 if full else 1 if quick else 2
    counts = sorted({1, thread_counts(args)[-1]})
    results = {"rows": []}
    print("== Half precision: one param of n elements per storage, fastopt's object step vs "
          f"torch's fused step (half-precision storage on {_kernels.current_half_isa()}, "
          f"float32 on {_kernels.current_isa()}) ==")
    print("columns per thread count: fastopt time, x bound (time / the storage's bytes at the "
          "float32 probe's bandwidth), torch fused time / fastopt time (higher = fastopt "
          "faster); medians over interleaved rounds")
    if bf16 is None:
        print("(ml_dtypes is not installed: the bfloat16 rows need it; pip install ml_dtypes)")
        return results
    if torch is None:
        print("(torch is not installed: torch columns left out; pip install torch==2.13.0)")
    for algo, (_, _, _, n_state) in ALGORITHMS.items():
        for n in sizes:
            print(f"\n-- {algo}, n = {n} --")
            print(f"{'storage':>24} {'B/el':>5}"
                  + "".join(f" | {c:>2} thr {'fastopt':>10} {'x bound':>7}"
                            + (f" {'t-fused':>7}" if torch else "") for c in counts))
            bandwidth = {c: 0.0 for c in counts}
            steps = {}
            for storage in STORAGE:
                steps[storage] = (_fastopt_step(algo, storage, n, bf16),
                                  _torch_step(torch, algo, storage, n) if torch else None)
            times = {}
            for _ in range(rounds):   # interleaved: every implementation in every round
                for c in counts:
                    with threads(torch, c):
                        bandwidth[c] = max(bandwidth[c], _bandwidth(n, c, budget))
                        for storage, (ours, theirs) in steps.items():
                            times.setdefault((storage, c, "fastopt"), []).append(
                                seconds_per_call(ours, budget=budget))
                            if theirs is not None:
                                times.setdefault((storage, c, "torch"), []).append(
                                    seconds_per_call(theirs, budget=budget))
            for storage, (label, bpe_of) in STORAGE.items():
                bpe = bpe_of(n_state)
                line = f"{label:>24} {bpe:>5}"
                row = dict(algo=algo, n=n, storage=storage, bytes_per_element=bpe, times={})
                for c in counts:
                    f = float(np.median(times[(storage, c, "fastopt")]))
                    bound = bpe * n / bandwidth[c]
                    row["times"][f"fastopt {c}"] = f
                    line += f" | {'':>6} {fmt_time(f):>10} {f / bound:7.2f}"
                    if torch:
                        tt = times.get((storage, c, "torch"))
                        if tt:
                            t = float(np.median(tt))
                            row["times"][f"torch fused {c}"] = t
                            line += f" {t / f:6.2f}x"
                        else:
                            line += f" {'-':>7}"
                results["rows"].append(row)
                print(line, flush=True)
            del steps
    results["sparse"] = _sparse_rows(torch, bf16, counts, budget, rounds, quick)
    if torch is not None:
        top = counts[-1]
        big = max(sizes)

        def ratio(storage):
            """torch fused (the row's own: bfloat16, or float32 for bfloat16 state) over
            fastopt, Adam at the largest n and N threads"""
            row = next(r for r in results["rows"] if r["algo"] == "adam" and r["n"] == big
                       and r["storage"] == storage)
            return row["times"][f"torch fused {top}"] / row["times"][f"fastopt {top}"]

        print()
        r = ratio("bf16")
        target(f"n={big}, {top} threads: fastopt bfloat16 Adam >= 2x torch fused bfloat16 "
               f"Adam ({r:.2f}x)", r >= 2.0)
        r = ratio("fp32+bf16 state")
        target(f"n={big}, {top} threads: fastopt fp32 params + bfloat16 state Adam >= 1.3x "
               f"torch fused float32 Adam ({r:.2f}x)", r >= 1.3)
    return results
