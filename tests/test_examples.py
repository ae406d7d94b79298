"""The examples run and converge (checked against the problem, not hard-coded numbers)."""
import importlib.util
import os

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")


def load(name):
    path = os.path.join(EXAMPLES, f"{name}.py")
    if not os.path.exists(path):
        pytest.skip("examples/ is not beside the tests (installed without the source tree)")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_trajectories_2d(capsys):
    ex = load("trajectories_2d")
    results = ex.main([])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(ex.OPTIMIZERS)
    assert all(", epoch 20, x1 " in line or " epoch 20, x1 " in line for line in out)
    f0 = ex.f(*ex.X0)
    for name, points in results.items():
        assert points.shape == (21, 2)
        final = ex.f(*points[-1])
        if name == "gd, eta 0.6":
            # the texts' point: eta 0.6 overshoots along x2 (|1 - 0.6 * 4| > 1) and diverges
            assert abs(points[-1][1]) > abs(ex.X0[1]), name
        else:
            assert final < f0, name
    # the well-tuned ones get close to the minimum
    for name in ("momentum, eta 0.4, beta 0.5", "adagrad, eta 2", "rmsprop, eta 0.4, gamma 0.9"):
        assert ex.f(*results[name][-1]) < 0.05 * f0, name


def test_trajectories_2d_match_the_textbook_formulas():
    """Gradient descent and Adagrad (eps inside the root) against their two-line formulas."""
    ex = load("trajectories_2d")
    x = np.array(ex.X0)
    s = np.zeros(2)
    gd = [x.copy()]
    ada = [x.copy()]
    y = x.copy()
    for _ in range(ex.STEPS):
        x = x - 0.4 * ex.grad(x)
        gd.append(x)
        g = ex.grad(y)
        s = s + g * g
        y = y - 0.4 / np.sqrt(s + 1e-6) * g
        ada.append(y)
    np.testing.assert_allclose(ex.trajectory(ex.OPTIMIZERS["gd, eta 0.4"]), gd, rtol=1e-12)
    np.testing.assert_allclose(ex.trajectory(ex.OPTIMIZERS["adagrad, eta 0.4"]), ada,
                               rtol=1e-12)


def test_linear_regression(capsys):
    ex = load("linear_regression")
    results = ex.main(["--quick"])
    assert "epoch 2, loss" in capsys.readouterr().out
    for name, (w, b, losses) in results.items():
        assert w.dtype == np.float32
        assert losses[-1] < 0.05 * losses[0], (name, losses)
        np.testing.assert_allclose(w, ex.TRUE_W, atol=0.1, err_msg=name)
        assert abs(b[0] - ex.TRUE_B) < 0.1, name


def test_linear_regression_plot_without_matplotlib_fails_before_training(monkeypatch, capsys):
    import sys
    ex = load("linear_regression")
    trained = []
    monkeypatch.setattr(ex, "train", lambda *a: trained.append(a))
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # import matplotlib -> ImportError
    with pytest.raises(SystemExit):
        ex.main(["--quick", "--plot", "loss.png"])
    assert "--plot needs matplotlib" in capsys.readouterr().err
    assert not trained


def test_trajectories_2d_plot_limits_show_every_point():
    ex = load("trajectories_2d")
    for name, make in ex.OPTIMIZERS.items():
        points = ex.trajectory(make)
        (x1_lo, x1_hi), (x2_lo, x2_hi) = ex.plot_limits(points)
        assert x1_lo < points[:, 0].min() and points[:, 0].max() < x1_hi, name
        assert x2_lo < points[:, 1].min() and points[:, 1].max() < x2_hi, name
        # never narrower than the textbook's view
        assert x1_lo <= ex.VIEW[0][0] and x1_hi >= ex.VIEW[0][1], name
        assert x2_lo <= ex.VIEW[1][0] and x2_hi >= ex.VIEW[1][1], name
    # the diverging path leaves the view, so the view widens along x2
    diverging = ex.trajectory(ex.OPTIMIZERS["gd, eta 0.6"])
    assert ex.plot_limits(diverging)[1] != ex.VIEW[1]


def test_trajectories_2d_plot_writes_one_png_each(tmp_path):
    pytest.importorskip("matplotlib")
    ex = load("trajectories_2d")
    ex.main(["--plot", str(tmp_path)])
    assert len(list(tmp_path.glob("*.png"))) == len(ex.OPTIMIZERS)
