"""Regimes side by side: each rule's average with its standard error, and
its paired difference to a reference rule (ERM).

Runs of one trial share their seeds across rules (`seeds`): the same
initial weights, batches and dropout masks. So the difference of two
rules is best measured trial by trial: d_t = avg_t(rule) - avg_t(erm),
averaged over trials, with standard error std(d) / sqrt(n). The trial
noise common to both rules (a hard draw of the initial weights) cancels
in d_t, which a comparison of the two unpaired means does not remove.
"""

import dataclasses
import math
import statistics

from keras_gs.experiment.tables import AVERAGE


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean over `n` trials and its standard error (None for n < 2)."""

    mean: float
    stderr: float | None
    n: int

    @classmethod
    def of(cls, values) -> "Estimate | None":
        values = list(values)
        if not values:
            return None
        stderr = (
            statistics.stdev(values) / math.sqrt(len(values))
            if len(values) > 1
            else None
        )
        return cls(statistics.fmean(values), stderr, len(values))

    def text(self, signed=False) -> str:
        """`84.3 ± 0.7 (5)` in percent points (`+1.2 ± ...` if signed)."""
        mean = f"{100 * self.mean:{'+' if signed else ''}.1f}"
        if self.stderr is None:
            return f"{mean} ({self.n})"
        return f"{mean} ± {100 * self.stderr:.1f} ({self.n})"


def average(table, surgery) -> Estimate | None:
    """The rule's average over targets (`table`: a `tables.ResultsTable`):
    mean and standard error over trials."""
    return Estimate.of(table.trial_averages(surgery).values())


def paired_difference(table, surgery, reference) -> Estimate | None:
    """`surgery` minus `reference`, trial by trial, over the trials both
    finished."""
    ours = table.trial_averages(surgery)
    theirs = table.trial_averages(reference)
    return Estimate.of(ours[t] - theirs[t] for t in ours if t in theirs)


def markdown(regimes: dict, reference: str = "erm") -> str:
    """One row per rule; per regime its average and its difference to
    `reference`, each `mean ± standard error (trials)`, in percent.

    Args:
        regimes: dict `name -> tables.ResultsTable`, in column order.
        reference: str, the rule the differences are taken against.
    """
    rules = []
    for table in regimes.values():
        rules += [s for s in table.surgeries if s not in rules]
    header = ["rule"]
    for name in regimes:
        header += [f"{name}: {AVERAGE}", f"{name}: − {reference}"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|:--|" + "--:|" * (len(header) - 1),
    ]
    for rule in rules:
        cells = [rule]
        for table in regimes.values():
            mean = average(table, rule)
            difference = (
                paired_difference(table, rule, reference)
                if rule != reference
                else None
            )
            cells.append(mean.text() if mean else "–")
            cells.append(difference.text(signed=True) if difference else "–")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Target test accuracy (%), averaged over the target domains: mean "
        f"± standard error over trials (number of trials). − {reference}: "
        f"the difference to {reference} in each trial (same seeds), then "
        "its mean ± standard error.",
    ]
    return "\n".join(lines)
