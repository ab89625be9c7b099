"""The report's plots (matplotlib, no pyplot state): quality against speed, bars with intervals, one metric across
protocols.

Every method keeps one colour in every plot and is named by its display title. The quality-speed plot draws the suite's
quality metric(s) (``report.quality_speed``) against ms/image, one figure per protocol and device setting, each point
labelled, with its 95% CI (and the p10-p90 of its time where measured) and the Pareto front of that metric in its
direction. A bar chart draws the panels that have values; its title names only what is drawn (intervals, published
rows). Each plot is written as PNG and SVG under ``plots/``; a plot whose data are absent is skipped with its reason.
Outputs are byte-identical across reruns (fixed SVG hash salt, no dates in the metadata).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.tables import METRICS, PUBLISHED, SPREAD, place, setting, spreads
from pftryon.models import atomic_write

__all__ = ["Plot", "method_colours", "pareto_front", "quality_speed_metrics", "write_plots"]

_DEFAULT_QUALITY = ("ssim",)  # the quality-speed plot of a suite that names neither quality_speed nor lead metrics
_SPEED = "ms_per_image"
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf", "#393b79", "#ad494a")  # fmt: skip
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")  # one per latency setting of a device
_RC = {
    "svg.hashsalt": "pftryon-report",
    "text.parse_math": False,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_LABEL_PT = 8  # point labels' font size


@dataclass(frozen=True)
class Plot:
    """A written plot: ``name`` (file stem), a one-line ``title``, its PNG and SVG paths, its ``kind``
    (``quality_speed``, ``bars``, ``cross_protocol``) and the ``metric`` it is about (a bar chart's)."""

    name: str
    title: str
    png: Path
    svg: Path
    kind: str = ""
    metric: str = ""


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


def method_colours(methods: Sequence[str]) -> dict[str, str]:
    """One colour per method, in report order (the same in every plot)."""
    return {m: _COLOURS[i % len(_COLOURS)] for i, m in enumerate(methods)}


def quality_speed_metrics(report: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The quality metric(s) of the quality-speed plot: the suite's ``report.quality_speed``, else its lead metrics,
    else SSIM."""
    return tuple(report.get("quality_speed") or report.get("lead") or _DEFAULT_QUALITY)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _figure(
    panels: int, *, cols: int = 3, size: tuple[float, float] = (4.6, 3.4), legend: Sequence[str] = (),
    below: float = 0.6, left: float = 0.85,
):  # fmt: skip
    """A figure of ``panels`` axes (``cols`` per row, each ``size`` inches) with a fixed layout: room on the right
    for a legend of the ``legend`` labels, ``below`` inches under each row for tick labels and the x label, ``left``
    inches beside each panel for its y labels. (Constrained layout would do this at twice the drawing time.)"""
    from matplotlib.figure import Figure

    cols = min(panels, cols)
    rows = -(-panels // cols)
    right = 0.075 * max(map(len, legend)) + 0.7 if legend else 0.25  # about 0.075 in per character at 9 pt
    title = 0.35  # a title line: the figure's above the first row, each panel's above its axes
    width, height = cols * (size[0] + left) + right, rows * (size[1] + below + title) + title
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - 2 * title / height,
                        bottom=below / height, wspace=left / size[0], hspace=(below + title) / size[1])  # fmt: skip
    for ax in axes[panels:]:
        ax.set_visible(False)
    return fig, axes[:panels]


def _legend(fig, handles: list) -> None:
    """The legend in the room :func:`_figure` kept on the right."""
    right = fig.subplotpars.right + 0.15 / fig.get_figwidth()
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(right, fig.subplotpars.top), frameon=False)


def _save(fig, out: Path, name: str, title: str, kind: str, metric: str = "") -> Plot:
    """Write ``fig`` as PNG and SVG (inside :func:`write_plots`'s rc context, which fixes the SVG hash salt)."""
    plot = Plot(name, title, out / f"{name}.png", out / f"{name}.svg", kind, metric)
    for path, fmt, metadata in ((plot.png, "png", {"Software": None}), (plot.svg, "svg", {"Date": None})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=110, metadata=metadata)
        atomic_write(path, buffer.getvalue())
    return plot


def _panel_title(dataset: str, split: str, protocol: str) -> str:
    return place(dataset, split) + (f" ({protocol})" if protocol else "")


def _interval(value: float, low: float, high: float) -> list[list[float]] | None:
    """A one-point asymmetric error bar, or ``None`` where no interval was computed."""
    if np.isnan(low) or np.isnan(high):
        return None
    return [[max(value - low, 0.0)], [max(high - value, 0.0)]]


def _place_labels(ax, points: list[tuple[float, float, str, str]]) -> None:
    """Write each point's label beside it (right, else left, above or below), inside the axes (or as little out of them
    as it can) and off the markers and the labels already placed: ``points`` are ``(x, y, text, colour)`` in data
    coordinates."""
    ax.get_xlim(), ax.get_ylim()  # settles the limits the transform reads
    to_pixels = ax.transData.transform
    frame = ax.bbox
    height = _LABEL_PT * ax.figure.dpi / 72 * 1.25
    dots = [to_pixels((x, y)) for x, y, _, _ in points]
    placed = [(px - 5, py - 5, px + 5, py + 5) for px, py in dots]  # labels keep off the markers too

    def free(box: tuple[float, ...]) -> bool:
        return not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed)

    def overflow(box: tuple[float, ...]) -> float:
        """How far ``box`` reaches out of the axes, in pixels (0 inside)."""
        return sum(max(0.0, d) for d in (frame.x0 - box[0], box[2] - frame.x1, frame.y0 - box[1], box[3] - frame.y1))

    order = sorted(points, key=lambda p: -to_pixels((p[0], p[1]))[1])
    for x, y, text, colour in order:
        px, py = to_pixels((x, y))
        width = 0.6 * _LABEL_PT * ax.figure.dpi / 72 * len(text)
        # (side, dy): a label right of the point starts 6 px after it, one left of it ends 6 px before it (so the
        # estimated width only decides where it fits, never where the text begins).
        offsets = [("left", 3), ("left", -height - 1), ("right", 3), ("right", -height - 1), ("left", height + 3),
                   ("left", -2 * height - 3), ("right", height + 3), ("right", -2 * height - 3)]  # fmt: skip
        boxes = [(ha, dy, (px + 6, py + dy, px + 6 + width, py + dy + height) if ha == "left"
                  else (px - 6 - width, py + dy, px - 6, py + dy + height)) for ha, dy in offsets]  # fmt: skip
        ha, dy, box = min(boxes, key=lambda b: (overflow(b[2]), not free(b[2])))  # the first best, in order
        placed.append(box)
        dx = 6 if ha == "left" else -6
        ax.annotate(text, (x, y), xytext=(dx * 72 / ax.figure.dpi, dy * 72 / ax.figure.dpi), textcoords="offset points",
                    fontsize=_LABEL_PT, color=colour, va="bottom", ha=ha, zorder=4)  # fmt: skip


def _scatter(ax, points: pd.DataFrame, metric: str, colours: Mapping[str, str], titles: Mapping[str, str],
             markers: Mapping[tuple[str, str, str], str]) -> bool:  # fmt: skip
    """One panel: ``metric`` against ms/image, a point per method and setting with its CI (and p10-p90 of its time),
    the measured points' Pareto front. Returns whether a Pareto front was drawn."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    labels = []
    for record in points.to_dict("records"):
        x, y, method = record["value_speed"], record["value"], record["method"]
        published = record["source"] == PUBLISHED
        spread = record["spread"]
        xerr = None if spread is None else [[max(x - spread[0], 0.0)], [max(spread[1] - x, 0.0)]]
        colour = colours[method]
        ax.errorbar([x], [y], yerr=_interval(y, record["ci_low"], record["ci_high"]), xerr=xerr,
                    fmt=markers[record["device_speed"], record["dtype_speed"], record["batch_speed"]], color=colour,
                    markerfacecolor="none" if published else colour, markersize=7, elinewidth=1, capsize=2,
                    zorder=3)  # fmt: skip
        labels.append((x, y, titles[method] + (" †" if published else ""), colour))
    measured = points[points["source"] != PUBLISHED].sort_values("value_speed", kind="mergesort")
    higher = METRICS[metric].higher_is_better
    front = measured[pareto_front(measured["value_speed"], measured["value"], y_higher_is_better=higher)]
    if len(front) > 1:
        ax.step(front["value_speed"], front["value"], where="post", color="#555", alpha=0.7, linestyle="--",
                linewidth=1.1, zorder=2)  # fmt: skip
    if points["value_speed"].max() > 20 * points["value_speed"].min() > 0:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels of a log axis overlap
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # plain text: math parsing is off
    ax.margins(x=0.12, y=0.1)
    ax.grid(alpha=0.3)
    ax.set(xlabel=f"{METRICS[_SPEED].heading} (median)", ylabel=METRICS[metric].heading)
    _place_labels(ax, labels)
    return len(front) > 1


def _quality_speed(frame: pd.DataFrame, metrics: Sequence[str], colours: Mapping[str, str],
                   titles: Mapping[str, str], out: Path) -> list[Plot | tuple[str, str]]:  # fmt: skip
    """``metrics`` against ms/image: one figure per dataset, protocol and device (a panel per metric), a marker per
    dtype and batch of that device. Measured quality pairs with measured speed of the same method; published with
    published of the same citation."""
    from matplotlib.lines import Line2D

    finite = frame[frame["value"].notna()]
    scores, costs = finite[finite["metric"].isin(metrics)], finite[finite["metric"] == _SPEED]
    names = " and ".join(METRICS[m].label for m in metrics)
    if costs.empty:
        return [("quality_speed", "no ms/image values (no latency measured)")]
    points = scores.merge(costs, on=["method", "source", "citation"], suffixes=("", "_speed"))
    # A speed row tied to a dataset pairs only with quality rows of that dataset.
    points = points[(points["dataset_speed"] == "") | (points["dataset_speed"] == points["dataset"])]
    if points.empty:
        return [("quality_speed", f"no method has both {names} and ms/image")]
    spread = spreads(frame)
    where = ["method", "source", "citation", "device_speed", "dtype_speed", "batch_speed", "dataset_speed",
             "split_speed"]  # fmt: skip
    points = points.assign(spread=[spread.get(tuple(r)) for r in points[where].itertuples(index=False)])
    points = points.assign(device_kind=points["device_speed"].str.split().str[0])
    datasets = points[["dataset", "split"]].drop_duplicates().shape[0]
    drawn: list[Plot | tuple[str, str]] = []
    for (dataset, split, protocol, kind), group in points.groupby(["dataset", "split", "protocol", "device_kind"],
                                                                  sort=True):  # fmt: skip
        panels = [m for m in metrics if m in set(group["metric"])]
        settings = sorted(set(zip(group["device_speed"], group["dtype_speed"], group["batch_speed"], strict=True)))
        markers = {s: _MARKERS[i % len(_MARKERS)] for i, s in enumerate(settings)}
        handles = [Line2D([], [], color="#444", marker=markers[s], linestyle="", label=setting(*s))
                   for s in settings] if len(settings) > 1 else []  # fmt: skip
        if (group["source"] == PUBLISHED).any():
            handles.append(Line2D([], [], color="#444", marker="o", markerfacecolor="none", linestyle="",
                                  label="† published (hollow)"))  # fmt: skip
        room = [h.get_label() for h in handles] + ["Pareto front (measured)"]
        fig, axes = _figure(len(panels), cols=2, size=(5.4, 4.0), legend=room)
        fronts = [_scatter(ax, group[group["metric"] == metric], metric, colours, titles, markers)
                  for ax, metric in zip(axes, panels, strict=True)]  # fmt: skip
        if any(fronts):
            handles.append(Line2D([], [], color="#555", linestyle="--", label="Pareto front (measured)"))
        if handles:
            _legend(fig, handles)
        what = " and ".join(METRICS[m].label for m in panels)
        device = setting(*settings[0]) if len(settings) == 1 else group["device_speed"].iloc[0]
        title = f"{what} against ms/image: {protocol} on {place(dataset, split)}, {device}"
        fig.suptitle(title)
        name = f"quality_speed_{_slug(protocol)}_{_slug(kind)}" + (f"_{_slug(dataset)}" if datasets > 1 else "")
        drawn.append(_save(fig, out, name, title, "quality_speed"))
    return drawn


def _bar_layout(labels: Sequence[str], bars: int, panels: int, *, legend: Sequence[str] = ()):
    """A figure of ``panels`` horizontal bar charts (two a row) of ``bars`` bars, room on the left for ``labels``."""
    left = 0.07 * max(map(len, labels)) + 0.35  # about 0.07 in per character of a 9 pt tick label
    height = 0.26 * bars + 0.45
    return _figure(panels, cols=2, size=(4.0, height), below=0.55, left=left, legend=legend)


def _bars(frame: pd.DataFrame, metric: str, colours: Mapping[str, str], titles: Mapping[str, str], methods: list[str],
          out: Path) -> Plot | str:  # fmt: skip
    """One panel per table group that has values: a horizontal bar per method and source, in report order; published
    bars hatched; ms/image with p10-p90 whiskers where measured, else 95% CI error bars where computed."""
    rows = frame[(frame["metric"] == metric) & frame["value"].notna()]
    spec = METRICS[metric]
    if rows.empty:
        return f"no {spec.label} values"
    groups = ["device", "dtype", "batch", "dataset", "split"] if spec.speed else ["dataset", "split"]
    groups.append("protocol")
    panels = list(rows.groupby(groups, sort=True))
    spread = spreads(frame) if metric == _SPEED else {}
    labels = [titles[m] + (" †" if s == PUBLISHED else "") for m, s in zip(rows["method"], rows["source"], strict=True)]
    fig, axes = _bar_layout(labels, max(len(panel) for _, panel in panels), len(panels))
    rank = {m: i for i, m in enumerate(methods)}
    cis = whiskers = published_any = False
    for ax, (key, panel) in zip(axes, panels, strict=True):
        panel = panel.assign(_rank=panel["method"].map(rank)).sort_values(["_rank", "source", "citation"])
        positions = np.arange(len(panel))
        published = (panel["source"] == PUBLISHED).to_numpy()
        values = panel["value"].to_numpy()
        lows, highs = panel["ci_low"].to_numpy(copy=True), panel["ci_high"].to_numpy(copy=True)
        where = ["method", "source", "citation", "device", "dtype", "batch", "dataset", "split"]
        spread_of = [spread.get(tuple(record)) for record in panel[where].itertuples(index=False)]
        cis |= any(s is None and not np.isnan(lo) and not np.isnan(hi) for s, lo, hi in zip(spread_of, lows, highs,
                                                                                            strict=True))  # fmt: skip
        for i, pair in enumerate(spread_of):
            if pair is not None:  # the p10-p90 of a time, in place of its CI
                lows[i], highs[i] = pair
                whiskers = True
        errors = np.vstack([np.clip(values - lows, 0, None), np.clip(highs - values, 0, None)])
        drawn = ax.barh(positions, values, color=[colours[m] for m in panel["method"]], edgecolor="#333",
                        linewidth=0.6, xerr=errors, capsize=3, height=0.7)  # fmt: skip
        for bar, is_published in zip(drawn, published, strict=True):
            if is_published:
                bar.set_alpha(0.45)
                bar.set_hatch("//")
        published_any |= bool(published.any())
        ax.set_yticks(positions, [titles[m] + (" †" if p else "") for m, p in zip(panel["method"], published,
                                                                                 strict=True)])  # fmt: skip
        ax.invert_yaxis()
        title = setting(*key[:3]) if spec.speed else _panel_title(key[0], key[1], key[2])
        ax.set(title=title, xlabel=spec.heading)
        ax.grid(axis="x", alpha=0.3)
    notes = (["median; whiskers p10–p90"] if whiskers else []) + (["95% CI"] if cis else [])
    notes += ["† published, hatched"] if published_any else []
    title = f"{spec.label} per method" + (f" ({'; '.join(notes)})" if notes else "")
    fig.suptitle(title)
    return _save(fig, out, f"bars_{metric}", title, "bars", metric)


def _cross_protocol(frame: pd.DataFrame, metric: str, colours: Mapping[str, str], titles: Mapping[str, str],
                    methods: list[str], out: Path) -> Plot:  # fmt: skip
    """Grouped horizontal bars: per method, the measured ``metric`` under each of its protocols (two or more; with
    dataset/split when they vary), a shade per protocol."""
    rows = frame[(frame["metric"] == metric) & (frame["source"] != PUBLISHED) & frame["value"].notna()]
    rows = rows.assign(_under=[_panel_title(d, s, p) for d, s, p in zip(rows["dataset"], rows["split"],
                                                                        rows["protocol"], strict=True)])  # fmt: skip
    unders = sorted(set(rows["_under"]))
    shown = [m for m in methods if m in set(rows["method"])]
    fig, axes = _bar_layout([titles[m] for m in shown], len(shown) * len(unders) // 2 + len(shown), 1, legend=unders)
    ax = axes[0]
    height = 0.8 / len(unders)
    shades = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")
    cis = False
    for i, under in enumerate(unders):
        part = rows[rows["_under"] == under].set_index("method").reindex(shown)
        positions = np.arange(len(shown)) + (i - (len(unders) - 1) / 2) * height
        below, above = part["value"] - part["ci_low"], part["ci_high"] - part["value"]
        errors = np.vstack([below.clip(lower=0), above.clip(lower=0)])
        cis |= bool(np.isfinite(errors).any())
        ax.barh(positions, part["value"], height, label=under, color=shades[i % len(shades)], xerr=errors, capsize=2)
    ax.set_yticks(np.arange(len(shown)), [titles[m] for m in shown])
    ax.invert_yaxis()
    ax.set(xlabel=METRICS[metric].heading)
    ax.grid(axis="x", alpha=0.3)
    _legend(fig, ax.get_legend_handles_labels()[0])
    title = f"{METRICS[metric].label} under each protocol (measured{', 95% CI' if cis else ''})"
    fig.suptitle(title)
    return _save(fig, out, f"cross_protocol_{metric}", title, "cross_protocol", metric)


def write_plots(
    frame: pd.DataFrame, methods: list[str], out: Path, *, titles: Mapping[str, str] | None = None,
    quality_speed: Sequence[str] = _DEFAULT_QUALITY,
) -> tuple[list[Plot], list[tuple[str, str]]]:  # fmt: skip
    """Write every plot the data allow under ``out`` (a :func:`~bench.report.tables.prepare`-d frame).

    Args:
        frame: the prepared results.
        methods: method order (colours follow it).
        out: the plots folder.
        titles: display title per method (default: the names).
        quality_speed: the quality metric(s) of the quality-speed plot (one panel each).

    Returns:
        The plots written, and ``(name, reason)`` for each plot skipped.
    """
    import matplotlib

    titles = {m: m for m in methods} | dict(titles or {})
    colours = method_colours(methods)
    present = [m for m in METRICS if m in set(frame["metric"]) and m not in SPREAD]
    wanted = [m for m in quality_speed if m in present]
    plots, skipped = [], []
    with matplotlib.rc_context(_RC):
        results: list[Plot | tuple[str, str]] = []
        if wanted:
            results += _quality_speed(frame, wanted, colours, titles, out)
        else:
            names = ", ".join(METRICS[m].label if m in METRICS else m for m in quality_speed)
            results.append(("quality_speed", f"no {names} rows"))
        for metric in present:
            bars = _bars(frame, metric, colours, titles, methods, out)
            results.append(bars if isinstance(bars, Plot) else (f"bars_{metric}", bars))
        measured = frame[(frame["source"] != PUBLISHED) & frame["value"].notna()]
        across = measured.groupby("metric")["protocol"].nunique()
        results += [_cross_protocol(frame, metric, colours, titles, methods, out)
                    for metric in present if not METRICS[metric].speed and across.get(metric, 0) > 1]  # fmt: skip
        for result in results:
            if isinstance(result, Plot):
                plots.append(result)
            else:
                skipped.append(result)
    return plots, skipped
