"""The report's plots (matplotlib, no pyplot state): quality against speed, bars with CIs, one metric across protocols.

Each plot is written as PNG and SVG under ``plots/``; a plot whose data are absent is skipped with its reason.
Outputs are byte-identical across reruns (fixed SVG hash salt, no dates in the metadata).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.tables import METRICS, PUBLISHED, place, setting
from pftryon.models import atomic_write

__all__ = ["Plot", "pareto_front", "write_plots"]

_QUALITY_AXES = ("ssim", "lpips", "fid")
_SPEED_AXES = ("ms_per_image", "gflops")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p")
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
_RC = {
    "svg.hashsalt": "pftryon-report",
    "text.parse_math": False,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@dataclass(frozen=True)
class Plot:
    """A written plot: ``name`` (file stem), a one-line ``title``, and its PNG and SVG paths."""

    name: str
    title: str
    png: Path
    svg: Path


def pareto_front(x: Sequence[float], y: Sequence[float], *, y_higher_is_better: bool = True) -> np.ndarray:
    """Which points no other point beats: lower ``x`` is better, ``y`` as ``y_higher_is_better`` says.

    A point is dominated when another is at least as good on both axes and strictly better on one; equal points do
    not dominate each other. Points with a NaN coordinate are never on the front.

    Returns:
        A boolean mask over the points.

    Example:
        >>> pareto_front([10, 20, 30], [0.80, 0.90, 0.85]).tolist()
        [True, True, False]
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float) * (1 if y_higher_is_better else -1)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must have the same length, got {xs.shape} and {ys.shape}")
    valid = ~(np.isnan(xs) | np.isnan(ys))
    no_worse = (xs[None, :] <= xs[:, None]) & (ys[None, :] >= ys[:, None])
    better = (xs[None, :] < xs[:, None]) | (ys[None, :] > ys[:, None])
    dominated = (no_worse & better & valid[None, :]).any(axis=1)
    return valid & ~dominated


def _figure(
    panels: int, *, cols: int = 3, size: tuple[float, float] = (4.6, 3.4), legend: list[str] = (), below: float = 0.6
):
    """A figure of ``panels`` axes (``cols`` per row, each ``size`` inches) with a fixed layout: room on the right
    for a legend of the ``legend`` labels, ``below`` inches under each row for tick labels and the x label.
    (Constrained layout would do this at twice the drawing time.)"""
    from matplotlib.figure import Figure

    cols = min(panels, cols)
    rows = -(-panels // cols)
    right = 0.075 * max(map(len, legend)) + 0.7 if legend else 0.25  # about 0.075 in per character at 9 pt
    title = 0.35  # a title line: the figure's above the first row, each panel's above its axes
    width, height = cols * size[0] + 0.85 + right, rows * (size[1] + below + title) + title
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    fig.subplots_adjust(left=0.85 / width, right=1 - right / width, top=1 - 2 * title / height,
                        bottom=below / height, wspace=0.3, hspace=(below + title) / size[1])  # fmt: skip
    for ax in axes[panels:]:
        ax.set_visible(False)
    return fig, axes[:panels]


def _legend(fig, handles: list) -> None:
    """The legend in the room :func:`_figure` kept on the right."""
    right = fig.subplotpars.right + 0.15 / fig.get_figwidth()
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(right, fig.subplotpars.top), frameon=False)


def _save(fig, out: Path, name: str, title: str) -> Plot:
    """Write ``fig`` as PNG and SVG (inside :func:`write_plots`'s rc context, which fixes the SVG hash salt)."""
    plot = Plot(name, title, out / f"{name}.png", out / f"{name}.svg")
    for path, fmt, metadata in ((plot.png, "png", {"Software": None}), (plot.svg, "svg", {"Date": None})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=110, metadata=metadata)
        atomic_write(path, buffer.getvalue())
    return plot


def _panel_title(dataset: str, split: str, protocol: str) -> str:
    return place(dataset, split) + (f" ({protocol})" if protocol else "")


