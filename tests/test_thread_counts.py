"""Multi-threaded steps: bitwise the same for every thread count, on every ISA path, and the
controls (set_num_threads, num_threads, FASTOPT_NUM_THREADS, threadpoolctl, fork).

A dense step's elements (across all its params) are cut into equal runs at cache-line
multiples of each param's start; a row-sparse step's rows are dealt out by index counts and
their updates cut into equal runs (both in src_c/threads.c). Here the per-thread minimum is
lowered so that even small arrays are cut, and awkward sizes put cuts inside params and vector
blocks.
"""
import glob
import os
import subprocess
import sys

import numpy as np
import pytest

import fastopt
from fastopt import _kernels
from cases import CASE_IDS, CASES
from conftest import DTYPES, THIN
from test_kernels_vs_reference import assert_bitwise
from test_sparse_rows import SPARSE_CASES, SPARSE_IDS, _lists, sparse_grad
from fastopt import SparseRows

SIZES = (0, 1, 7, 15, 17, 33, 1023, 4097, 100003)
#: many small params: cuts land inside them and between them
SMALL = (1, 7, 15, 17, 33, 0, 31) * 12


@pytest.fixture
def small_cuts():
    before = _kernels.thread_min_elements(16)
    yield
    _kernels.thread_min_elements(before)


def _steps(case, hyper, dtype, threads, sizes, impl=None, n_steps=2):
    rng = np.random.default_rng(7)
    params = [rng.standard_normal(n).astype(dtype) for n in sizes]
    states = case.lists([case.new_state(p, hyper) for p in params])
    with fastopt.num_threads(threads):
        for step in range(1, n_steps + 1):
            grads = [rng.standard_normal(p.size).astype(dtype) for p in params]
            case.run(impl or case.functional, params, grads, states, step, hyper)
    return params, states


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("sizes", [SIZES, SMALL], ids=["awkward", "many-small"])
def test_every_thread_count_gives_the_reference_bitwise(case, dtype, sizes, isa, small_cuts,
                                                        threaded):
    for hyper in case.grid[:: max(1, len(case.grid) // (2 if THIN else 6))]:
        want_p, want_s = _steps(case, hyper, dtype, 1, sizes, impl=case.reference)
        for threads in ((1, 3) if THIN else (1, 2, 3, 4)):   # (THIN: conftest)
            got_p, got_s = _steps(case, hyper, dtype, threads, sizes)
            for i, (a, b) in enumerate(zip(got_p, want_p)):
                assert_bitwise(a, b, f"{case.name} param {i}, {threads} threads, {hyper}")
            for k in want_s:
                for i, (a, b) in enumerate(zip(got_s[k], want_s[k])):
                    assert_bitwise(a, b, f"{case.name} {k} {i}, {threads} threads, {hyper}")


def test_one_big_param_is_cut_and_matches_one_thread(threaded):
    n = 4 * _kernels.thread_min_elements() + 5
    rng = np.random.default_rng(1)
    p0, g = rng.standard_normal(n), rng.standard_normal(n)
    out = []
    for threads in (1, 2):
        p, s = p0.copy(), np.zeros(n)
        with fastopt.num_threads(threads):
            fastopt.functional.adagrad([p], [g], [s], 1, lr=0.1)
        out.append((p, s))
    assert_bitwise(out[0][0], out[1][0], "param")
    assert_bitwise(out[0][1], out[1][1], "sum")


def test_controls():
    default = fastopt.get_num_threads()
    assert 1 <= default <= max(1, len(os.sched_getaffinity(0)))
    fastopt.set_num_threads(1)
    try:
        assert fastopt.get_num_threads() == 1
        with fastopt.num_threads(2):
            assert fastopt.get_num_threads() == min(2, _kernels.threads_max())
        assert fastopt.get_num_threads() == 1
    finally:
        fastopt.set_num_threads(None)
    assert fastopt.get_num_threads() == default
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="thread count"):
            fastopt.set_num_threads(bad)
        with pytest.raises(ValueError, match="thread count"):
            with fastopt.num_threads(bad):
                pass
    assert fastopt.get_num_threads() == default
    config = fastopt._config.config()
    assert config["threads_runtime"] == "openmp" and config["threads"] == default


def _python(code, **env):
    full = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                          text=True, timeout=120)


