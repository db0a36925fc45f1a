"""The paper-style results table, from the `results.json` of finished runs.

`collect(workdir, selection)` reads every finished run under `workdir` and
returns one `ResultsTable` per dataset: rows are surgeries, columns are
target domains and their average; each cell is the mean ± std of the
selected test accuracy over trials, with the number of trials.
`write_reports` writes them as `results.md` (Markdown), `results.tex`
(LaTeX) and `results.png` (a grouped bar chart with error bars).
"""

import dataclasses
import glob
import math
import os
import statistics

from keras_gs import surgery as surgery_lib
from keras_gs.experiment import files
from keras_gs.experiment import selection as selection_lib
from keras_gs.utils.choices import check_choice

AVERAGE = "avg"


@dataclasses.dataclass
class ResultsTable:
    """Selected test accuracies of one dataset's finished runs.

    Args:
        dataset: str.
        selection: str, the selection rule the accuracies come from.
        surgeries: list of str, the rows.
        domains: list of str, the target domains (columns, before `avg`).
        accuracies: dict `(surgery, domain) -> {trial: accuracy}`.
    """

    dataset: str
    selection: str
    surgeries: list
    domains: list
    accuracies: dict

    def cell(self, surgery, domain):
        """`(mean, std, n)` of a cell, in [0, 1]; std None for n < 2.

        `domain == "avg"`: over the trials that finished every domain, the
        mean over domains of each trial, then mean and std over trials.
        """
        if domain == AVERAGE:
            per_domain = [
                self.accuracies.get((surgery, d), {}) for d in self.domains
            ]
            trials = set.intersection(*(set(p) for p in per_domain))
            values = [
                statistics.fmean(p[t] for p in per_domain)
                for t in sorted(trials)
            ]
        else:
            values = list(self.accuracies.get((surgery, domain), {}).values())
        values = [v for v in values if v is not None and math.isfinite(v)]
        if not values:
            return None, None, 0
        std = statistics.stdev(values) if len(values) > 1 else None
        return statistics.fmean(values), std, len(values)

    @property
    def columns(self):
        return list(self.domains) + [AVERAGE]

    def title(self):
        return (
            f"{self.dataset}: target test accuracy (%), "
            f"{self.selection} selection"
        )

    def markdown(self) -> str:
        """The table in Markdown, with a title and a note."""
        lines = [
            f"### {self.title()}",
            "",
            "| surgery | " + " | ".join(self.columns) + " |",
            "|:--|" + "--:|" * len(self.columns),
        ]
        for surgery in self.surgeries:
            cells = [_text(*self.cell(surgery, c)) for c in self.columns]
            lines.append(f"| {surgery} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Mean ± std over trials (number of trials); avg: the mean over "
            "targets of each trial that finished them all, then mean ± std "
            "over those trials.",
        ]
        return "\n".join(lines)

    def latex(self) -> str:
        """The table as a LaTeX `table` (needs the booktabs package)."""

        def escape(text):
            return str(text).replace("_", r"\_").replace("%", r"\%")

        ns = sorted(
            {
                self.cell(s, c)[2]
                for s in self.surgeries
                for c in self.columns
                if self.cell(s, c)[2]
            }
        )
        trials = (
            f"{ns[0]}" if len(ns) == 1 else f"{ns[0]}--{ns[-1]}" if ns else "0"
        )
        lines = [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{escape(self.title())}; mean $\pm$ std over "
            rf"{trials} trial(s).}}",
            r"\begin{tabular}{l" + "r" * len(self.columns) + "}",
            r"\toprule",
            "Surgery & "
            + " & ".join(
                escape(c.capitalize() if c == AVERAGE else c)
                for c in self.columns
            )
            + r" \\",
            r"\midrule",
        ]
        for surgery in self.surgeries:
            cells = []
            for column in self.columns:
                mean, std, n = self.cell(surgery, column)
                if not n:
                    cells.append("--")
                elif std is None:
                    cells.append(f"${100 * mean:.1f}$")
                else:
                    cells.append(f"${100 * mean:.1f} \\pm {100 * std:.1f}$")
            lines.append(escape(surgery) + " & " + " & ".join(cells) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        return "\n".join(lines)


def collect(workdir: str, selection: str = "best_val") -> list[ResultsTable]:
    """One `ResultsTable` per dataset from the finished runs in `workdir`.

    Args:
        workdir: str, an experiment's work directory.
        selection: str, one of `selection.RULES`. Defaults to `"best_val"`.

    Returns:
        A list of `ResultsTable`, one per dataset found, sorted by name;
        empty if no run has finished.
    """
    check_choice(selection, selection_lib.RULES, "selection", "selection")
    if not os.path.isdir(workdir):
        raise FileNotFoundError(
            f"No such work directory. Received: workdir={workdir!r}"
        )
    by_dataset = {}
    pattern = os.path.join(workdir, "*", "*", "*", "trial_*", files.RESULTS)
    for path in sorted(glob.glob(pattern)):
        result = files.read_json(path)
        tables = by_dataset.setdefault(
            result["dataset"], {"runs": [], "domains": []}
        )
        tables["runs"].append(result)
        for domain in result.get("domains", [result["test_domain"]]):
            if domain not in tables["domains"]:
                tables["domains"].append(domain)
    tables = []
    for dataset in sorted(by_dataset):
        runs = by_dataset[dataset]["runs"]
        accuracies = {}
        for result in runs:
            if selection in result["selection"]:
                chosen = result["selection"][selection]
            else:
                chosen = selection_lib.select(result["history"], selection)
            key = (result["surgery"], result["test_domain"])
            accuracies.setdefault(key, {})[result["trial"]] = chosen[
                "test_accuracy"
            ]
        tested = {d for _, d in accuracies}
        domains = [d for d in by_dataset[dataset]["domains"] if d in tested]
        # Rows in the surgery table's order (the baseline first), then
        # any other name.
        order = list(surgery_lib.registered())
        surgeries = sorted(
            {s for s, _ in accuracies},
            key=lambda s: (order.index(s) if s in order else len(order), s),
        )
        tables.append(
            ResultsTable(dataset, selection, surgeries, domains, accuracies)
        )
    return tables


def markdown(tables) -> str:
    if not tables:
        return "No finished run yet."
    return "\n\n".join(t.markdown() for t in tables) + "\n"


def write_reports(workdir: str, tables) -> list[str]:
    """Writes `results.md`, `results.tex` and `results.png` atomically.

    Returns:
        The paths written (none when `tables` is empty).
    """
    if not tables:
        return []
    paths = [os.path.join(workdir, f"results.{ext}") for ext in ("md", "tex")]
    files.write_text(paths[0], markdown(tables))
    files.write_text(paths[1], "\n\n".join(t.latex() for t in tables) + "\n")
    png = os.path.join(workdir, "results.png")
    with files.atomic_path(png) as temporary:
        bar_chart(tables).savefig(temporary, format="png", dpi=120)
    return paths + [png]


def bar_chart(tables):
    """A matplotlib `Figure`: per dataset, bars by target and surgery."""
    # Imported here: only the reports need matplotlib. `Figure` needs no
    # GUI backend.
    from matplotlib.figure import Figure

    fig = Figure(
        figsize=(
            max(6, 1.4 * max(len(t.columns) for t in tables)),
            3.6 * len(tables),
        ),
        layout="constrained",
    )
    axes = fig.subplots(len(tables), 1, squeeze=False)[:, 0]
    for ax, table in zip(axes, tables):
        width = 0.8 / max(1, len(table.surgeries))
        for i, surgery in enumerate(table.surgeries):
            cells = [table.cell(surgery, c) for c in table.columns]
            means = [100 * m if n else 0.0 for m, _, n in cells]
            stds = [100 * s if s is not None else 0.0 for _, s, _ in cells]
            positions = [j - 0.4 + width * (i + 0.5) for j in range(len(cells))]
            has_std = any(s is not None for _, s, _ in cells)
            ax.bar(
                positions,
                means,
                width,
                label=surgery,
                yerr=stds if has_std else None,
                capsize=2,
            )
        ax.set_xticks(range(len(table.columns)), table.columns)
        ax.set_xlabel("target domain")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(table.title())
        low = min(
            (
                100 * m
                for s in table.surgeries
                for m, _, n in [table.cell(s, c) for c in table.columns]
                if n
            ),
            default=0.0,
        )
        ax.set_ylim(max(0.0, low - 15), 100)
        ax.legend(
            fontsize="small",
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            title="surgery",
        )
        ax.grid(axis="y", alpha=0.3)
    return fig


def _text(mean, std, n):
    if not n:
        return "–"
    if std is None:
        return f"{100 * mean:.1f} ({n})"
    return f"{100 * mean:.1f} ± {100 * std:.1f} ({n})"
