"""The sweep's tables: selected test accuracy, mean ± standard error.

One `SweepTable` per (dataset, selection rule): rows are surgeries,
columns the target domains and their average; a cell is the mean ± the
standard error over trials of the test accuracy the rule selects, with
the number of trials, as DomainBed's `collect_results.py` reports it. The
average column averages, for each trial that has every target, the
targets' accuracies, then takes the mean ± standard error over those
trials.
"""

import dataclasses
import math
import statistics

from keras_gs.experiment import latex
from keras_gs.sweeps.selection import TITLES

AVERAGE = "avg"


@dataclasses.dataclass
class SweepTable:
    """What one selection rule picks on one dataset.

    Args:
        dataset: str.
        rule: str, a name from `selection.RULES`.
        surgeries: list of str, the rows.
        targets: list of str, the columns (before the average).
        choices: dict `(surgery, target, trial) -> selection.Choice`.
    """

    dataset: str
    rule: str
    surgeries: list
    targets: list
    choices: dict

    @property
    def columns(self):
        return list(self.targets) + [AVERAGE]

    def cell(self, surgery, column):
        """`(mean, standard error, n)` of a cell in [0, 1]; the standard
        error is None for n < 2, the mean None for n = 0."""
        if column == AVERAGE:
            per_target = [self._by_trial(surgery, t) for t in self.targets]
            trials = set.intersection(*(set(p) for p in per_target))
            values = [
                statistics.fmean(p[n] for p in per_target)
                for n in sorted(trials)
            ]
        else:
            values = list(self._by_trial(surgery, column).values())
        values = [v for v in values if v is not None and math.isfinite(v)]
        if not values:
            return None, None, 0
        if len(values) == 1:
            return values[0], None, 1
        error = statistics.stdev(values) / math.sqrt(len(values))
        return statistics.fmean(values), error, len(values)

    def _by_trial(self, surgery, target):
        return {
            trial: choice.test
            for (s, t, trial), choice in self.choices.items()
            if (s, t) == (surgery, target)
        }

    def title(self):
        return (
            f"{self.dataset}: target test accuracy (%), " f"{TITLES[self.rule]}"
        )

    def markdown(self) -> str:
        lines = [
            f"### {self.title()}",
            "",
            "| surgery | " + " | ".join(self.columns) + " |",
            "|:--|" + "--:|" * len(self.columns),
        ]
        for surgery in self.surgeries:
            cells = [text(*self.cell(surgery, c)) for c in self.columns]
            lines.append(f"| {surgery} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Mean ± standard error over trials (number of trials); avg: "
            "the mean over targets of each trial that has them all, then "
            "mean ± standard error over those trials.",
        ]
        return "\n".join(lines)

    def selected_markdown(self) -> str:
        """Which configuration the rule picked per search, and its
        settings."""
        names = sorted(
            {k for c in self.choices.values() for k in c.hparams},
            key=_setting_order,
        )
        lines = [
            f"#### Selected configurations ({TITLES[self.rule]})",
            "",
            "| surgery | target | trial | config | step | val | test | "
            + " | ".join(names)
            + " |",
            "|:--|:--|--:|--:|--:|--:|--:|" + "--:|" * len(names),
        ]
        order = {s: i for i, s in enumerate(self.surgeries)}
        targets = {t: i for i, t in enumerate(self.targets)}
        for (surgery, target, trial), choice in sorted(
            self.choices.items(),
            key=lambda kv: (order[kv[0][0]], targets[kv[0][1]], kv[0][2]),
        ):
            values = [_value(choice.hparams.get(n, "")) for n in names]
            lines.append(
                f"| {surgery} | {target} | {trial} | {choice.index} | "
                f"{choice.step} | {100 * choice.validation:.1f} | "
                f"{100 * choice.test:.1f} | " + " | ".join(values) + " |"
            )
        return "\n".join(lines)

    def latex(self) -> str:
        """The table as a LaTeX `table` (needs the booktabs package)."""
        rows = []
        for surgery in self.surgeries:
            cells = []
            for column in self.columns:
                mean, error, n = self.cell(surgery, column)
                if not n:
                    cells.append("--")
                elif error is None:
                    cells.append(f"${100 * mean:.1f}$ ({n})")
                else:
                    cells.append(
                        f"${100 * mean:.1f} \\pm {100 * error:.1f}$ ({n})"
                    )
            rows.append((surgery, cells))
        return latex.table(
            f"{self.title()}; mean $\\pm$ standard error over trials.",
            ["Surgery"] + ["Avg" if c == AVERAGE else c for c in self.columns],
            rows,
        )


def text(mean, error, n) -> str:
    """A cell as text: `84.3 ± 1.2 (3)`, `84.3 (1)` or `–`."""
    if not n:
        return "–"
    if error is None:
        return f"{100 * mean:.1f} ({n})"
    return f"{100 * mean:.1f} ± {100 * error:.1f} ({n})"


def bar_chart(tables):
    """A matplotlib `Figure`: one panel per table, bars by target and
    surgery, with the standard error."""
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
        low = 100.0
        for i, surgery in enumerate(table.surgeries):
            cells = [table.cell(surgery, c) for c in table.columns]
            means = [100 * m if n else 0.0 for m, _, n in cells]
            errors = [100 * e if e is not None else 0.0 for _, e, _ in cells]
            low = min([low] + [100 * m for m, _, n in cells if n])
            positions = [j - 0.4 + width * (i + 0.5) for j in range(len(cells))]
            ax.bar(
                positions, means, width, label=surgery, yerr=errors, capsize=2
            )
        ax.set_xticks(range(len(table.columns)), table.columns)
        ax.set_xlabel("target domain")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(table.title(), fontsize="medium")
        ax.set_ylim(max(0.0, low - 15), 100)
        ax.legend(
            fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0)
        )
        ax.grid(axis="y", alpha=0.3)
    return fig


def _setting_order(name):
    common = ("lr", "batch_size", "coupled_l2", "dropout")
    return (common.index(name) if name in common else len(common), name)


def _value(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    return "default" if value is None else str(value)
