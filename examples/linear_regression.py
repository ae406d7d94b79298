"""Minibatch linear regression trained from scratch with each fastopt optimizer.

Synthetic data as in the texts: 1000 samples, x ~ N(0, 1)^2, y = x @ [2, -3.4] + 4.2 + noise
(std 0.01); minibatches of 10, float32; the gradient of the mean squared loss / 2 written out
by hand. For each optimizer, prints the loss after every epoch and the learned w and b.
(AdaDelta gets eps=1e-4: with its default 1e-6 its first steps are ~1e-3 long and two epochs
are not enough to cross the 4.2 to the intercept.)

    python examples/linear_regression.py [--epochs 3] [--quick] [--plot loss.png]
"""
import argparse

import numpy as np

import fastopt

TRUE_W = np.array([2.0, -3.4], np.float32)
TRUE_B = np.float32(4.2)

OPTIMIZERS = {
    "SGD": lambda ps: fastopt.SGD(ps, lr=0.03),
    "SGD momentum": lambda ps: fastopt.SGD(ps, lr=0.01, momentum=0.9),
    "Adagrad": lambda ps: fastopt.Adagrad(ps, lr=0.5),
    "RMSprop": lambda ps: fastopt.RMSprop(ps, lr=0.03, alpha=0.9),
    "Adadelta": lambda ps: fastopt.Adadelta(ps, lr=1.0, rho=0.9, eps=1e-4),
    "Adam": lambda ps: fastopt.Adam(ps, lr=0.1),
    "AdamW": lambda ps: fastopt.AdamW(ps, lr=0.1, weight_decay=1e-4),
}


def synthetic_data(n=1000, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2)).astype(np.float32)
    y = (X @ TRUE_W + TRUE_B + rng.normal(0, noise, n)).astype(np.float32)
    return X, y


def loss(X, y, w, b):
    return float(np.mean((X @ w + b - y) ** 2) / 2)


def train(make, X, y, epochs, batch=10, seed=1):
    """Train w, b from zero; returns (w, b, losses after each epoch, starting with epoch 0)."""
    rng = np.random.default_rng(seed)
    w = np.zeros(2, np.float32)
    b = np.zeros(1, np.float32)
    opt = make([w, b])
    losses = [loss(X, y, w, b)]
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch):
            idx = order[start:start + batch]
            err = X[idx] @ w + b - y[idx]
            opt.step([X[idx].T @ err / len(idx), np.array([err.mean()], np.float32)])
        losses.append(loss(X, y, w, b))
    return w, b, losses


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2 epochs")
    parser.add_argument("--plot", metavar="FILE.png", help="loss vs epoch for each optimizer")
    args = parser.parse_args(argv)
    if args.plot:   # say so before training, not after
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--plot needs matplotlib: pip install matplotlib")
    epochs = 2 if args.quick else args.epochs
    X, y = synthetic_data()
    results = {}
    for name, make in OPTIMIZERS.items():
        w, b, losses = train(make, X, y, epochs)
        results[name] = (w, b, losses)
        print(f"{name}:")
        for epoch, value in enumerate(losses[1:], 1):
            print(f"  epoch {epoch}, loss {value:f}")
        print(f"  w {w}, b {b[0]:f} (true w {TRUE_W}, b {TRUE_B:f})")
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, (_, _, losses) in results.items():
            ax.plot(range(len(losses)), losses, "-o", label=name)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"plot written to {args.plot}")
    return results


if __name__ == "__main__":
    main()
