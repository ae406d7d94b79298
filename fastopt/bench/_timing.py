"""Timing helpers shared by the benchmark sections, and the report's targets."""
import contextlib
import gc
import time


def seconds_per_call(fn, *, budget=0.25, repeat=5, max_number=1_000_000):
    """Best-of-``repeat`` wall time of one ``fn()`` call, each repeat running ~budget/repeat s.

    The GC is off while timing (as timeit does). The minimum is reported: on a quiet machine it
    is the closest to the cost of the call itself.
    """
    fn()  # warm up: page in buffers, fill caches, resolve lazy imports
    number, elapsed = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= budget / repeat / 4 or number >= max_number:
            break
        number *= 4
    per = max(1, int(number * (budget / repeat) / max(elapsed, 1e-9)))
    per = min(per, max_number)
    best = float("inf")
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(per):
                fn()
            best = min(best, (time.perf_counter() - t0) / per)
    finally:
        if enabled:
            gc.enable()
    return best


def seconds_per_call_alternating(fns, *, samples=7, sample_time=0.005, max_number=100_000):
    """Best wall time of one call of each of ``fns`` ({name: fn}), the functions taking turns.

    Each sample times ``number`` calls of every function in turn (``number`` per function,
    so that a sample takes about ``sample_time`` s, at least one call); the best sample of
    each is reported. On a shared 2-core VM another guest's load comes in phases of ~0.1 s
    that slow one figure by up to 2x: taking turns call by call puts the functions compared
    in the same phases, and the best sample of each is one from a quiet moment.
    """
    numbers = {}
    for name, fn in fns.items():
        fn()   # warm up
        t0 = time.perf_counter()
        fn()
        once = max(time.perf_counter() - t0, 1e-9)
        numbers[name] = int(min(max_number, max(1, sample_time / once)))
    best = dict.fromkeys(fns, float("inf"))
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(samples):
            for name, fn in fns.items():
                number = numbers[name]
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                best[name] = min(best[name], (time.perf_counter() - t0) / number)
    finally:
        if enabled:
            gc.enable()
    return best


def fmt_time(seconds):
    """A time in the unit that reads best (ns, us, ms, s)."""
    for unit, scale in (("ns", 1e-9), ("us", 1e-6), ("ms", 1e-3)):
        if seconds < 1000 * scale:
            return f"{seconds / scale:7.1f} {unit}"
    return f"{seconds:7.2f} s "


def try_torch():
    """torch with one intra-op thread, or None if it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def thread_counts(args):
    """The report's thread counts: ``--threads 1,2,4``, else 1, 2, 4, ... up to the CPUs this
    process may use (the last is the "N threads" of every section)."""
    import fastopt
    text = getattr(args, "threads", None)
    if text:
        counts = sorted({int(x) for x in text.split(",") if x.strip()})
        if not counts or counts[0] < 1:
            raise SystemExit("--threads takes a list of counts >= 1, e.g. 1,2,4")
        return counts
    top = fastopt._threads.available_cpus()
    counts, t = [], 1
    while t < top:
        counts.append(t)
        t *= 2
    return counts + [top]


@contextlib.contextmanager
def threads(torch, n):
    """fastopt and torch (if given) both on ``n`` threads inside the block, as each would run
    there by default (torch.optim's fused kernels on torch.get_num_threads())."""
    import fastopt
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    try:
        with fastopt.num_threads(n):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(before)


#: Every target line a section printed (met or not), for the report's closing summary.
TARGETS = []


def target(text, met):
    """Print a target's line flagged "met" or "MISSED", and keep it for the summary."""
    line = f"[{'met' if met else 'MISSED'}] {text}"
    TARGETS.append(line)
    print(f"  {line}", flush=True)
    return met
