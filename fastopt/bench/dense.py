"""Dense steps: fastopt vs NumPy (textbook and tuned in-place) vs torch.optim vs the bound.

For each algorithm, dtype and size n, one param of n elements is stepped repeatedly with a
fixed gradient (values stay finite: the steps are small). The memory bound is measured in the
same run by a streaming probe that reads and writes exactly the bytes the fused step must move
(``(3 + 2 * n_state) * itemsize`` per element: read p, g and each state, write p and each
state), so "x bound" is fastopt's time over the probe's time: 1.00 means fastopt streams at
the speed of memory.
"""
import numpy as np

import fastopt
from fastopt import _kernels, functional
from fastopt.bench import numpy_steps
from fastopt.bench._timing import (fmt_time, seconds_per_call, target, thread_counts,
                                    threads, try_torch)


# ---- the algorithms -----------------------------------------------------------------------
# Each entry: state keys, the fastopt functional call, the NumPy textbook form (allocating
# temporaries, as the texts write it), a tuned in-place NumPy form (out= and one scratch
# buffer), and the torch.optim class with its kwargs.

#: the scalar state of the NAdam and ASGD rows, shared by every call (mu_product shrinks
#: towards 0 over the calls, which changes nothing but two per-call scalars)
_MU_PRODUCT = np.ones((), np.float32)
_MU, _ETA = np.ones((), np.float32), np.array(1e-2, np.float32)


