"""The latency kind's report section: each variant's accuracy beside its speed and memory, in a
table and a plot."""

from __future__ import annotations

from pathlib import Path

NAME = "latency"


def tradeoffs(cells: list[dict], run_dir: Path, spec_name: str) -> dict | list:
    """The section's rows and the plot's file name; [] when no latency cell ran."""
    rows = tradeoff_rows(cells)
    if not rows:
        return []
    png = plot_tradeoffs(rows, Path(run_dir) / f"tradeoffs-{spec_name}.png", spec_name)
    return {"rows": rows, "plot": png.name}


def tradeoff_rows(cells: list[dict]) -> list[dict]:
    """One row per variant that has a latency cell: its accuracy (primary metric of its first
    accuracy cell: `percent`, its metrics are proportions) next to speed and memory."""
    ok = [c for c in cells if c["status"] == "ok"]
    rows = []
    for lat in (c for c in ok if c.get("kind") == NAME):
        m = lat["metrics"]
        acc = next((c for c in ok if c.get("percent") and c["variant"] == lat["variant"]), None)
        metric = None
        if acc:
            metric = next((v for k, v in acc["metrics"].items() if k.endswith("," + acc.get("primary_filter", ""))),
                          next(iter(acc["metrics"].values()), None))
        rows.append({"variant": lat["variant"], "settings": lat["resolved_variant"], "accuracy": metric,
                     "accuracy_cell": acc["item"] if acc else None,
                     **{k.replace(".", "_"): m[k]["value"] for k in m}})
    return rows


def plot_tradeoffs(rows: list[dict], path: Path, title: str) -> Path:
    """Accuracy against tokens/s, marker area proportional to the weights' footprint. When no
    accuracy cell ran (e.g. `-k latency`), weight memory against tokens/s instead."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with_acc = [r for r in rows if r["accuracy"] is not None]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    biggest = max(r["footprint_mb"] for r in rows) or 1.0    # served models: no weights here (0 MB)
    for i, r in enumerate(sorted(with_acc or rows, key=lambda r: r["tokens_per_s"])):  # alternate labels up/down
        acc = r["accuracy"]
        y = 100 * acc["value"] if with_acc else r["footprint_mb"]
        ax.scatter(r["tokens_per_s"], y, s=60 + 1400 * r["footprint_mb"] / biggest, alpha=0.55)
        if with_acc and acc.get("ci_low") is not None:
            ax.errorbar(r["tokens_per_s"], y, yerr=[[100 * (acc["value"] - acc["ci_low"])],
                        [100 * (acc["ci_high"] - acc["value"])]], color="grey", lw=0.8, capsize=3)
        ax.annotate(f"{r['variant']}\n{r['footprint_mb']:.0f} MB", (r["tokens_per_s"], y),
                    textcoords="offset points", xytext=(8, 6 if i % 2 == 0 else -22), fontsize=8)
    ax.set_xlabel("tokens/s (latency cell, higher is better)")
    if with_acc:
        ax.set_ylabel(f"{with_acc[0]['accuracy']['name']} % (95% CI)")
        ax.set_title(title + " (marker area: weight memory)")
    else:
        ax.set_ylabel("weight memory MB")
        ax.set_title(title + ": no accuracy cell in this run")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
