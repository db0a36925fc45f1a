"""Model selection: which evaluation of a run its test accuracy comes from.

A run records, at every evaluation, the source-validation accuracy and the
target's validation and test accuracies (see `run.train_run`), so any rule
can be applied afterwards without retraining.
"""

import math
from collections.abc import Sequence

from keras_gs.utils.choices import check_choice

RULES = ("best_val", "last", "oracle")

# The history key each rule maximizes (None: the last evaluation).
_KEYS = {
    "best_val": "source_val_accuracy",
    "last": None,
    "oracle": "target_val_accuracy",
}


def select(history: Sequence[dict], rule: str = "best_val") -> dict:
    """Picks one evaluation of `history` by `rule`.

    Rules:

    - `"best_val"` (the paper's): the highest source-validation accuracy
      (the union of the source domains' val splits), the earliest on ties.
    - `"last"`: the last evaluation (the final model).
    - `"oracle"`: the highest accuracy on the target domain's val split,
      the earliest on ties (an upper bound, not a fair protocol).

    Evaluations whose deciding accuracy is NaN are never picked (if all
    are, the last evaluation is).

    Args:
        history: list of dicts with at least `step`,
            `source_val_accuracy`, `target_val_accuracy` and
            `target_test_accuracy`, in increasing step order.
        rule: str, one of `RULES`. Defaults to `"best_val"`.

    Returns:
        `{"step": int, "test_accuracy": float, "rule": rule}` of the chosen
        evaluation.

    Example:

    >>> history = [
    ...     {"step": 20, "source_val_accuracy": 0.5,
    ...      "target_val_accuracy": 0.4, "target_test_accuracy": 0.3},
    ...     {"step": 40, "source_val_accuracy": 0.5,
    ...      "target_val_accuracy": 0.6, "target_test_accuracy": 0.7},
    ... ]
    >>> select(history, "best_val")["step"]
    20
    >>> select(history, "oracle")["test_accuracy"]
    0.7
    """
    check_choice(rule, RULES, "selection", "selection")
    if not history:
        raise ValueError("Cannot select from an empty history.")
    key = _KEYS[rule]
    if key is None:
        chosen = history[-1]
    else:
        chosen = None
        for entry in history:
            value = entry[key]
            if value is None or math.isnan(value):
                continue
            # Strictly greater: the earliest evaluation wins ties.
            if chosen is None or value > chosen[key]:
                chosen = entry
        if chosen is None:
            chosen = history[-1]
    return {
        "rule": rule,
        "step": int(chosen["step"]),
        "test_accuracy": chosen["target_test_accuracy"],
    }


def select_all(history: Sequence[dict]) -> dict:
    """`{rule: select(history, rule)}` for every rule in `RULES`."""
    return {rule: select(history, rule) for rule in RULES}