def _scatter(ax, points: pd.DataFrame, quality: str, colour: dict, marker: dict[str, str]) -> None:
    """The points of one panel (one speed axis), coloured by setting, with a Pareto front per setting."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    for where, group in points.groupby(["device_speed", "dtype_speed", "batch_speed"], sort=True):
        for record in group.to_dict("records"):
            fill = "none" if record["source"] == PUBLISHED else colour[where]
            ax.scatter(record["value_speed"], record["value"], s=55, marker=marker[record["method"]], zorder=3,
                       facecolors=fill, edgecolors=colour[where], linewidths=1.4)  # fmt: skip
        measured = group[group["source"] != PUBLISHED].sort_values("value_speed", kind="mergesort")
        higher = METRICS[quality].higher_is_better
        front = measured[pareto_front(measured["value_speed"], measured["value"], y_higher_is_better=higher)]
        if len(front) > 1:
            ax.step(front["value_speed"], front["value"], where="post", color=colour[where], alpha=0.6,
                    linestyle="--", linewidth=1.2, zorder=2)  # fmt: skip
    if points["value_speed"].max() > 20 * points["value_speed"].min() > 0:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels of a log axis overlap
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))  # plain text: math parsing is off
    ax.grid(alpha=0.3)


def _quality_speed(frame: pd.DataFrame, quality: str, methods: list[str], out: Path) -> Plot | str:
    """``quality`` against ms/image and GFLOPs: a row of panels per dataset/split/protocol, Pareto fronts marked.

    Measured quality pairs with measured speed of the same method; published with published of the same citation.
    """
    from matplotlib.lines import Line2D

    finite = frame[frame["value"].notna()]
    scores, costs = finite[finite["metric"] == quality], finite[finite["metric"].isin(_SPEED_AXES)]
    if costs.empty:
        return "no ms/image or GFLOPs rows (no latency measured)"
    points = scores.merge(costs, on=["method", "source", "citation"], suffixes=("", "_speed"))
    # A speed row tied to a dataset pairs only with quality rows of that dataset.
    points = points[(points["dataset_speed"] == "") | (points["dataset_speed"] == points["dataset"])]
    if points.empty:
        return f"no method has both {METRICS[quality].label} and ms/image or GFLOPs"
    speeds = [s for s in _SPEED_AXES if s in set(points["metric_speed"])]
    settings = sorted(set(zip(points["device_speed"], points["dtype_speed"], points["batch_speed"], strict=True)))
    colour = {s: _COLOURS[i % len(_COLOURS)] for i, s in enumerate(settings)}
    marker = {m: _MARKERS[i % len(_MARKERS)] for i, m in enumerate(methods)}
    panels = list(points.groupby(["dataset", "split", "protocol"], sort=True))
    shown = [m for m in methods if m in set(points["method"])]
    handles = [Line2D([], [], color="#444", marker=marker[m], linestyle="", label=m) for m in shown]
    handles += [Line2D([], [], color=colour[s], marker="o", linestyle="", label=setting(*s)) for s in settings]
    if (points["source"] != PUBLISHED).any():
        handles.append(Line2D([], [], color="#444", linestyle="--", label="Pareto front (measured)"))
    if (points["source"] == PUBLISHED).any():
        handles.append(Line2D([], [], color="#444", marker="o", markerfacecolor="none", linestyle="",
                              label="† published (hollow)"))  # fmt: skip
    fig, axes = _figure(len(panels) * len(speeds), cols=len(speeds), legend=[h.get_label() for h in handles])
    for i, ((dataset, split, protocol), panel) in enumerate(panels):
        for ax, speed in zip(axes[i * len(speeds) :], speeds, strict=False):
            ax.set(title=_panel_title(dataset, split, protocol), xlabel=METRICS[speed].heading,
                   ylabel=METRICS[quality].heading)  # fmt: skip
            if (panel["metric_speed"] == speed).any():
                _scatter(ax, panel[panel["metric_speed"] == speed], quality, colour, marker)
    _legend(fig, handles)
    title = f"{METRICS[quality].label} against " + " and ".join(METRICS[s].label for s in speeds)
    fig.suptitle(title)
    return _save(fig, out, f"quality_speed_{quality}", title)


def _error_bars(values: pd.Series, lows: pd.Series, highs: pd.Series) -> np.ndarray:
    """Asymmetric error bar lengths (2 x n); NaN (no bar drawn) where no interval was computed."""
    below, above = (values - lows).clip(lower=0), (highs - values).clip(lower=0)
    return np.vstack([below.to_numpy(), above.to_numpy()])


def _bars(frame: pd.DataFrame, metric: str, methods: list[str], out: Path) -> Plot | str:
    """One panel per table group: a bar per method and source, CI error bars, published bars hatched."""
    rows = frame[frame["metric"] == metric]
    if rows["value"].notna().sum() == 0:
        return f"no {METRICS[metric].label} values"
    groups = ["device", "dtype", "batch", "dataset", "split"] if METRICS[metric].speed else ["dataset", "split"]
    groups.append("protocol")
    panels = list(rows.groupby(groups, sort=True))
    bars = max(len(panel) for _, panel in panels)
    fig, axes = _figure(len(panels), size=(max(3.4, 0.45 * bars + 1.2), 3.2), below=0.75)
    rank = {m: i for i, m in enumerate(methods)}
    for ax, (key, panel) in zip(axes, panels, strict=True):
        panel = panel.assign(_rank=panel["method"].map(rank)).sort_values(["_rank", "source", "citation"])
        positions = np.arange(len(panel))
        published = (panel["source"] == PUBLISHED).to_numpy()
        heights = panel["value"].fillna(0).to_numpy()
        colours = [_COLOURS[rank[m] % len(_COLOURS)] for m in panel["method"]]
        drawn = ax.bar(positions, heights, color=colours, edgecolor="#333", linewidth=0.6,
                      yerr=_error_bars(panel["value"], panel["ci_low"], panel["ci_high"]), capsize=3)  # fmt: skip
        for bar, is_published in zip(drawn, published, strict=True):
            if is_published:
                bar.set_alpha(0.45)
                bar.set_hatch("//")
        for position, value in zip(positions, panel["value"], strict=True):
            if np.isnan(value):
                ax.annotate("n/a", (position, 0), ha="center", va="bottom", fontsize=8, color="#a00")
        labels = [f"{m} †" if p else m for m, p in zip(panel["method"], published, strict=True)]
        ax.set_xticks(positions, labels, rotation=30, ha="right")
        title = setting(*key[:3]) if METRICS[metric].speed else _panel_title(key[0], key[1], key[2])
        ax.set(title=title, ylabel=METRICS[metric].heading)
        ax.grid(axis="y", alpha=0.3)
    title = f"{METRICS[metric].label} per method (95% CI; † published, hatched)"
    fig.suptitle(title)
    return _save(fig, out, f"bars_{metric}", title)


def _cross_protocol(frame: pd.DataFrame, metric: str, methods: list[str], out: Path) -> Plot | str:
    """Grouped bars: per method, the measured ``metric`` under each protocol (with dataset/split when they vary)."""
    rows = frame[(frame["metric"] == metric) & (frame["source"] != PUBLISHED) & frame["value"].notna()]
    rows = rows.assign(_under=[_panel_title(d, s, p) for d, s, p in zip(rows["dataset"], rows["split"],
                                                                        rows["protocol"], strict=True)])  # fmt: skip
    unders = sorted(set(rows["_under"]))
    if len(set(rows["protocol"])) < 2:
        return f"{METRICS[metric].label} measured under fewer than two protocols"
    shown = [m for m in methods if m in set(rows["method"])]
    fig, axes = _figure(1, size=(max(4.0, 0.3 * len(shown) * len(unders) + 1.5), 3.4), legend=unders, below=0.7)
    ax = axes[0]
    width = 0.8 / len(unders)
    for i, under in enumerate(unders):
        part = rows[rows["_under"] == under].set_index("method").reindex(shown)
        positions = np.arange(len(shown)) + (i - (len(unders) - 1) / 2) * width
        ax.bar(positions, part["value"], width, label=under, color=_COLOURS[i % len(_COLOURS)],
               yerr=_error_bars(part["value"], part["ci_low"], part["ci_high"]), capsize=2)  # fmt: skip
    ax.set_xticks(np.arange(len(shown)), shown, rotation=30, ha="right")
    ax.set(ylabel=METRICS[metric].heading)
    ax.grid(axis="y", alpha=0.3)
    _legend(fig, ax.get_legend_handles_labels()[0])
    title = f"{METRICS[metric].label} under each protocol (measured, 95% CI)"
    fig.suptitle(title)
    return _save(fig, out, f"cross_protocol_{metric}", title)


def write_plots(frame: pd.DataFrame, methods: list[str], out: Path) -> tuple[list[Plot], list[tuple[str, str]]]:
    """Write every plot the data allow under ``out`` (a :func:`~bench.report.tables.prepare`-d frame).

    Args:
        frame: the prepared results.
        methods: method order (markers and colours follow it).
        out: the plots folder.

    Returns:
        The plots written, and ``(name, reason)`` for each plot skipped.
    """
    import matplotlib

    present = [m for m in METRICS if m in set(frame["metric"])]
    jobs = [(f"quality_speed_{q}", _quality_speed, (q,)) for q in _QUALITY_AXES if q in present]
    jobs += [(f"bars_{m}", _bars, (m,)) for m in present]
    jobs += [(f"cross_protocol_{m}", _cross_protocol, (m,)) for m in present if not METRICS[m].speed]
    plots, skipped = [], []
    with matplotlib.rc_context(_RC):
        for name, draw, args in jobs:
            result = draw(frame, *args, methods, out)
            if isinstance(result, Plot):
                plots.append(result)
            else:
                skipped.append((name, result))
    return plots, skipped
