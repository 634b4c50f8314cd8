"""The report's figures, drawn with matplotlib's object API on the Agg canvas.

No pyplot: it keeps global figure state, which a server's worker threads must not share, and it
would pick a display backend. Every figure is made, rendered to PNG bytes and dropped.
"""
from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .measure import Measurements

#: Errors are shown in thousandths: a flickering clip reads ~5-10, a steady one ~0.5.
SCALE = 1e3
UNIT = "×10⁻³"

#: One colour per version, in order; the source is drawn grey and dashed.
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
SOURCE_COLOUR = "#7f7f7f"


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def colour(version: int) -> str:
    return COLOURS[version % len(COLOURS)]


def error_plot(m: Measurements, *, seams=(), title: str | None = None) -> bytes:
    """Warp error per frame, one line per version and the source's own as a reference, the
    worst frame of each version marked, seams as dotted lines. PNG bytes."""
    fig = Figure(figsize=(10, 4.2), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    x = m.frames
    lone = len(x) == 1
    style = {"marker": "o", "markersize": 4} if lone or len(x) <= 40 else {}
    ax.plot(x, m.errors[0] * SCALE, color=SOURCE_COLOUR, linestyle="--", linewidth=1.2,
            label=f"{m.names[0]} itself (the floor) · mean {np.nanmean(m.errors[0]) * SCALE:.2f}",
            **style)
    for v, name in enumerate(m.versions):
        e = m.errors[v + 1] * SCALE
        stats = m.stats(v + 1)
        ax.plot(x, e, color=colour(v), linewidth=1.8, label=f"{name} · mean {stats['mean'] * SCALE:.2f}",
                **style)
        if stats["worst"]:
            frame, err = stats["worst"][0]
            ax.plot([frame], [err * SCALE], marker="v", markersize=9, color=colour(v),
                    markeredgecolor="black", linestyle="none")
            ax.annotate(f"worst: frame {frame}", (frame, err * SCALE), textcoords="offset points",
                        xytext=(6, 6), fontsize=9, color=colour(v))
    top = np.nanmax(m.errors * SCALE) if np.isfinite(m.errors).any() else 1.0
    for i, seam in enumerate(seams):
        ax.axvline(seam, color="black", linestyle=":", linewidth=1.2,
                   label="seam (first frame of a chunk)" if i == 0 else None)
        ax.annotate(f"seam {seam}", (seam, top * 1.1), textcoords="offset points", xytext=(3, -2),
                    fontsize=8, va="top")
    ax.set_ylim(0, top * 1.18 if top > 0 else 1.0)
    pad = 0.5 if lone else 0.0
    ax.set_xlim(x[0] - 0.5 - pad, x[-1] + 0.5 + pad)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=12))
    ax.set_xlabel(f"frame t (of the pair t−1 → t), numbered as in {m.names[0]}")
    ax.set_ylabel(f"warp error ({UNIT})\nlower is steadier")
    fig.suptitle(title or "Flicker per frame: what changed that the source's motion does not "
                 "explain", fontsize=12, x=0.01, ha="left")
    ax.grid(alpha=0.3)
    # Above the axes, so it never hides a line or the worst-frame marks.
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, fontsize=9, frameon=False)
    return _png(fig)


def heat_maps(m: Measurements) -> bytes | None:
    """For each version at its worst pair: frames t-1 and t and the squared error between them
    after motion compensation, on one colour scale. PNG bytes (None: nothing to show)."""
    if not m.worst:
        return None
    rows = len(m.worst)
    h, w = m.worst[0].residual.shape
    panel_w = 3.3
    fig = Figure(figsize=(3 * panel_w + 0.9, rows * panel_w * h / w + 0.55 * rows), dpi=110,
                 layout="constrained")
    finite = [p.residual[np.isfinite(p.residual)] for p in m.worst]
    vmax = max([float(np.percentile(f, 99.5)) for f in finite if f.size] or [1e-3]) * SCALE
    axes = fig.subplots(rows, 3, squeeze=False)
    image = None
    for r, pair in enumerate(m.worst):
        a, b, c = axes[r]
        a.imshow(pair.previous)
        a.set_title(f"{pair.version}: frame {pair.previous_frame}", fontsize=9, loc="left")
        b.imshow(pair.current)
        b.set_title(f"frame {pair.frame} (worst pair, {pair.error * SCALE:.2f})", fontsize=9,
                    loc="left")
        residual = np.ma.masked_invalid(pair.residual * SCALE)
        # A square-root scale: flicker is spread thin over a frame, and a linear scale would
        # show only the few brightest edges.
        image = c.imshow(residual, cmap=_heat_cmap(), norm=PowerNorm(0.5, vmin=0, vmax=vmax),
                         interpolation="nearest")
        c.set_title("where it changed (grey: occluded)", fontsize=9, loc="left")
        for ax in (a, b, c):
            ax.set_xticks([])
            ax.set_yticks([])
    bar = fig.colorbar(image, ax=axes[:, 2].tolist(), shrink=0.9, pad=0.02)
    bar.set_label(f"squared error per pixel ({UNIT})", fontsize=9)
    return _png(fig)


def _heat_cmap():
    from matplotlib import colormaps

    return colormaps["magma"].with_extremes(bad="#9a9a9a")
