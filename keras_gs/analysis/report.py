"""The analysis's outputs: a CSV, plots over training, a short summary.

Every file is written atomically (a temporary file renamed over the final
name), so a reader never sees half of one.
"""

import csv
import io
import math
import os

from keras_gs.analysis import analyze
from keras_gs.analysis import sampling
from keras_gs.conflicts.layer_groups import ALL
from keras_gs.utils import atomic_files

CSV = "conflicts.csv"
AGREEMENT_PNG = "agreement.png"
COSINE_PNG = "cosine.png"
_TITLES = {
    sampling.SINGLE_CLASS: "single-class batches (mean over classes)",
    sampling.ALL_CLASSES: "all-class batches",
}


def write_outputs(report, output_dir: str) -> list[str]:
    """Writes `conflicts.csv`, `agreement.png` and `cosine.png`.

    Args:
        report: an `analyze.ConflictReport`.
        output_dir: str, created if needed.

    Returns:
        The paths written.
    """
    os.makedirs(output_dir, exist_ok=True)
    paths = [
        os.path.join(output_dir, name)
        for name in (CSV, AGREEMENT_PNG, COSINE_PNG)
    ]
    write_csv(report, paths[0])
    plot_agreement(report, paths[1])
    plot_cosines(report, paths[2])
    return paths


