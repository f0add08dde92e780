"""A recipe's loss curves as a figure, for the report."""

from __future__ import annotations

from pathlib import Path


def plot_curves(records: list[dict], path: Path) -> Path:
    """Training loss (thin) and eval loss (markers) against step, one colour per recipe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, r in enumerate(records):
        colour = f"C{i}"
        ax.plot([p["step"] for p in r["loss"]], [p["loss"] for p in r["loss"]], color=colour, alpha=0.5,
                linewidth=1, label=f"{r['recipe']} train")
        ax.plot([p["step"] for p in r["eval"]], [p["eval_loss"] for p in r["eval"]], color=colour, marker="o",
                label=f"{r['recipe']} eval")
        ax.axvline(r["best_step"], color=colour, linestyle=":", linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (answer tokens)")
    ax.set_title("adapter recipes: training and held-out loss (dotted: step kept)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
