"""`stratified_split`: the paper's per-domain train/val/test split."""

import math
import random
from collections.abc import Sequence

SPLIT_NAMES = ("train", "val", "test")

# The paper (official code, `preprocess/split.py`): 70 % train, 10 % val,
# 20 % test, stratified by class, seed 0.
PAPER_FRACTIONS = (0.7, 0.1, 0.2)


def stratified_split(
    labels: Sequence[int],
    fractions: Sequence[float] = PAPER_FRACTIONS,
    seed: int = 0,
) -> dict[str, list[int]]:
    """Splits example indices into train/val/test, stratified by class.

    Each class is split on its own, so every split keeps the class
    proportions. For a class of `n` examples the counts are

    - `n_test = floor(n * fractions[2] + 0.5)` (rounded half up),
    - `n_val = min(floor(n * fractions[1] + 0.5), n - n_test)`,
    - `n_train = n - n_test - n_val` (train takes the rounding remainder).

    The class's indices are shuffled with `random.Random(seed)` (classes in
    increasing label order, one generator for the whole call), then the
    first `n_test` go to test, the next `n_val` to val and the rest to train.
    The result depends only on `labels`, `fractions` and `seed`: no NumPy
    or TensorFlow randomness, so it is the same on every platform.

    Rounding per class (rather than sklearn's `train_test_split`, which the
    official code used) makes every count checkable by hand; totals can
    differ from sklearn's by about one example per class.

    Args:
        labels: sequence of int, the class label of each example.
        fractions: three floats `(train, val, test)`, each in [0, 1],
            summing to 1. Defaults to `(0.7, 0.1, 0.2)`.
        seed: int, seed of the shuffle. Defaults to `0`.

    Returns:
        A dict `{"train": [...], "val": [...], "test": [...]}` of example
        indices into `labels`, each list sorted in increasing order. Every
        index appears in exactly one list.

    Example:

    >>> split = stratified_split([0] * 10 + [1] * 5, seed=0)
    >>> [len(split[name]) for name in ("train", "val", "test")]
    [10, 2, 3]
    >>> split["test"]  # Two of class 0, one of class 1.
    [7, 8, 13]
    """
    train_f, val_f, test_f = check_fractions(fractions)
    del train_f  # Train takes whatever val and test leave.
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(index)

    rng = random.Random(seed)
    result: dict[str, list[int]] = {name: [] for name in SPLIT_NAMES}
    for label in sorted(by_class):
        indices = by_class[label]
        rng.shuffle(indices)
        n = len(indices)
        n_test = _round_half_up(n * test_f)
        n_val = min(_round_half_up(n * val_f), n - n_test)
        result["test"] += indices[:n_test]
        result["val"] += indices[n_test : n_test + n_val]
        result["train"] += indices[n_test + n_val :]
    return {name: sorted(indices) for name, indices in result.items()}


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validates `(train, val, test)` fractions and returns them as floats.

    Args:
        fractions: three numbers in [0, 1] summing to 1 (within 1e-6).

    Returns:
        The three fractions as a tuple of floats.
    """
    values = tuple(float(f) for f in fractions)
    if (
        len(values) != 3
        or any(not 0.0 <= f <= 1.0 for f in values)
        or not math.isclose(sum(values), 1.0, abs_tol=1e-6)
    ):
        raise ValueError(
            "`fractions` must be three numbers (train, val, test) in [0, 1] "
            f"summing to 1. Received: fractions={tuple(fractions)}"
        )
    return values


def _round_half_up(x: float) -> int:
    # Python's round() rounds halves to even (round(2.5) == 2); half up is
    # easier to check by hand. The epsilon absorbs float error such as
    # 0.7 * 5 == 3.4999999999999996.
    return math.floor(x + 0.5 + 1e-9)
