"""ZeroRedundancyOptimizer(optimizer_class=fastopt.torch.<X>) with 2 processes on gloo over
loopback equals a single-process run (params and optimizer state). Needs torch."""
import os
import socket
import subprocess
import sys

import pytest

import fastopt
from conftest import torch_or_skip
from torch_cases import ZERO_CASES
from torch_util import TOL, classes, make_data, make_model, train

TIMEOUT = 240  # seconds for both ranks together; the run itself takes a few seconds


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("bucket_view", [False, True], ids=["plain", "bucket_view"])
@pytest.mark.parametrize("case", ZERO_CASES, ids=[c.name for c in ZERO_CASES])
def test_zero_redundancy_optimizer_two_ranks(case, bucket_view, tmp_path):
    torch = torch_or_skip()
    out = tmp_path / "rank0.pt"
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastopt.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root, os.environ.get("PYTHONPATH", "")]), GLOO_SOCKET_IFNAME="lo",
        OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_zero_worker.py")
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, worker, str(rank), "2", str(port), str(out),
                               case.name, "1" if bucket_view else "0"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for rank in range(2)]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=TIMEOUT)[0].decode(errors="replace"))
    except subprocess.TimeoutExpired:
        pytest.fail(f"ZeRO ranks did not finish within {TIMEOUT} s")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for rank, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0, f"rank {rank} failed:\n{log}"

    got = torch.load(out)
    ours_cls, _ = classes(case)
    model = make_model()
    opt = ours_cls(model.parameters(), lr=0.05)
    train(model, opt, make_data(20))
    tol = TOL["float32"]
    for a, b in zip(got["params"], model.parameters()):
        torch.testing.assert_close(a, b.detach(), **tol)
    # the consolidated state dict is a fastopt one and matches the single-process state
    sd, ref = got["state_dict"], opt.state_dict()
    assert len(sd["state"]) == len(ref["state"])
    for i, st in ref["state"].items():
        for k, v in st.items():
            torch.testing.assert_close(sd["state"][i][k], v, **tol)
