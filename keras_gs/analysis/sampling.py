"""Batches for the conflict analysis, drawn from the per-domain datasets.

As the paper's helper `get_batch_same_class`: a batch is `n` examples
drawn from one class of one domain, with replacement by default; every
domain gets its own batch of the same class. The same measures are also
taken on batches drawn from all the classes of each domain. The batches
are drawn once (from a seed), so that every checkpoint of a run is
measured on the same examples.
"""

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np

SINGLE_CLASS = "single_class"
ALL_CLASSES = "all_classes"
KINDS = (SINGLE_CLASS, ALL_CLASSES)


@dataclasses.dataclass(frozen=True)
class BatchIndices:
    """Which examples make one batch of every domain.

    Args:
        kind: str, `"single_class"` or `"all_classes"`.
        label: int, the class of a single-class batch; -1 for all classes.
        indices: int array `(num_domains, n)`: row k holds positions in
            domain k's dataset.
    """

    kind: str
    label: int
    indices: np.ndarray


@dataclasses.dataclass(frozen=True)
class Batch:
    """One batch of every domain: `x` `(K, n, ...)`, int32 `y` `(K, n)`."""

    kind: str
    label: int
    x: np.ndarray
    y: np.ndarray


def read_labels(dataset) -> np.ndarray:
    """The labels of an unbatched dataset of `(x, y)`, in its order."""
    labels = [
        np.asarray(y)
        for y in dataset.map(lambda x, y: y).batch(4096).as_numpy_iterator()
    ]
    if not labels:
        return np.zeros((0,), "int64")
    return np.concatenate(labels).astype("int64")


def draw_indices(
    labels: Sequence[np.ndarray],
    batch_size: int,
    classes: Sequence[int],
    repeats: int = 1,
    seed: int = 0,
    replace: bool = True,
    domain_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
) -> list[BatchIndices]:
    """Draws single-class batches, then as many all-class batches.

    For each class of `classes` and each repeat: one batch of `batch_size`
    examples of that class from every domain. A class missing from a
    domain is left out, with a warning. Then `len(classes) * repeats`
    batches of `batch_size` examples of any of `classes` from every domain,
    so that both kinds average over the same number of batches.

    Args:
        labels: one int array per domain, the labels of its examples.
        batch_size: int >= 2, examples per domain per batch.
        classes: the class indices to draw from.
        repeats: int >= 1, batches per class. Defaults to `1`.
        seed: int, seed of the draws. Defaults to `0`.
        replace: bool, draw with replacement (the paper's helper). Without,
            a class needs `batch_size` examples in every domain. Defaults
            to `True`.
        domain_names: names of the domains, for messages. Defaults to
            `None` (their positions).
        class_names: names of the classes, for messages. Defaults to
            `None` (their indices).

    Returns:
        A list of `BatchIndices`, single-class batches first.
    """
    if int(batch_size) < 2:
        raise ValueError(
            "`batch_size` must be >= 2 (the intra-domain cosine compares "
            f"pairs of examples). Received: batch_size={batch_size}"
        )
    if int(repeats) < 1:
        raise ValueError(
            f"`repeats` must be >= 1. Received: repeats={repeats}"
        )
    if not len(classes):
        raise ValueError("`classes` is empty.")
    rng = np.random.default_rng(seed)
    labels = [np.asarray(lab) for lab in labels]
    domains = list(domain_names or range(len(labels)))
    batches = []
    for label in classes:
        what = f"class {class_names[label] if class_names else label!r}"
        pools = [np.flatnonzero(lab == label) for lab in labels]
        missing = [domains[k] for k, pool in enumerate(pools) if not len(pool)]
        if missing:
            warnings.warn(
                f"No example of {what} in domain(s) {missing}: its "
                "single-class batches are left out.",
                stacklevel=2,
            )
            continue
        for _ in range(repeats):
            batches.append(
                BatchIndices(
                    SINGLE_CLASS,
                    int(label),
                    _draw(rng, pools, batch_size, replace, what, domains),
                )
            )
    pools = [np.flatnonzero(np.isin(lab, list(classes))) for lab in labels]
    for _ in range(len(classes) * repeats):
        batches.append(
            BatchIndices(
                ALL_CLASSES,
                -1,
                _draw(rng, pools, batch_size, replace, "all classes", domains),
            )
        )
    return batches