ALGORITHMS = {
    "adagrad": dict(
        n_state=1,
        fastopt=lambda p, g, st: functional.adagrad([p], [g], [st[0]], 1, lr=1e-2),
        textbook=numpy_steps.adagrad_textbook,
        inplace=numpy_steps.adagrad_inplace,
        torch=("Adagrad", dict(lr=1e-2)),
    ),
    "sgd-momentum": dict(
        n_state=1,
        # step 2: the buffer is read and written (step 1 only writes it)
        fastopt=lambda p, g, st: functional.sgd([p], [g], [st[0]], 2, lr=1e-3, momentum=0.9),
        textbook=numpy_steps.sgd_textbook,
        inplace=numpy_steps.sgd_inplace,
        torch=("SGD", dict(lr=1e-3, momentum=0.9)),
    ),
    "rmsprop": dict(
        n_state=1,
        fastopt=lambda p, g, st: functional.rmsprop([p], [g], [st[0]], None, None, 1),
        textbook=numpy_steps.rmsprop_textbook,
        inplace=numpy_steps.rmsprop_inplace,
        torch=("RMSprop", dict()),
    ),
    "adadelta": dict(
        n_state=2,
        fastopt=lambda p, g, st: functional.adadelta([p], [g], [st[0]], [st[1]], 1),
        textbook=numpy_steps.adadelta_textbook,
        inplace=numpy_steps.adadelta_inplace,
        torch=("Adadelta", dict()),
    ),
    "adam": dict(
        n_state=2,
        fastopt=lambda p, g, st: functional.adam([p], [g], [st[0]], [st[1]], None, 1),
        textbook=numpy_steps.adam_textbook,
        inplace=numpy_steps.adam_inplace,
        torch=("Adam", dict()),
    ),
    "adamw": dict(
        n_state=2,
        fastopt=lambda p, g, st: functional.adamw([p], [g], [st[0]], [st[1]], None, 1),
        textbook=numpy_steps.adamw_textbook,
        inplace=numpy_steps.adamw_inplace,
        torch=("AdamW", dict()),
    ),
    "lion": dict(
        n_state=1,
        fastopt=lambda p, g, st: functional.lion([p], [g], [st[0]], 1),
        textbook=numpy_steps.lion_textbook,
        inplace=numpy_steps.lion_inplace,
        torch=None,   # torch.optim has no Lion
    ),
    "radam": dict(
        n_state=2,
        # step 6: the first rectified step (rho_t > 5)
        fastopt=lambda p, g, st: functional.radam([p], [g], [st[0]], [st[1]], 6),
        textbook=numpy_steps.radam_textbook,
        inplace=numpy_steps.radam_inplace,
        torch=("RAdam", dict()),
    ),
    "rprop": dict(
        n_state=2,
        fastopt=lambda p, g, st: functional.rprop([p], [g], [st[0]], [st[1]], 1),
        textbook=numpy_steps.rprop_textbook,
        inplace=numpy_steps.rprop_inplace,
        torch=("Rprop", dict()),
    ),
    "nadam": dict(
        n_state=2,   # (and mu_product: one number, no traffic)
        fastopt=lambda p, g, st: functional.nadam([p], [g], [st[0]], [st[1]], [_MU_PRODUCT], 1),
        textbook=numpy_steps.nadam_textbook,
        inplace=numpy_steps.nadam_inplace,
        torch=("NAdam", dict()),
    ),
    "asgd": dict(
        n_state=1,   # (and eta, mu: one number each)
        fastopt=lambda p, g, st: functional.asgd([p], [g], [st[0]], [_MU], [_ETA], 1),
        textbook=numpy_steps.asgd_textbook,
        inplace=numpy_steps.asgd_inplace,
        torch=("ASGD", dict()),
    ),
    "lamb": dict(
        # the bound is a one-pass step's (28 bytes/element); LAMB's norms make it three
        # passes (moments; norms; update: 48 bytes/element), so x bound shows their cost
        n_state=2,
        fastopt=lambda p, g, st: functional.lamb([p], [g], [st[0]], [st[1]], 1),
        textbook=numpy_steps.lamb_textbook,
        inplace=numpy_steps.lamb_inplace,
        torch=None,   # torch.optim has no LAMB
    ),
    "adamax": dict(
        n_state=2,
        fastopt=lambda p, g, st: functional.adamax([p], [g], [st[0]], [st[1]], 1),
        textbook=numpy_steps.adamax_textbook,
        inplace=numpy_steps.adamax_inplace,
        torch=("Adamax", dict()),
    ),
    # Adafactor on a vector (variance like p) and on a matrix (factored: a row and a column,
    # next to no state, so the bound is read p, g, write p: 12 bytes/element); its norms
    # make either several passes over p and g
    "adafactor": dict(
        n_state=1,
        fastopt=lambda p, g, st: functional.adafactor([p], [g], [None], [None], [st[0]], 1),
        textbook=numpy_steps.adafactor_textbook,
        inplace=numpy_steps.adafactor_inplace,
        torch=("Adafactor", dict()),
    ),
    "adafactor_2d": dict(
        n_state=0,
        shape=lambda n: (n // _cols(n), _cols(n)),
        state_shapes=lambda shape: [shape[:-1] + (1,), (1, shape[-1])],
        fastopt=lambda p, g, st: functional.adafactor([p], [g], [st[0]], [st[1]], [None], 1),
        textbook=numpy_steps.adafactor_textbook,
        inplace=numpy_steps.adafactor_inplace,
        torch=("Adafactor", dict()),
    ),
}


def _cols(n):
    """The columns of the matrix a factored row steps: n as rows of 1024 or 1000 if it can."""
    return 1024 if n % 1024 == 0 else 1000 if n % 1000 == 0 else n


def buffers(algo, n, dtype, spacer=lambda: None):
    """``(p, g, states, probe_states)`` for one row: p and g of n elements (a matrix for a
    factored row), the state buffers (n elements each, or the row's own shapes), and the
    buffers the bandwidth probe streams beside p and g (n elements each)."""
    rng = np.random.default_rng(0)
    shape = algo["shape"](n) if "shape" in algo else (n,)
    spacer()
    p = rng.standard_normal(n).astype(dtype).reshape(shape)
    spacer()
    g = (rng.standard_normal(n) * 1e-3).astype(dtype).reshape(shape)
    shapes = algo["state_shapes"](shape) if "state_shapes" in algo else [shape] * algo["n_state"]
    states = []
    for s in shapes:
        spacer()
        states.append(np.full(s, 0.1, dtype))
    return p, g, states, (states if "state_shapes" not in algo else [])


def bytes_per_element(n_state, itemsize):
    """Bytes a fused step must move per element: read p, g, states; write p, states."""
    return (3 + 2 * n_state) * itemsize


def _torch_variants(torch, name, kwargs, p_np, g_np, states_np):
    """{variant: step function} for torch.optim's for-loop, foreach and fused versions, each
    stepping the same memory as fastopt: the param and grad wrap p_np and g_np, and after a
    first step (which creates torch's state) each state buffer is replaced by a view of the
    matching array of states_np."""
    out = {}
    for variant, flags in (("torch for-loop", dict(foreach=False)),
                           ("torch foreach", dict(foreach=True)),
                           ("torch fused", dict(fused=True))):
        t = torch.from_numpy(p_np)
        t.requires_grad_(True)
        t.grad = torch.from_numpy(g_np)
        try:
            opt = getattr(torch.optim, name)([t], **kwargs, **flags)
            opt.step()
        except (RuntimeError, TypeError, ValueError):
            continue  # e.g. no fused CPU kernel for this algorithm
        state = opt.state[t]
        buffers = [k for k, v in state.items() if torch.is_tensor(v) and v.shape == t.shape]
        for key, array in zip(buffers, [a for a in states_np if a.shape == tuple(t.shape)]):
            state[key] = torch.from_numpy(array)
        out[variant] = opt.step
    return out


def measure(name, dtype, n, *, budget, torch=None, keep=None, layout_seed=None, n_top=1):
    """Seconds per step of every implementation for one (algorithm, dtype, n).

    Every implementation steps the *same* buffers, one after the other: at large n where a
    buffer's pages sit (in this VM, how the host backs them) changes the time by up to ~2x,
    so separate copies would compare placements, not implementations. The steps are small and
    the values stay finite; the probe, whose adds are no optimizer's, runs last.

    n_top > 1: fastopt, torch fused and the probe again on n_top threads (keys "fastopt N",
    "torch fused N", "bound N"), on the same buffers; fastopt's 1- and n_top-thread runs
    interleaved, best of 3 rounds each (at n = 1000 a call is ~1 us, and the target compares
    the two).

    keep: a list to append the buffers to, so that the next call gets other memory (see
    measure_placements). layout_seed: if not None, an untouched spacer of a random number of
    pages (0 to 64 MiB, from this seed) is reserved before each buffer, so that the buffers'
    addresses relative to each other are a random sample (the spacers go into keep too).
    """
    algo = ALGORITHMS[name]
    spacer_rng = None if layout_seed is None else np.random.default_rng(layout_seed)
    spacers = []

    def spacer():
        if spacer_rng is not None:  # reserves address space only: its pages are never touched
            spacers.append(np.empty(int(spacer_rng.integers(0, 1 << 14)) << 12, np.uint8))

    p, g, states, probe_states = buffers(algo, n, dtype, spacer)
    spacer()
    tmp = np.empty(p.shape, dtype)
    t = {}

    def ours():
        algo["fastopt"](p, g, states)

    # fastopt at 1 and n_top threads interleaved, best of 3 rounds each: the "no slower at N
    # threads" comparison of small steps (~1 us calls) is then not one of moments on the host
    for _ in range(3 if n_top > 1 else 1):
        one = seconds_per_call(ours, budget=budget / (3 if n_top > 1 else 1))
        t["fastopt"] = min(t.get("fastopt", one), one)
        if n_top > 1:
            with threads(torch, n_top):
                top = seconds_per_call(ours, budget=budget / 3)
            t["fastopt N"] = min(t.get("fastopt N", top), top)
    with np.errstate(all="ignore"):
        t["numpy textbook"] = seconds_per_call(lambda: algo["textbook"](p, g, states),
                                               budget=budget)
        t["numpy in-place"] = seconds_per_call(lambda: algo["inplace"](p, g, states, tmp),
                                               budget=budget)
    variants = {}
    if torch is not None and algo["torch"] is not None:
        cls, kwargs = algo["torch"]
        variants = _torch_variants(torch, cls, kwargs, p, g, states)
        for variant, fn in variants.items():
            t[variant] = seconds_per_call(fn, budget=budget)
    if n_top > 1:
        with threads(torch, n_top):
            if "torch fused" in variants:
                t["torch fused N"] = seconds_per_call(variants["torch fused"], budget=budget)
            t["bound N"] = seconds_per_call(
                lambda: _kernels.stream_probe(p, g, probe_states, n_top), budget=budget)
    # last: its adds (p += g, s += g) are the only steps that are not an optimizer's
    t["bound"] = seconds_per_call(lambda: _kernels.stream_probe(p, g, probe_states),
                                  budget=budget)
    if keep is not None:
        keep.append((p, g, states, tmp, spacers))
    return t


def measure_placements(name, dtype, n, *, budget, torch=None, placements=1, n_top=1):
    """measure() on `placements` sets of buffers at different addresses (each set stays
    allocated while the next is measured). Returns (median times, [times of each set]).

    At 2^24 elements the same step on the same kind of arrays takes ~7 ms on one allocation and
    ~12 ms on another on our VM, for fastopt, torch and the probe alike (NumPy's 2-3-stream
    passes much less so), and what decides it is where the buffers sit relative to each other:
    the same allocation sequence gives the same layout every time. So with more than one
    placement, every set is laid out at random (measure's layout_seed, seeds 1, 2, ...), and
    the report shows the median and every set."""
    keep = []
    each = [measure(name, dtype, n, budget=budget, torch=torch, keep=keep,
                    layout_seed=k + 1 if placements > 1 else None, n_top=n_top)
            for k in range(placements)]
    median = {key: float(np.median([t[key] for t in each])) for key in each[0]}
    return median, each


def object_overhead(n=1000, budget=0.5, torch=None):
    """The per-call cost at small n, float32 Adagrad: the functional call, the NumPy object's
    step, and (with torch) fastopt.torch's step and torch.optim's fused one, interleaved."""
    p = np.zeros(n, np.float32)
    g = np.full(n, 1e-3, np.float32)
    s = np.zeros(n, np.float32)
    opt = fastopt.Adagrad([p.copy()])
    grads = [g]
    calls = {"functional": lambda: functional.adagrad([p], [g], [s], 1, lr=1e-2),
             "object": lambda: opt.step(grads)}
    if torch is not None:
        import fastopt.torch as fo_torch
        tp = torch.zeros(n, requires_grad=True)
        tp.grad = torch.full((n,), 1e-3)
        calls["fastopt.torch"] = fo_torch.Adagrad([tp]).step
        tq = torch.zeros(n, requires_grad=True)
        tq.grad = torch.full((n,), 1e-3)
        calls["torch fused"] = torch.optim.Adagrad([tq], fused=True).step
    # many short repeats, interleaved: a ~1 us call on a shared VM is easily slowed for a
    # while by the host; the best of each over the rounds
    out = {}
    for _ in range(3):
        for key, fn in calls.items():
            t = seconds_per_call(fn, budget=budget / 3, repeat=9)
            out[key] = min(out.get(key, t), t)
    return out


def isa_paths(sizes, budget):
    """fastopt's float32 time per ISA path: is each wider path worth shipping?"""
    before = _kernels.isa_paths()
    out = {}
    try:
        for name, algo in ALGORITHMS.items():
            for n in sizes:
                p, g, states, _ = buffers(algo, n, np.float32)
                for isa in _kernels.available_isas():
                    _kernels._set_isa(isa)
                    out[(name, n, isa)] = seconds_per_call(lambda: algo["fastopt"](p, g, states),
                                                           budget=budget)
    finally:
        _kernels._set_isa(*before)
    return out


def run(args):
    torch = try_torch()
    quick, full = args.quick, args.full
    sizes = ([1_000, 100_000, 1 << 22] if quick else
             [1_000, 10_000, 100_000, 1_000_000, 1 << 24] if full else
             [1_000, 100_000, 1_000_000, 1 << 24])
    budget = 0.4 if full else 0.1 if quick else 0.08
    placements = 5 if full else 1   # at the largest n (see measure_placements)
    n_top = thread_counts(args)[-1]
    results = {"rows": [], "overhead": None, "threads": n_top}
    print(f"== Dense steps: one param of n elements, 1 thread"
          + (f" and N = {n_top} threads ==" if n_top > 1 else " ==")
          + ("" if full else " (--full: float64 too, more sizes, longer timings, the median "
                             "over 5 allocations at the largest n)"))
    print("columns: fastopt time per step, ns/element, GB/s moved, x bound (fastopt / memory "
          "probe; 1.00 = memory speed),\n         then speed-ups: other time / fastopt time "
          "(higher = fastopt faster)"
          + ("; after |: the same at N threads (torch fused with torch.set_num_threads(N))"
             if n_top > 1 else ""))
    if torch is None:
        print("(torch is not installed: torch columns left out; pip install torch==2.13.0)")
    small_n = []   # fastopt at N threads / at 1 thread, at the smallest n
    dtypes = (np.float32, np.float64) if full else (np.float32,)
    for name, algo in ALGORITHMS.items():
        for dtype in dtypes:
            itemsize = np.dtype(dtype).itemsize
            bpe = bytes_per_element(algo["n_state"], itemsize)
            print(f"\n-- {name} {np.dtype(dtype).name}: {bpe} bytes/element --")
            head = (f"{'n':>9} {'fastopt':>10} {'ns/el':>6} {'GB/s':>6} {'x bound':>7} "
                    f"{'numpy':>7} {'np-inpl':>7}"
                    + (f" {'t-loop':>7} {'t-each':>7} {'t-fused':>7}" if torch else "")
                    + (f" | {'fastopt N':>10} {'x bound':>7}"
                       + (f" {'t-fused':>7}" if torch else "") if n_top > 1 else ""))
            print(head, flush=True)
            for n in sizes:
                places = placements if n == sizes[-1] else 1
                t, each = measure_placements(name, dtype, n, budget=budget, torch=torch,
                                             placements=places, n_top=n_top)
                row = dict(algo=name, dtype=np.dtype(dtype).name, n=n, bytes_per_element=bpe,
                           times=t, placements=each)
                results["rows"].append(row)
                f = t["fastopt"]

                def ratio(key, over="fastopt"):
                    if key not in t:
                        return f"{'-':>7}"
                    # the median of the ratios measured on each set of buffers
                    r = np.median([e[key] / e[over] for e in each])
                    return f"{r:6.2f}x"

                line = (f"{n:>9} {fmt_time(f):>10} {f / n * 1e9:6.3f} {bpe * n / f / 1e9:6.1f} "
                        f"{np.median([e['fastopt'] / e['bound'] for e in each]):7.2f} "
                        f"{ratio('numpy textbook')} {ratio('numpy in-place')}")
                if torch:
                    line += (f" {ratio('torch for-loop')} {ratio('torch foreach')} "
                             f"{ratio('torch fused')}")
                if n_top > 1:
                    fn = t["fastopt N"]
                    line += (f" | {fmt_time(fn):>10} "
                             f"{np.median([e['fastopt N'] / e['bound N'] for e in each]):7.2f}")
                    if torch:
                        line += f" {ratio('torch fused N', 'fastopt N')}"
                    if n == sizes[0]:
                        small_n.append(fn / f)
                print(line, flush=True)
                if places > 1:
                    print(f"{'':>9} (median of {places} allocations; fastopt "
                          + ", ".join(fmt_time(e["fastopt"]).strip() for e in each)
                          + "; x bound " + ", ".join(f"{e['fastopt'] / e['bound']:.2f}" for e in each)
                          + "; np-inpl " + ", ".join(f"{e['numpy in-place'] / e['fastopt']:.2f}x"
                                                     for e in each) + ")")
    if small_n:
        print()
        target(f"n={sizes[0]}: fastopt at {n_top} threads within 5% of 1 thread, every "
               f"algorithm{' and dtype' if full else ' (float32)'} (worst {max(small_n):.2f}x "
               f"its time)", max(small_n) <= 1.05)
    isa_sizes = [10_000, 100_000] + ([1 << 24] if full else [])
    by_isa = isa_paths(isa_sizes, budget)
    results["isa"] = {f"{k[0]} {k[1]} {k[2]}": v for k, v in by_isa.items()}
    paths = _kernels.available_isas()
    print(f"\n-- ISA paths, float32, 1 thread, ns/element (in use: {_kernels.current_isa()}) --")
    print(f"{'algorithm':>12} {'n':>9} " + " ".join(f"{isa:>9}" for isa in paths))
    for name in ALGORITHMS:
        for n in isa_sizes:
            print(f"{name:>12} {n:>9} " + " ".join(
                f"{by_isa[(name, n, isa)] / n * 1e9:9.3f}" for isa in paths))

    ov = object_overhead(budget=0.2 if quick else 0.5, torch=torch)
    results["overhead"] = ov
    print(f"\nper-call cost at n=1000 float32 Adagrad: functional {fmt_time(ov['functional'])}, "
          f"object step {fmt_time(ov['object'])}"
          + (f", fastopt.torch step {fmt_time(ov['fastopt.torch'])}, torch fused "
             f"{fmt_time(ov['torch fused'])}" if "fastopt.torch" in ov else ""))
    if "fastopt.torch" in ov:
        r = ov["fastopt.torch"] / ov["object"]
        target(f"fastopt.torch's per-call cost <= 1.5x the NumPy object's ({r:.2f}x)", r <= 1.5)
    return results
