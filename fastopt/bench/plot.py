"""``--plot FILE.png``: ns/element vs n for each implementation (needs matplotlib)."""


def plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install 'fastopt[plot]'") from None
    rows = results.get("dense", {}).get("rows", [])
    panels = sorted({(r["algo"], r["dtype"]) for r in rows})
    if not panels:
        raise SystemExit("--plot needs the dense section")
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (algo, dtype) in zip(axes[0], panels):
        mine = [r for r in rows if r["algo"] == algo and r["dtype"] == dtype]
        for impl in mine[0]["times"]:
            pts = [(r["n"], r["times"][impl] / r["n"] * 1e9) for r in mine if impl in r["times"]]
            style = "--" if impl == "bound" else "-"
            ax.plot(*zip(*pts), style, marker="o", label=impl)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n (elements)")
        ax.set_ylabel("ns / element")
        ax.set_title(f"{algo} {dtype}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
