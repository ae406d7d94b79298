"""The benchmark report's measuring helpers (the timings themselves are checked by nobody:
speed lives in bench/ and the report, never in timed unit tests)."""
import time

import numpy as np

from fastopt.bench import dense


def test_measure_placements_keeps_each_set_and_takes_medians():
    median, each = dense.measure_placements("adagrad", np.float32, 1000, budget=0.003,
                                            placements=3)
    assert len(each) == 3
    for key in ("fastopt", "numpy textbook", "numpy in-place", "bound"):
        values = [t[key] for t in each]
        assert median[key] == sorted(values)[1]
        assert all(v > 0 for v in values)


def test_measure_keeps_its_buffers_when_asked():
    keep = []
    dense.measure("sgd-momentum", np.float64, 33, budget=0.002, keep=keep)
    dense.measure("sgd-momentum", np.float64, 33, budget=0.002, keep=keep)
    (p1, g1, s1, _, sp1), (p2, g2, s2, _, sp2) = keep
    assert sp1 == [] and sp2 == []   # no layout_seed: no spacers
    assert p1.dtype == np.float64 and p1.shape == (33,) and len(s1) == 1
    # the second set is other memory: the first was still alive when it was allocated
    assert not np.shares_memory(p1, p2) and not np.shares_memory(s1[0], s2[0])


def test_layout_seed_reserves_untouched_spacers_before_each_buffer():
    keep = []
    dense.measure("adam", np.float32, 17, budget=0.002, keep=keep, layout_seed=1)
    p, g, states, tmp, spacers = keep[0]
    assert len(states) == 2 and len(spacers) == 3 + len(states)   # p, g, each state, tmp
    assert all(sp.dtype == np.uint8 and sp.size % 4096 == 0 for sp in spacers)
    assert all(sp.size < 64 << 20 for sp in spacers)


def test_threads_section_runs_and_reports_every_count(capsys):
    from fastopt.bench import __main__ as bench
    assert bench.main(["--quick", "--sections", "threads", "--threads", "1,2"]) == 0
    out = capsys.readouterr().out
    for name in ("Adagrad", "Adam", "SGD momentum"):
        rows = [line.strip()[len(name):].split() for line in out.splitlines()
                if line.strip().startswith(name + " ")]
        assert [row[0] for row in rows] == ["1", "2"], out
        assert all(float(row[3]) > 0 for row in rows), out    # x bound
    sparse = [line.split() for line in out.splitlines() if line.strip().startswith("sparse ")]
    assert [row[2] for row in sparse] == ["1", "2"], out   # "sparse Adagrad <threads> ..."
    assert float(sparse[0][-1].rstrip("x")) == 1.0, out


def test_targets_are_flagged_and_listed_again_at_the_end(capsys, monkeypatch):
    import sys
    import types
    from fastopt.bench import __main__ as bench
    from fastopt.bench import _timing

    def run(args):   # a section with one target met and one missed
        _timing.target("fast enough (1.2x)", True)
        _timing.target("small enough (0.7x)", False)
        return {}
    monkeypatch.setitem(sys.modules, "fastopt.bench.fake", types.SimpleNamespace(run=run))
    monkeypatch.setattr(bench, "SECTIONS", ("fake",))
    assert bench.main(["--quick", "--sections", "fake"]) == 0
    out = capsys.readouterr().out
    assert "  [met] fast enough (1.2x)\n  [MISSED] small enough (0.7x)\n" in out
    tail = out[out.index("== Targets: 1 met, 1 missed"):]
    assert "[met] fast enough" in tail and "[MISSED] small enough" in tail, out


def test_quick_and_full_are_exclusive():
    import pytest
    from fastopt.bench import __main__ as bench
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--full"])


def test_ratios_without_torch_print_a_dash_not_nan():
    from fastopt.bench import sparse
    assert sparse._ratio(float("nan"), 1e-6).strip() == "-"
    assert sparse._ratio(3e-6, 1e-6).strip() == "3.0x"


def test_plot_draws_a_grid_of_speed_ups_from_the_dense_rows(tmp_path):
    import pytest
    pytest.importorskip("matplotlib")
    from fastopt.bench import plot
    rows = []
    for algo, fused in (("adagrad", True), ("adam", True), ("rmsprop", False), ("sgd", True)):
        for n in (1000, 100_000):
            times = {"fastopt": 1.0 * n, "fastopt N": 0.6 * n, "bound": 0.9 * n,
                     "bound N": 0.5 * n, "numpy in-place": 3.0 * n, "torch foreach": 2.0 * n}
            if fused:
                times.update({"torch fused": 1.5 * n, "torch fused N": 1.0 * n})
            rows.append(dict(algo=algo, dtype="float32", n=n, times=times))
    assert plot._series(rows[:2], "torch fused N", "fastopt N", "bound N") == (
        [(1000, 1.0 / 0.6), (100_000, 1.0 / 0.6)], [(1000, 2.0), (100_000, 2.0)])
    path = tmp_path / "grid.png"
    plot.plot({"dense": {"rows": rows, "threads": 2}}, str(path))
    from matplotlib import image
    height, width = image.imread(str(path)).shape[:2]
    assert width <= 1600 and height <= 1300, (width, height)   # one screen, not a 6600 px strip
    with pytest.raises(SystemExit):
        plot.plot({"dense": {"rows": []}}, str(path))


