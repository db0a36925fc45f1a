"""Model selection over hyper-parameters, as DomainBed defines it.

Gulrajani and Lopez-Paz, "In Search of Lost Domain Generalization" (ICLR
2021), section 3. For each search (a surgery, target and trial), a rule
picks one configuration, and one evaluation step of its run, from numbers
the rule is allowed to see; the table reports the target's test accuracy
there.

- `"training_domain"` (training-domain validation): each configuration at
  its own best source-validation step (the protocol's `best_val`, earliest
  on ties); the configuration with the highest source-validation accuracy
  there.
- `"test_domain"` (test-domain validation, the oracle): each configuration
  at its last step (one query per configuration, no early stopping, as in
  DomainBed); the configuration with the highest accuracy on the target's
  validation split. An upper bound, not a fair protocol.
- `"leave_one_domain_out"`: for target i, each configuration's runs that
  also hold out another domain j (trained on the rest) are tested on j; at
  each step, the mean over j of those accuracies is the validation
  accuracy; the best (configuration, step) is reported on the run that
  holds out i alone. Needs a run per (configuration, j) besides the
  protocol's runs (records with `excluded`); where they are missing, the
  rule selects nothing.

Ties between configurations go to the lowest index (configuration 0 is the
flagfile's). Steps whose deciding accuracy is NaN are never picked.
"""

import dataclasses
import math
from typing import NamedTuple

from keras_gs import experiment

RULES = ("training_domain", "test_domain", "leave_one_domain_out")
TITLES = {
    "training_domain": "training-domain validation",
    "test_domain": "test-domain validation (oracle)",
    "leave_one_domain_out": "leave-one-domain-out validation",
}


class Evaluation(NamedTuple):
    """One evaluation of a run: accuracies in [0, 1] at `step`."""

    step: int
    source_val: float
    target_val: float
    target_test: float


@dataclasses.dataclass(frozen=True)
class Record:
    """A run of one configuration: what selection reads.

    Args:
        surgery: str.
        target: str, the held-out domain whose accuracies `history` holds.
        trial: int.
        index: int, the configuration.
        history: tuple of `Evaluation` (or of 4-sequences), by step.
        hparams: dict, the configuration's settings (reported, not read).
        excluded: tuple of str, domains also left out of training, for
            leave-one-domain-out: a run with `target=j, excluded=(i,)` is
            trained without i and j and tested on j. Defaults to `()` (the
            protocol's runs).
    """

    surgery: str
    target: str
    trial: int
    index: int
    history: tuple
    hparams: dict = dataclasses.field(default_factory=dict, compare=False)
    excluded: tuple = ()

    def __post_init__(self):
        object.__setattr__(
            self, "history", tuple(Evaluation(*e) for e in self.history)
        )
        object.__setattr__(self, "excluded", tuple(self.excluded))


@dataclasses.dataclass(frozen=True)
class Choice:
    """What a rule picked for one search."""

    index: int
    step: int
    validation: float
    test: float
    hparams: dict = dataclasses.field(default_factory=dict, compare=False)


def select(records, rule: str, domains=None) -> dict:
    """Applies `rule` to every search of `records`.

    Args:
        records: iterable of `Record`.
        rule: str, one of `RULES`.
        domains: list of str, every domain of the dataset (leave-one-domain-
            out needs a run holding out each of them besides the target);
            None for those the records name. Defaults to `None`.

    Returns:
        dict `(surgery, target, trial) -> Choice`, for the searches where
        the rule could choose.

    Example:

    >>> records = [
    ...     Record("erm", "0", 0, 0, [(10, .8, .5, .6), (20, .9, .4, .7)]),
    ...     Record("erm", "0", 0, 1, [(10, .9, .6, .5), (20, .7, .7, .4)]),
    ... ]
    >>> select(records, "training_domain")[("erm", "0", 0)].test
    0.7
    >>> select(records, "test_domain")[("erm", "0", 0)].index
    1
    """
    if rule not in RULES:
        raise ValueError(
            f"Unknown selection rule. Received: rule={rule!r}. Valid: "
            f"{', '.join(RULES)}"
        )
    records = list(records)
    if domains is None:
        domains = {r.target for r in records}
        domains |= {d for r in records for d in r.excluded}
    searches = {}
    for record in records:
        if not record.excluded:
            key = (record.surgery, record.target, record.trial)
            searches.setdefault(key, []).append(record)
    chosen = {}
    for key, runs in searches.items():
        best = None
        for run in sorted(runs, key=lambda r: r.index):
            if rule == "training_domain":
                pick = _training_domain(run)
            elif rule == "test_domain":
                pick = _test_domain(run)
            else:
                pick = _leave_one_domain_out(run, records, domains)
            if pick is None:
                continue
            # Strictly greater: the lowest index wins ties.
            if best is None or pick.validation > best.validation:
                best = pick
        if best is not None:
            chosen[key] = best
    return chosen


def _training_domain(run):
    history = [
        {
            "step": e.step,
            "source_val_accuracy": e.source_val,
            "target_val_accuracy": e.target_val,
            "target_test_accuracy": e.target_test,
        }
        for e in run.history
    ]
    if not history or not any(_finite(e.source_val) for e in run.history):
        return None
    # The protocol's own rule: best source validation, earliest on ties.
    step = experiment.select(history, "best_val")["step"]
    entry = next(e for e in run.history if e.step == step)
    return Choice(
        run.index, step, entry.source_val, entry.target_test, run.hparams
    )


def _test_domain(run):
    if not run.history or not _finite(run.history[-1].target_val):
        return None
    last = run.history[-1]
    return Choice(
        run.index, last.step, last.target_val, last.target_test, run.hparams
    )


def _leave_one_domain_out(run, records, domains):
    """The best step of `run` by the mean accuracy, at that step, of the
    runs of the same configuration that also held out each other domain."""
    validation_runs = {
        r.target: {e.step: e.target_test for e in r.history}
        for r in records
        if r.excluded == (run.target,)
        and (r.surgery, r.trial, r.index) == (run.surgery, run.trial, run.index)
    }
    others = [d for d in domains if d != run.target]
    if not others or any(d not in validation_runs for d in others):
        return None
    best = None
    for entry in run.history:
        accuracies = [validation_runs[d].get(entry.step) for d in others]
        if any(a is None or not _finite(a) for a in accuracies):
            continue
        value = sum(accuracies) / len(accuracies)
        if best is None or value > best.validation:
            best = Choice(
                run.index, entry.step, value, entry.target_test, run.hparams
            )
    return best


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)