def write_csv(report, path: str):
    """One row per checkpoint, kind of batch, class and layer.

    Columns: `analyze.COLUMNS`; measures with 6 significant digits, an
    unknown step empty.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=analyze.COLUMNS, lineterminator="\n"
    )
    writer.writeheader()
    for row in report.rows:
        writer.writerow(
            {
                k: (
                    f"{v:.6g}"
                    if isinstance(v, float)
                    else ("" if v is None else v)
                )
                for k, v in row.items()
            }
        )
    atomic_files.write_text(path, buffer.getvalue())


def plot_agreement(report, path: str, kinds=None):
    """Sign agreement (%) over training, one line per layer.

    One panel per kind of batch; layers coloured from the input (dark) to
    the output (light), the whole network in black.

    Args:
        report: an `analyze.ConflictReport`.
        path: str, the PNG to write.
        kinds: kinds of batch to plot. Defaults to both that are present.
    """
    kinds = _kinds(report, kinds)
    figure, axes = _figure(1, len(kinds), (5.0, 3.4))
    styles = _layer_styles(report.layers)
    # With many layers, the legend names the first, the last and "all".
    named = {s[0] for s in styles} if len(styles) <= 13 else {
        styles[0][0], styles[-2][0], ALL
    }
    for ax, kind in zip(axes[0], kinds):
        for layer, color, width in styles:
            x, values, labels = _series(report, kind, layer, "sign_agreement")
            ax.plot(
                x,
                [100 * v for v in values],
                color=color,
                linewidth=width,
                marker="o" if len(x) == 1 else None,
                label=layer if layer in named else "_nolegend_",
            )
        _axis(ax, _TITLES[kind], "agreeing components (%)", labels)
    axes[0][-1].legend(
        fontsize="x-small", loc="center left", bbox_to_anchor=(1.0, 0.5)
    )
    figure.suptitle(
        f"Sign agreement of {report.num_domains} domain gradients, per layer"
    )
    _save(figure, path)


def plot_cosines(report, path: str, kinds=None, columns: int | None = None):
    """Intra- vs inter-domain cosine over training, one panel per layer.

    Solid: intra-domain (pairs of examples of one domain); dashed:
    inter-domain (pairs from two domains). Single-class batches in colour,
    all-class batches in grey.

    Args:
        report: an `analyze.ConflictReport`.
        path: str, the PNG to write.
        kinds: kinds of batch to plot. Defaults to both that are present.
        columns: int, panels per row. Defaults to `None`: 3, or 6 for
            more than 12 panels.
    """
    kinds = _kinds(report, kinds)
    layers = report.layers
    columns = columns or (3 if len(layers) <= 12 else 6)
    columns = max(1, min(columns, len(layers)))
    rows = math.ceil(len(layers) / columns)
    figure, axes = _figure(rows, columns, (3.3, 2.5))
    styles = {
        sampling.SINGLE_CLASS: ("tab:blue", "tab:red", "single class"),
        sampling.ALL_CLASSES: ("0.55", "0.55", "all classes"),
    }
    for index, layer in enumerate(layers):
        ax = axes[index // columns][index % columns]
        for kind in kinds:
            intra_color, inter_color, name = styles[kind]
            x, intra, labels = _series(report, kind, layer, "intra_cosine")
            _, inter, _ = _series(report, kind, layer, "inter_cosine")
            ax.plot(x, intra, color=intra_color, label=f"intra, {name}")
            ax.plot(
                x, inter, color=inter_color, linestyle="--",
                label=f"inter, {name}",
            )
        ax.axhline(0.0, color="0.85", linewidth=0.8, zorder=0)
        _axis(ax, layer, "cosine" if index % columns == 0 else None, labels)
    for index in range(len(layers), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    handles, names = axes[0][0].get_legend_handles_labels()
    figure.legend(
        handles, names, loc="lower center", ncol=len(names),
        fontsize="small", frameon=False,
    )
    figure.suptitle(
        "Cosine between per-example gradients: within a domain (intra) vs "
        "across domains (inter)",
        fontsize="medium",
    )
    figure.tight_layout(rect=(0, 0.06, 1, 0.95))
    _save(figure, path, tight=False)


def summary(report, header: str = "") -> str:
    """A few lines: the whole network's measures at the first and last
    checkpoint, and the layers that conflict most at the last.

    Args:
        report: an `analyze.ConflictReport`.
        header: str, a first line. Defaults to `""`.

    Returns:
        str.
    """
    lines = [header] if header else []
    for kind in _kinds(report, None):
        label = _label(kind)
        whole = report.select(kind, label, ALL)
        first, last = whole[0], whole[-1]
        span = (
            f"{_name(first)} -> {_name(last)}"
            if len(whole) > 1
            else _name(first)
        )
        lines.append(
            f"{_TITLES[kind]}, whole network, {span}: "
            f"agreement {_change(first, last, 'sign_agreement', pct=True)}, "
            f"intra cos {_change(first, last, 'intra_cosine')}, "
            f"inter cos {_change(first, last, 'inter_cosine')}, "
            f"domain cos {_change(first, last, 'domain_cosine')}"
        )
        at_last = [
            r
            for r in report.rows
            if r["checkpoint"] == last["checkpoint"]
            and r["batches"] == kind
            and r["class"] == label
            and r["layer"] != ALL
        ]
        if at_last:
            lowest = min(at_last, key=lambda r: r["sign_agreement"])
            gap = max(
                at_last, key=lambda r: r["intra_cosine"] - r["inter_cosine"]
            )
            lines.append(
                f"  at {_name(last)}: lowest agreement {lowest['layer']} "
                f"({100 * lowest['sign_agreement']:.1f}%); largest intra - "
                f"inter gap {gap['layer']} ({gap['intra_cosine']:.3f} vs "
                f"{gap['inter_cosine']:.3f})"
            )
    return "\n".join(lines)


# -- helpers ------------------------------------------------------------------


def _kinds(report, kinds):
    present = {r["batches"] for r in report.rows}
    kinds = [k for k in (kinds or sampling.KINDS) if k in present]
    if not kinds:
        raise ValueError("The report has no rows to plot.")
    return kinds


def _label(kind):
    return (
        analyze.MEAN
        if kind == sampling.SINGLE_CLASS
        else analyze.ALL_CLASSES_LABEL
    )


def _series(report, kind, layer, measure):
    """x positions, values and (x tick labels or None) over checkpoints."""
    rows = report.select(kind, _label(kind), layer)
    if all(r["step"] is not None for r in rows):
        return [r["step"] for r in rows], [r[measure] for r in rows], None
    names = [r["checkpoint"] for r in rows]
    return list(range(len(rows))), [r[measure] for r in rows], names


def _layer_styles(layers):
    from matplotlib import colormaps

    named = [name for name in layers if name != ALL]
    cmap = colormaps["viridis"]
    styles = [
        (name, cmap(0.9 * i / max(1, len(named) - 1)), 1.3)
        for i, name in enumerate(named)
    ]
    if ALL in layers:
        styles.append((ALL, "black", 2.2))
    return styles


def _figure(rows, columns, panel_size):
    from matplotlib.figure import Figure

    figure = Figure(
        figsize=(panel_size[0] * columns + 1.2, panel_size[1] * rows + 0.8),
        dpi=90,
    )
    axes = figure.subplots(rows, columns, squeeze=False)
    return figure, axes


def _axis(ax, title, ylabel, tick_labels):
    ax.set_title(title, fontsize="small")
    if ylabel:
        ax.set_ylabel(ylabel, fontsize="small")
    if tick_labels is not None:
        ax.set_xticks(range(len(tick_labels)), tick_labels, rotation=45)
    else:
        ax.set_xlabel("training step", fontsize="small")
    ax.tick_params(labelsize="x-small")
    ax.grid(alpha=0.3)


def _save(figure, path, tight=True):
    if tight:
        figure.tight_layout()
    with atomic_files.atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")


def _name(row):
    return f"step {row['step']}" if row["step"] is not None else row[
        "checkpoint"]


def _change(first, last, measure, pct=False):
    def fmt(v):
        return f"{100 * v:.1f}%" if pct else f"{v:.3f}"

    if first is last:
        return fmt(first[measure])
    return f"{fmt(first[measure])} -> {fmt(last[measure])}"