def test_environment_variable():
    r = _python("import fastopt; print(fastopt.get_num_threads())", FASTOPT_NUM_THREADS="1")
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr
    r = _python("import fastopt", FASTOPT_NUM_THREADS="many")
    assert r.returncode != 0 and "FASTOPT_NUM_THREADS must be an int >= 1" in r.stderr


def test_openmp_limits_cap_the_count():
    r = _python("import fastopt; print(fastopt.get_num_threads())", OMP_NUM_THREADS="1")
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr


def test_threadpoolctl_sees_and_limits_fastopt():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    info = threadpoolctl.threadpool_info()
    assert any(i["user_api"] == "openmp" for i in info), info
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert fastopt.get_num_threads() == 1
    assert fastopt.get_num_threads() == min(fastopt._kernels.threads_setting()[1],
                                            _kernels.threads_max())


_WAIT_SETTINGS = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")


def _python_without_wait_settings(code, **env):
    full = {k: v for k, v in os.environ.items() if k not in _WAIT_SETTINGS}
    full.update(env)
    r = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_the_openmp_runtime_is_named_and_only_a_bundled_one_gets_a_short_spin():
    from fastopt import _openmp
    package = os.path.dirname(os.path.abspath(fastopt.__file__))
    bundled = glob.glob(os.path.join(os.path.dirname(package), "fastopt.libs", "libgomp*"))
    if os.environ.get("FASTOPT_TEST_INSTALLED") == "1":
        assert bundled, "the repaired wheel should carry its own libgomp in fastopt.libs/"
    runtime, spincount, left = _python_without_wait_settings(
        "import os, fastopt; from fastopt import _openmp\n"
        "print(_openmp.RUNTIME, _openmp.SPINCOUNT, os.environ.get('GOMP_SPINCOUNT'))")
    if _kernels.threads_runtime() == "none":
        assert (runtime, spincount) == ("none", "None")
    elif bundled:
        assert (runtime, spincount) == ("bundled", _openmp.BUNDLED_SPINCOUNT)
    else:   # the system's runtime, shared with torch: never touched
        assert (runtime, spincount) == ("system", "None")
    assert left == "None"   # set only while the extension loaded, then removed


@pytest.mark.parametrize("key, value", [("GOMP_SPINCOUNT", "50"), ("OMP_WAIT_POLICY", "active")])
def test_a_user_s_openmp_wait_setting_is_left_alone(key, value):
    spincount, seen = _python_without_wait_settings(
        f"import os, fastopt; from fastopt import _openmp\n"
        f"print(_openmp.SPINCOUNT, os.environ.get({key!r}))", **{key: value})
    assert (spincount, seen) == ("None", value)


def test_show_config_names_the_openmp_runtime(capsys):
    from fastopt import _openmp
    fastopt.show_config()
    line = [x for x in capsys.readouterr().out.splitlines() if "OpenMP runtime" in x]
    assert len(line) == 1
    assert {"bundled": "bundled with the wheel", "system": "the system's libgomp",
            "none": "none"}[_openmp.RUNTIME] in line[0]
    assert (f"GOMP_SPINCOUNT={_openmp.SPINCOUNT}" in line[0]) == (_openmp.SPINCOUNT is not None)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_steps_without_hanging():
    code = """
import os, sys, numpy as np, fastopt
n = 1 << 20
p, g, s = np.ones(n, np.float32), np.full(n, 0.5, np.float32), np.zeros(n, np.float32)
with fastopt.num_threads(2):
    fastopt.functional.adagrad([p], [g], [s], 1, lr=0.1)     # the pool exists now
    pid = os.fork()
    if pid == 0:
        fastopt.functional.adagrad([p], [g], [s], 2, lr=0.1)  # one thread in the child
        os._exit(0 if fastopt.get_num_threads() == 1 else 3)
    _, status = os.waitpid(pid, 0)
    fastopt.functional.adagrad([p], [g], [s], 2, lr=0.1)
print(os.waitstatus_to_exitcode(status))
"""
    r = _python(code)
    assert r.returncode == 0 and r.stdout.strip() == "0", (r.stdout, r.stderr)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", SPARSE_CASES, ids=SPARSE_IDS)