def gather(datasets, batch_indices: Sequence[BatchIndices]) -> list[Batch]:
    """Reads the drawn examples from the datasets, in one pass per domain.

    Only the drawn examples are kept in memory, not whole domains.

    Args:
        datasets: one unbatched `tf.data.Dataset` of `(x, y)` per domain.
        batch_indices: from `draw_indices`.

    Returns:
        One `Batch` per `BatchIndices`, with numpy arrays.
    """
    examples = []
    for k, dataset in enumerate(datasets):
        wanted = sorted(
            {int(i) for b in batch_indices for i in b.indices[k]}
        )
        examples.append(_read_examples(dataset, wanted))
    batches = []
    for b in batch_indices:
        xs, ys = [], []
        for k, row in enumerate(b.indices):
            xs.append(np.stack([examples[k][int(i)][0] for i in row]))
            ys.append(np.asarray([examples[k][int(i)][1] for i in row]))
        batches.append(
            Batch(b.kind, b.label, np.stack(xs), np.stack(ys).astype("int32"))
        )
    return batches


def class_batches(
    datasets,
    num_classes: int,
    batch_size: int = 16,
    repeats: int = 1,
    seed: int = 0,
    replace: bool = True,
    classes: Sequence[int] | None = None,
    domain_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
) -> list[Batch]:
    """Single-class and all-class batches of every domain (see `draw_indices`).

    Args:
        datasets: one unbatched `tf.data.Dataset` of `(x, y)` per domain.
        num_classes: int, the number of classes.
        batch_size: int, examples per domain per batch. Defaults to `16`.
        repeats: int, batches per class. Defaults to `1`.
        seed: int, seed of the draws. Defaults to `0`.
        replace: bool, draw with replacement. Defaults to `True`.
        classes: class indices, or None for all. Defaults to `None`.
        domain_names: names of the domains, for messages. Defaults to
            `None`.
        class_names: names of the classes, for messages. Defaults to
            `None`.

    Returns:
        A list of `Batch`, single-class batches first.
    """
    if classes is None:
        classes = range(num_classes)
    classes = list(classes)
    bad = [c for c in classes if not 0 <= int(c) < num_classes]
    if bad:
        raise ValueError(
            f"Unknown class index. Received: classes={bad}. Valid: 0 to "
            f"{num_classes - 1}"
        )
    labels = [read_labels(d) for d in datasets]
    indices = draw_indices(
        labels,
        batch_size,
        classes,
        repeats,
        seed,
        replace,
        domain_names,
        class_names,
    )
    return gather(datasets, indices)


def _draw(rng, pools, batch_size, replace, what, domains):
    rows = []
    for k, pool in enumerate(pools):
        if not replace and len(pool) < batch_size:
            raise ValueError(
                f"Domain {domains[k]!r} has {len(pool)} examples of {what}, "
                f"fewer than batch_size={batch_size}: draw with replacement "
                "or use a smaller batch."
            )
        rows.append(rng.choice(pool, batch_size, replace=replace))
    return np.stack(rows)


def _read_examples(dataset, wanted):
    found = {}
    if not wanted:
        return found
    wanted_set = set(wanted)
    last = wanted[-1]
    offset = 0
    for x, y in dataset.batch(256).as_numpy_iterator():
        for j in range(len(y)):
            if offset + j in wanted_set:
                found[offset + j] = (x[j], y[j])
        offset += len(y)
        if offset > last:
            break
    return found
