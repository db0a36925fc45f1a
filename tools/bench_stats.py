"""The statistics of tools/bench.py: paired ratios, their median, a
bootstrap interval and a verdict against a target.

Pure Python and NumPy (no TensorFlow), so that they are tested on their
own. A "pair" is two steps timed back to back (the reference, then the
model under test); the ratio of each pair cancels whatever slowed the
machine during both, and the median of the ratios ignores the few pairs a
burst of other work hit only half of.
"""

import collections

import numpy as np

Summary = collections.namedtuple("Summary", ["median", "low", "high", "verdict"])
Summary.__doc__ = """A ratio as bench.py prints it.

Fields:
    median: float, median of the per-pair ratios.
    low, high: floats, the bootstrap interval of that median.
    verdict: str, from `verdict` ("meets", "misses", "undecided",
        "no target").
"""

MEETS = "meets"
MISSES = "misses"
UNDECIDED = "undecided"
NO_TARGET = "no target"


def pair_ratios(times, reference_times):
    """Per-pair ratios time / reference time (same length, pair by pair)."""
    if len(times) != len(reference_times):
        raise ValueError(
            f"Paired times must have one reference per pair. Received: "
            f"{len(times)} times and {len(reference_times)} references."
        )
    return [t / r for t, r in zip(times, reference_times)]


def median(values):
    """The median (mean of the middle two for an even count)."""
    if len(values) == 0:
        raise ValueError("The median of no values is undefined.")
    return float(np.median(np.asarray(values, dtype=float)))


def bootstrap_interval(values, resamples=2000, seed=0, level=0.90):
    """The `level` percentile interval of the median of `values`.

    Resamples `values` with replacement `resamples` times (seeded, so a
    run is repeatable), takes each resample's median, and returns the
    (1 - level) / 2 and (1 + level) / 2 percentiles of those medians: for
    90 %, the 5th and 95th.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("A bootstrap interval needs at least one value.")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, values.size, size=(resamples, values.size))
    medians = np.median(values[picks], axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.percentile(medians, [100 * tail, 100 * (1 - tail)])
    return float(low), float(high)


def verdict(low, high, target):
    """"meets" if the interval lies at or under `target`, "misses" if
    entirely over it, "undecided" if it straddles it; "no target" for
    `target=None`."""
    if target is None:
        return NO_TARGET
    if high <= target:
        return MEETS
    if low > target:
        return MISSES
    return UNDECIDED


def summarize(ratios, target, resamples=2000, seed=0):
    """The `Summary` of per-pair ratios against `target` (or None)."""
    low, high = bootstrap_interval(ratios, resamples, seed)
    return Summary(median(ratios), low, high, verdict(low, high, target))
