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
import json
import logging
import math
import os
import statistics

from keras_gs import surgery as surgery_lib
from keras_gs.experiment import files
from keras_gs.experiment import latex
from keras_gs.experiment import selection as selection_lib
from keras_gs.utils.choices import check_choice

AVERAGE = "avg"


@dataclasses.dataclass
class ResultsTable:
    """Selected test accuracies of one dataset's finished runs.

    A table holds runs made with the same result-changing settings only;
    a work directory holding runs of one dataset made with other settings
    gives one table per settings, each titled with what sets it apart.

    Args:
        dataset: str.
        selection: str, the selection rule the accuracies come from.
        surgeries: list of str, the rows.
        domains: list of str, the target domains (columns, before `avg`).
        accuracies: dict `(surgery, domain) -> {trial: accuracy}`.
        settings: dict, the settings that set this table apart from the
            dataset's other tables (empty when there is one).
        diverged: dict `(surgery, domain, trial) -> reason` of the runs
            that diverged: their cells are marked, never shown as plain
            results.
    """

    dataset: str
    selection: str
    surgeries: list
    domains: list
    accuracies: dict
    settings: dict = dataclasses.field(default_factory=dict)
    diverged: dict = dataclasses.field(default_factory=dict)

    def cell(self, surgery, domain):
        """`(mean, std, n)` of a cell, in [0, 1]; std None for n < 2.

        `domain == "avg"`: over the trials that finished every domain, the
        mean over domains of each trial, then mean and std over trials.
        """
        if domain == AVERAGE:
            values = list(self.trial_averages(surgery).values())
        else:
            values = list(self.accuracies.get((surgery, domain), {}).values())
        values = [v for v in values if _usable(v)]
        if not values:
            return None, None, 0
        std = statistics.stdev(values) if len(values) > 1 else None
        return statistics.fmean(values), std, len(values)

    def trial_averages(self, surgery) -> dict:
        """`{trial: mean over the domains}` of the trials of `surgery`
        that finished every domain (with a usable accuracy), in trial
        order."""
        per_domain = [
            self.accuracies.get((surgery, d), {}) for d in self.domains
        ]
        trials = set.intersection(
            *({t for t, v in p.items() if _usable(v)} for p in per_domain)
        )
        return {
            t: statistics.fmean(p[t] for p in per_domain)
            for t in sorted(trials)
        }

    @property
    def columns(self):
        return list(self.domains) + [AVERAGE]

    def title(self):
        apart = ", ".join(f"{k}={v}" for k, v in self.settings.items())
        return (
            f"{self.dataset}{f' ({apart})' if apart else ''}: target test "
            f"accuracy (%), {self.selection} selection"
        )

    def marked(self, surgery, column) -> bool:
        """Whether a run of this cell diverged."""
        return any(
            s == surgery and (column == AVERAGE or d == column)
            for s, d, _ in self.diverged
        )

    def divergence_note(self) -> str | None:
        if not self.diverged:
            return None
        runs = "; ".join(
            f"{s}/{d}/trial_{t}: {why}"
            for (s, d, t), why in sorted(self.diverged.items())
        )
        return (
            f"† The cell holds a run that diverged, whose accuracy is that of "
            f"a broken network, not a result ({runs})."
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
            cells = [
                _text(*self.cell(surgery, c))
                + (" †" if self.marked(surgery, c) else "")
                for c in self.columns
            ]
            lines.append(f"| {surgery} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Mean ± std over trials (number of trials); avg: the mean over "
            "targets of each trial that finished them all, then mean ± std "
            "over those trials.",
        ]
        if self.diverged:
            lines += ["", self.divergence_note()]
        return "\n".join(lines)

    def latex(self) -> str:
        """The table as a LaTeX `table` (needs the booktabs package)."""
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
        rows = []
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
                if self.marked(surgery, column):
                    cells[-1] += r"$^\dagger$"
            rows.append((surgery, cells))
        footnote = None
        if self.diverged:
            footnote = latex.escape(self.divergence_note()).replace(
                "†", r"$^\dagger$"
            )
        return latex.table(
            f"{self.title()}; mean $\\pm$ std over {trials} trial(s).",
            ["Surgery"]
            + [c.capitalize() if c == AVERAGE else c for c in self.columns],
            rows,
            footnote,
        )


def collect(
    workdir: str, selection: str = "best_val", problems: list | None = None
) -> list[ResultsTable]:
    """The `ResultsTable`s of the finished runs in `workdir`.

    One table per dataset and result-changing settings: runs made with
    other settings (another number of steps, learning rate...) are never
    compared in one table. A run whose files cannot be used (damaged, or
    disagreeing with its `config.json` or its directory) is left out and
    named, and never blocks the table of the others.

    Args:
        workdir: str, an experiment's work directory.
        selection: str, one of `selection.RULES`. Defaults to `"best_val"`.
        problems: list or None: receives one line per run left out.
            Defaults to `None` (they are logged).

    Returns:
        A list of `ResultsTable`, sorted by dataset; empty if no run has
        finished.
    """
    check_choice(selection, selection_lib.RULES, "selection", "selection")
    if not os.path.isdir(workdir):
        raise FileNotFoundError(
            f"No such work directory. Received: workdir={workdir!r}"
        )
    groups = {}
    pattern = os.path.join(workdir, "*", "*", "*", "trial_*", files.RESULTS)
    for path in sorted(glob.glob(pattern)):
        root = os.path.dirname(path)
        try:
            result = files.finished_results(root)
            config = files.read_run_json(
                os.path.join(root, files.CONFIG), "run configuration"
            )
        except files.RunFileError as error:
            _report(problems, str(error))
            continue
        disagreement = _selection_disagreement(result)
        if disagreement:
            _report(
                problems,
                f"{path}: its selection disagrees with its history "
                f"({disagreement}): edited by hand? Left out; remove "
                f"{root} to run it again.",
            )
            continue
        settings = result.get("settings") or files.run_settings(config)
        key = (result["dataset"], json.dumps(settings, sort_keys=True))
        group = groups.setdefault(
            key, {"runs": [], "domains": [], "settings": settings}
        )
        group["runs"].append(result)
        for domain in result.get("domains", [result["test_domain"]]):
            if domain not in group["domains"]:
                group["domains"].append(domain)
    tables = []
    for (dataset, _), group in sorted(groups.items()):
        same_dataset = [g for (d, _), g in groups.items() if d == dataset]
        tables.append(
            _table(group, dataset, selection, _apart(group, same_dataset))
        )
    return tables


def _table(group, dataset, selection, settings):
    accuracies, diverged = {}, {}
    for result in group["runs"]:
        # From the history, which the recorded selection agrees with
        # (`_selection_disagreement`).
        chosen = selection_lib.select(result["history"], selection)
        key = (result["surgery"], result["test_domain"])
        accuracies.setdefault(key, {})[result["trial"]] = chosen[
            "test_accuracy"
        ]
        if result.get("diverged"):
            diverged[(*key, result["trial"])] = result["diverged"]
    tested = {d for _, d in accuracies}
    domains = [d for d in group["domains"] if d in tested]
    # Rows in the surgery table's order (the baseline first), then any
    # other name.
    order = list(surgery_lib.registered())
    surgeries = sorted(
        {s for s, _ in accuracies},
        key=lambda s: (order.index(s) if s in order else len(order), s),
    )
    return ResultsTable(
        dataset, selection, surgeries, domains, accuracies, settings, diverged
    )


def _selection_disagreement(result) -> str:
    """How a run's recorded `selection` differs from what its `history`
    gives (a hand-edited file); empty when they agree."""
    for rule, recorded in sorted(result.get("selection", {}).items()):
        if rule not in selection_lib.RULES or not result.get("history"):
            continue
        derived = selection_lib.select(result["history"], rule)
        for key in ("step", "test_accuracy"):
            ours, theirs = derived[key], recorded.get(key)
            if ours != theirs and not (_nan(ours) and _nan(theirs)):
                return (
                    f"{rule} {key} {theirs!r} recorded, {ours!r} in the "
                    "history"
                )
    return ""


def _nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _apart(group, same_dataset):
    """The settings in which `group` differs from the dataset's others."""
    if len(same_dataset) < 2:
        return {}
    keys = {
        k
        for other in same_dataset
        for k, v in other["settings"].items()
        if v != group["settings"].get(k)
    }
    return {k: group["settings"][k] for k in sorted(keys)}


def _report(problems, line):
    if problems is None:
        logging.getLogger(__name__).warning("Left out of the table: %s", line)
    else:
        problems.append(line)


def markdown(tables, problems=()) -> str:
    """The tables in Markdown, then the runs left out (`collect`)."""
    text = (
        "\n\n".join(t.markdown() for t in tables) + "\n"
        if tables
        else "No finished run yet.\n"
    )
    if problems:
        text += "\nLeft out of the tables:\n" + "".join(
            f"- {line}\n" for line in problems
        )
    return text


def write_reports(workdir: str, tables, problems=()) -> list[str]:
    """Writes `results.md`, `results.tex` and `results.png` atomically.

    Returns:
        The paths written (none when `tables` is empty).
    """
    if not tables:
        return []
    paths = [os.path.join(workdir, f"results.{ext}") for ext in ("md", "tex")]
    files.write_text(paths[0], markdown(tables, problems))
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


def _usable(value):
    return value is not None and math.isfinite(value)


def _text(mean, std, n):
    if not n:
        return "–"
    if std is None:
        return f"{100 * mean:.1f} ({n})"
    return f"{100 * mean:.1f} ± {100 * std:.1f} ({n})"
