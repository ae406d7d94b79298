"""Steps from several Python threads: the GIL is released for big steps, so this is where
races and lifetime bugs would show (CI also runs this file under AddressSanitizer)."""
import threading

import numpy as np

import fastopt
from fastopt import _kernels

N = 2 * _kernels.NOGIL_MIN_ELEMENTS + 3      # above the GIL-release threshold


def _run_threads(targets):
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)
        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors


def test_concurrent_steps_on_disjoint_buffers_equal_sequential_ones():
    rng = np.random.default_rng(0)
    starts = [rng.standard_normal(N).astype(np.float32) for _ in range(4)]
    grads = [[rng.standard_normal(N).astype(np.float32) for _ in range(10)] for _ in starts]
    mine = [p.copy() for p in starts]
    opts = [fastopt.Adam([p], lr=1e-2) for p in mine]

    def worker(k):
        return lambda: [opts[k].step([g]) for g in grads[k]]

    _run_threads([worker(k) for k in range(4)])
    for k, p0 in enumerate(starts):
        ref = p0.copy()
        opt = fastopt.Adam([ref], lr=1e-2)
        for g in grads[k]:
            opt.step([g])
        assert np.array_equal(mine[k], ref), k
        assert np.array_equal(opts[k].state[0]["exp_avg"], opt.state[0]["exp_avg"])


def test_state_replaced_by_another_thread_during_steps_is_kept_alive():
    """One thread steps while another keeps replacing the state buffer and the grad list's
    array: every step must see whole, live arrays (no use-after-free, no crash)."""
    p = np.zeros(N, np.float32)
    opt = fastopt.Adagrad([p], lr=1e-3)
    grads = [np.ones(N, np.float32)]
    stop = threading.Event()

    def stepper():
        for _ in range(40):
            opt.step(grads)
        stop.set()

    def replacer():
        while not stop.is_set():
            opt.state[0]["sum"] = np.zeros(N, np.float32)
            grads[0] = np.ones(N, np.float32)

    _run_threads([stepper, replacer])
    assert np.all(np.isfinite(p)) and np.all(p < 0)


def test_sparse_steps_from_threads_on_separate_tables():
    rng = np.random.default_rng(1)
    tables = [np.zeros((5000, 16), np.float32) for _ in range(3)]
    opts = [fastopt.Adagrad([t], lr=0.1) for t in tables]
    batches = [[fastopt.SparseRows(rng.integers(0, 5000, 4096),
                                   rng.standard_normal((4096, 16)).astype(np.float32))
                for _ in range(5)] for _ in tables]

    def worker(k):
        return lambda: [opts[k].step([b]) for b in batches[k]]

    _run_threads([worker(k) for k in range(3)])
    for k, table in enumerate(tables):
        ref = np.zeros_like(table)
        opt = fastopt.Adagrad([ref], lr=0.1)
        for b in batches[k]:
            opt.step([b.to_dense(5000)])
        assert np.array_equal(table, ref), k
