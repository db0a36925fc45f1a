"""The sweep's results, read from its storage, and its reports.

`collect(sweep)` reads every job's record from the storage (any machine
sees every job's results, wherever it ran) and builds one table per
selection rule. A search enters the tables once every configuration of it
has finished (or was pruned): a rule choosing among fewer configurations
than the sweep asked for would not be the sweep's rule. What is not yet
in the tables is listed in `SweepResults.missing`.
`write_reports` writes `sweep.md`, `sweep.tex` and `sweep.png` into the
work directory.
"""

import dataclasses
import os

from keras_gs.utils.atomic_files import atomic_path
from keras_gs.utils.atomic_files import write_text
from keras_gs.sweeps import jobs as jobs_lib
from keras_gs.sweeps import selection
from keras_gs.sweeps.tables import SweepTable
from keras_gs.sweeps.tables import bar_chart

REPORT = "sweep"
# Rules the sweep reports; leave-one-domain-out needs runs the protocol
# does not make (two held-out domains), so it only appears with them.
REPORTED_RULES = ("training_domain", "test_domain")


@dataclasses.dataclass
class SweepResults:
    """What `collect` returns.

    Args:
        tables: list of `SweepTable`, one per rule that selected something.
        records: list of `selection.Record` of the complete searches.
        missing: list of str, one line per search not in the tables.
        complete: bool, whether every job has finished.
    """

    tables: list
    records: list
    missing: list
    complete: bool

    def markdown(self) -> str:
        """The tables, then the selected configurations, then what is
        missing."""
        parts = [t.markdown() for t in self.tables]
        if not self.tables:
            parts.append("No search has finished every configuration yet.")
        parts.append(
            "Leave-one-domain-out validation: not reported (it needs, per "
            "configuration, runs that also hold out each other domain; the "
            "protocol's runs hold out the target only)."
        )
        if self.missing:
            shown = self.missing[:20]
            more = len(self.missing) - len(shown)
            parts.append(
                f"Not in the tables yet ({len(self.missing)} searches):\n\n"
                + "\n".join(f"- {line}" for line in shown)
                + (f"\n- ... and {more} more" if more else "")
            )
        parts += [t.selected_markdown() for t in self.tables]
        return "\n\n".join(parts) + "\n"


def collect(sweep) -> SweepResults:
    """Reads the jobs of `sweep` (a `storage.Sweep`) and selects.

    Returns:
        A `SweepResults`.
    """
    records, missing = [], []
    complete = True
    for search, states in sweep.job_states().items():
        counts = {}
        for state in states:
            counts[state.state] = counts.get(state.state, 0) + 1
        finished = counts.get(jobs_lib.DONE, 0) + counts.get(jobs_lib.PRUNED, 0)
        if finished < sweep.n_hparams:
            complete = False
            parts = [f"{finished} of {sweep.n_hparams} configurations done"]
            parts += [
                f"{counts[s]} {s}"
                for s in (jobs_lib.RUNNING, jobs_lib.FAILED, jobs_lib.PENDING)
                if counts.get(s)
            ]
            missing.append(
                f"{search.surgery}, target {search.target}, trial "
                f"{search.trial}: " + ", ".join(parts)
            )
            continue
        for state in states:
            records.append(record(state))
    tables = []
    for rule in REPORTED_RULES:
        choices = selection.select(records, rule, domains=sweep.targets)
        if choices:
            tables.append(
                SweepTable(
                    sweep.dataset,
                    rule,
                    list(sweep.definition["surgery"]),
                    list(sweep.targets),
                    choices,
                )
            )
    return SweepResults(tables, records, missing, complete)


def record(state) -> selection.Record:
    """The `selection.Record` of a finished job (`jobs.JobState`)."""
    trial = state.trial
    job = state.job
    return selection.Record(
        surgery=job.surgery,
        target=job.target,
        trial=job.trial,
        index=job.index,
        history=trial.user_attrs.get("history", []),
        hparams=trial.user_attrs.get("hparams", {}),
    )


def write_reports(workdir: str, results: SweepResults) -> list[str]:
    """Writes `sweep.md`, `sweep.tex` and `sweep.png` atomically.

    Returns:
        The paths written (the PNG and LaTeX only when there are tables).
    """
    paths = [os.path.join(workdir, f"{REPORT}.md")]
    write_text(paths[0], results.markdown())
    if results.tables:
        paths.append(os.path.join(workdir, f"{REPORT}.tex"))
        write_text(
            paths[-1], "\n\n".join(t.latex() for t in results.tables) + "\n"
        )
        paths.append(os.path.join(workdir, f"{REPORT}.png"))
        with atomic_path(paths[-1]) as temporary:
            bar_chart(results.tables).savefig(temporary, format="png", dpi=120)
    return paths