def test_row_sparse_steps_give_the_reference_bitwise_at_every_thread_count(case, dtype, isa,
                                                                             small_cuts,
                                                                             threaded):
    """Row steps deal their rows out to the threads (balanced by index counts; each row is
    folded by one thread, then the distinct rows are updated in equal runs): Zipf ids with many
    repeats, a few distinct ones, all one row; params and state bitwise the reference's at 1-4
    and 7 threads (more threads than rows: at most one per index), as many as OpenMP allows
    here (all of them in the child of test_row_steps_on_more_threads_than_cores)."""
    n_rows = 211
    for dim, ks in ((7, (1, 3, 300)), (33, (5, 2000))):
        for hyper in case.grid[:: max(1, len(case.grid) // 4)]:
            for k in ks:
                rng = np.random.default_rng(k + dim)
                p0 = rng.standard_normal((n_rows, dim)).astype(dtype)
                grads = [sparse_grad(rng, n_rows, dim, k, dtype) for _ in range(2)]
                grads.append(SparseRows(np.full(k, 5), np.ones((k, dim), dtype)))
                want_p, want_s = p0.copy(), case.init(p0, hyper)
                for step, g in enumerate(grads, 1):
                    case.run(case.reference, [want_p], [g], _lists(want_s), step, hyper)
                for threads in sorted({min(t, _kernels.threads_max()) for t in (1, 2, 3, 4, 7)}):
                    got_p, got_s = p0.copy(), case.init(p0, hyper)
                    with fastopt.num_threads(threads):
                        for step, g in enumerate(grads, 1):
                            case.run(case.functional, [got_p], [g], _lists(got_s), step,
                                     hyper)
                    what = f"{case.name} dim={dim} k={k} {threads} threads {hyper}"
                    assert_bitwise(got_p, want_p, f"param, {what}")
                    for key in want_s:
                        assert_bitwise(got_s[key], want_s[key], f"{key}, {what}")


@pytest.mark.skipif(os.environ.get("FASTOPT_THREADS_CHILD") == "1", reason="the child itself")
def test_row_steps_on_more_threads_than_cores():
    """The row-sparse thread tests at 3, 4 and 7 threads for real, in a child whose OpenMP
    allows 8 (this machine may have fewer cores: the threads then take turns, and must still
    give the same bits): more parts than a power of two, dealing over many threads, update
    runs that cross several threads' lists."""
    here = os.path.dirname(os.path.abspath(__file__))
    tests = [os.path.join(here, "test_thread_counts.py") + "::test_row_sparse_steps_give_the_"
             "reference_bitwise_at_every_thread_count",
             os.path.join(here, "test_half_rows.py") + "::test_half_rows_are_independent_of_"
             "the_thread_count"]
    allows = _python("from fastopt import _kernels; print(_kernels.threads_max())",
                     OMP_NUM_THREADS="8")
    assert allows.returncode == 0 and allows.stdout.strip() == "8", allows.stderr
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                       env=dict(os.environ, OMP_NUM_THREADS="8", FASTOPT_THREADS_CHILD="1"),
                       capture_output=True, text=True, timeout=900, cwd=here)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout, r.stdout[-2000:]

