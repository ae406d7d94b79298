"""The textbooks' 2-D experiment: optimizers on f(x) = 0.1 x1^2 + 2 x2^2 from x = (-5, -2).

20 steps each, float64, gradient (0.2 x1, 4 x2), with the textbook settings:

    python examples/trajectories_2d.py               # print "epoch 20, x1 ..., x2 ..." each
    python examples/trajectories_2d.py --plot DIR    # also DIR/<name>.png: the path over f's contours

The settings are the texts' (d2l's chapter on optimization): gradient descent with eta 0.4
and 0.6 (0.6 diverges along x2), momentum with beta 0.5, Adagrad with eps 1e-6 *inside* the
root (``eps_inside_sqrt=True``), RMSprop with gamma 0.9 (torch's ``alpha``), AdaDelta with rho
0.9 and Adam.
"""
import argparse
import os

import numpy as np

import fastopt

X0 = (-5.0, -2.0)
STEPS = 20


def f(x1, x2):
    return 0.1 * x1 ** 2 + 2 * x2 ** 2


def grad(x):
    return np.array([0.2, 4.0]) * x


#: name -> how to build the optimizer for param list `ps`
OPTIMIZERS = {
    "gd, eta 0.4": lambda ps: fastopt.SGD(ps, lr=0.4),
    "gd, eta 0.6": lambda ps: fastopt.SGD(ps, lr=0.6),
    "momentum, eta 0.4, beta 0.5": lambda ps: fastopt.SGD(ps, lr=0.4, momentum=0.5),
    "momentum, eta 0.6, beta 0.5": lambda ps: fastopt.SGD(ps, lr=0.6, momentum=0.5),
    "adagrad, eta 0.4": lambda ps: fastopt.Adagrad(ps, lr=0.4, eps=1e-6, eps_inside_sqrt=True),
    "adagrad, eta 2": lambda ps: fastopt.Adagrad(ps, lr=2.0, eps=1e-6, eps_inside_sqrt=True),
    "rmsprop, eta 0.4, gamma 0.9": lambda ps: fastopt.RMSprop(ps, lr=0.4, alpha=0.9, eps=1e-6,
                                                              eps_inside_sqrt=True),
    "adadelta, rho 0.9": lambda ps: fastopt.Adadelta(ps, lr=1.0, rho=0.9),
    "adam, eta 0.5": lambda ps: fastopt.Adam(ps, lr=0.5),
}


def trajectory(make, steps=STEPS):
    """The points x_0 .. x_steps of one optimizer on f."""
    x = np.array(X0)
    opt = make([x])
    points = [x.copy()]
    for _ in range(steps):
        opt.step([grad(x)])
        points.append(x.copy())
    return np.array(points)


#: the textbook's view of f: x1 in [-5.5, 1], x2 in [-3, 1]
VIEW = ((-5.5, 1.0), (-3.0, 1.0))


def plot_limits(points, view=VIEW, margin=0.05):
    """((x1 lo, hi), (x2 lo, hi)): the textbook's view, widened so that every point shows.

    A path that leaves the view (gd with eta 0.6 diverges along x2) widens that axis to the
    path's extent plus ``margin`` of it on each side, so no point is clipped.
    """
    limits = []
    for axis, (lo, hi) in enumerate(view):
        p_lo, p_hi = float(points[:, axis].min()), float(points[:, axis].max())
        if p_lo < lo or p_hi > hi:
            pad = margin * (max(hi, p_hi) - min(lo, p_lo))
            lo, hi = min(lo, p_lo - pad), max(hi, p_hi + pad)
        limits.append((lo, hi))
    return tuple(limits)


def plot(name, points, directory):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    (x1_lo, x1_hi), (x2_lo, x2_hi) = plot_limits(points)
    x1, x2 = np.meshgrid(np.linspace(x1_lo, x1_hi, 200), np.linspace(x2_lo, x2_hi, 200))
    ax.contour(x1, x2, f(x1, x2), levels=15, colors="#1f77b4", linewidths=0.8)
    ax.plot(*points.T, "-o", color="#ff7f0e", markersize=3)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(name)
    ax.set_xlim(x1_lo, x1_hi)
    ax.set_ylim(x2_lo, x2_hi)
    fig.tight_layout()
    safe = name.replace(", ", "_").replace(" ", "")
    fig.savefig(os.path.join(directory, f"{safe}.png"), dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="DIR", help="write one PNG per optimizer into DIR")
    parser.add_argument("--quick", action="store_true", help="(same run: it is already quick)")
    args = parser.parse_args(argv)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--plot needs matplotlib: pip install matplotlib")
        os.makedirs(args.plot, exist_ok=True)
    results = {}
    for name, make in OPTIMIZERS.items():
        points = trajectory(make)
        results[name] = points
        x1, x2 = points[-1]
        print(f"{name:32s} epoch {STEPS}, x1 {x1:f}, x2 {x2:f}")
        if args.plot:
            plot(name, points, args.plot)
    return results


if __name__ == "__main__":
    main()