def test_burnt_after_counts_the_cpu_a_step_leaves_running():
    """The idle-workers row's instrument: a 'step' that leaves a thread spinning through the
    50 ms window is charged for it; one that leaves nothing running is charged (almost)
    nothing. (The spinner outlasts the window: the main thread may wait a GIL switch interval
    before it reads the clock, and the spinner must still be running then.)"""
    import threading
    import time

    from fastopt.bench import threads

    def leaves_a_spinner():
        def spin():
            end = time.perf_counter() + 0.1
            while time.perf_counter() < end:
                pass
        threading.Thread(target=spin, daemon=True).start()

    busy = threads._burnt_after(leaves_a_spinner, rounds=3)
    time.sleep(0.2)   # the last spinners end
    idle = threads._burnt_after(lambda: None, rounds=3)
    assert busy > 0.015 and idle < 0.01, (busy, idle)


def test_idle_workers_row_names_the_runtime_and_sets_a_target_only_for_the_bundled_one(
        capsys):
    from fastopt import _openmp
    from fastopt.bench import _timing, threads
    _timing.TARGETS.clear()
    rows = threads._idle_workers(None, 2)
    out = capsys.readouterr().out
    assert f"OpenMP runtime: {_openmp.RUNTIME}" in out
    assert rows[("idle workers", "fastopt")]["cpu"] >= 0
    flagged = [t for t in _timing.TARGETS if "idle fastopt workers" in t]
    assert len(flagged) == (1 if _openmp.RUNTIME == "bundled" else 0)
    assert threads._idle_workers(None, 1) == {}   # nothing to measure on one thread


def test_training_loop_row_times_both_optimizers_and_flags_its_target(capsys):
    from conftest import torch_or_skip
    from fastopt.bench import _timing, torch_models
    torch = torch_or_skip()
    _timing.TARGETS.clear()
    out = torch_models._training_loop(torch, 1, rounds=2, width=64, batch=8, iters=7)
    assert set(out) == {"torch fused", "fastopt"}
    assert all(v["fwd+bwd"] > 0 and v["step"] > 0 for v in out.values())
    assert len([t for t in _timing.TARGETS if "training loop" in t]) == 1
    assert "forward+backward" in capsys.readouterr().out


def test_half_section_times_row_sparse_adagrad_in_every_storage(capsys):
    """The half section's sparse table: a row per storage, fastopt's time at each count, and
    torch's ratio where torch takes the dtype (float32 and bfloat16 COO grads)."""
    import pytest
    from fastopt.bench import half
    from fastopt.bench._timing import try_torch
    bf16 = half._bf16()
    if bf16 is None:
        pytest.skip("ml_dtypes is not installed")
    torch = try_torch()
    rows = half._sparse_rows(torch, bf16, [1], 0.005, 1, True)
    assert [r["storage"] for r in rows] == list(half.STORAGE)
    assert [r["bytes_per_row"] for r in rows] == [64 * 16, 64 * 8, 64 * 18, 64 * 12]
    assert all(r["times"]["fastopt 1"] > 0 for r in rows)
    if torch is not None:
        assert sorted(r["storage"] for r in rows if "torch 1" in r["times"]) == [
            "bf16", "float32"]
    out = capsys.readouterr().out
    assert "row-sparse adagrad" in out and "bfloat16 + fp32 masters" in out


def test_alternating_timer_takes_turns_and_reports_each_functions_best():
    from fastopt.bench._timing import seconds_per_call_alternating
    calls = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    best = seconds_per_call_alternating(fns, samples=3, sample_time=0.0, max_number=10)
    assert set(best) == {"a", "b"} and all(0 < t < 1 for t in best.values())
    # two warm-up calls each, then one call per sample, the functions taking turns
    assert calls == ["a", "a", "b", "b"] + ["a", "b"] * 3
    calls.clear()
    slow = {"x": lambda: calls.append("x"), "y": lambda: (calls.append("y"), time.sleep(0.002))}
    seconds_per_call_alternating(slow, samples=2, sample_time=0.001, max_number=50)
    tail = calls[4:]   # a sample of x is several calls (each ~1 us), of y one (2 ms)
    assert tail.count("y") == 2 and tail[0] == "x" and tail[tail.index("y") + 1] == "x"
