"""``--plot FILE.png``: the dense section as a grid that fits one screen (needs matplotlib).

Top two rows: fastopt's speed-up over torch.optim's fused step (foreach where torch has no
fused kernel: then 1 thread only) against n, one panel per algorithm, float32; bottom two rows: its
speed-up over the tuned in-place NumPy step (NumPy runs on one thread). Solid lines: fastopt at
1 thread and at N threads; dashed: the speed-up fastopt would have at memory speed (the other
time over the streaming probe's at the same thread count), so the gap to the dashed line is
what is left to gain.
"""


def _series(rows, other, mine, bound):
    """(n, other / mine) and (n, other / bound) points where all three were measured."""
    pts = [(r["n"], r["times"][other], r["times"][mine], r["times"][bound]) for r in rows
           if all(k in r["times"] for k in (other, mine, bound))]
    return [(n, o / m) for n, o, m, _ in pts], [(n, o / b) for n, o, _, b in pts]


def plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install 'fastopt[plot]'") from None
    dense = results.get("dense", {})
    rows = [r for r in dense.get("rows", []) if r["dtype"] == "float32"]
    algos = list(dict.fromkeys(r["algo"] for r in rows))
    if not algos:
        raise SystemExit("--plot needs the dense section")
    n_top = dense.get("threads", 1)
    cols = 3
    per = -(-len(algos) // cols)   # panel rows per comparison
    fig, axes = plt.subplots(2 * per, cols, figsize=(4.6 * cols, 3.0 * 2 * per),
                             squeeze=False)
    for k, algo in enumerate(algos):
        mine = [r for r in rows if r["algo"] == algo]
        has_fused = any("torch fused" in r["times"] for r in mine)
        torch_key = "torch fused" if has_fused else "torch foreach"
        for block, (other, label) in enumerate(((torch_key, torch_key),
                                                ("numpy in-place", "NumPy in-place"))):
            ax = axes[block * per + k // cols][k % cols]
            runs = [("1 thread", other, "fastopt", "bound")]
            if n_top > 1 and other in ("torch fused", "numpy in-place"):
                # torch fused at N threads; NumPy has one thread whatever N is
                other_n = "torch fused N" if other == "torch fused" else other
                runs.append((f"{n_top} threads", other_n, "fastopt N", "bound N"))
            for color, (name, o, m, b) in zip(("C0", "C1"), runs):
                speed, bound = _series(mine, o, m, b)
                if speed:
                    ax.plot(*zip(*speed), "-", marker="o", color=color, label=f"fastopt, {name}")
                    ax.plot(*zip(*bound), "--", color=color, alpha=0.6,
                            label=f"at memory speed, {name}")
            ax.axhline(1.0, color="0.5", lw=0.8)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{algo}: speed-up over {label}", fontsize=10)
            ax.set_xlabel("n (float32 elements)", fontsize=8)
            ax.grid(True, which="both", alpha=0.3)
            ax.tick_params(labelsize=8)
            if k == 0:
                ax.legend(fontsize=7)
    for k in range(len(algos), per * cols):   # empty panels of a short last row
        for block in range(2):
            axes[block * per + k // cols][k % cols].axis("off")
    fig.suptitle(f"fastopt speed-up (other time / fastopt time), 1 and {n_top} threads; "
                 "dashed: at memory speed", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
