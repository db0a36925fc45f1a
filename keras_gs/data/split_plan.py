"""`SplitPlan`: which examples of which domain go to which split."""

import dataclasses
from collections.abc import Sequence

from keras_gs.data import splits as splits_lib
from keras_gs.data.domain_names import resolve_domains


@dataclasses.dataclass(frozen=True)
class SplitPlan:
    """A leave-one-domain-out split of a dataset, as example indices.

    Args:
        source_domains: list of str, the training domains.
        test_domains: list of str, the held-out domains.
        indices: dict, domain -> {"train", "val", "test"} -> list of the
            domain's example indices. A test domain's "test" is all of it
            with `test_on="domain"`.
        domain_sizes: dict, every domain's split sizes, as a test or as a
            source domain (`DomainSplits.domain_sizes`).
    """

    source_domains: list[str]
    test_domains: list[str]
    indices: dict[str, dict[str, list[int]]]
    domain_sizes: dict[str, dict[str, int]]

    def counts(self) -> dict[str, dict[str, int]]:
        """The examples per domain of `train` and `val` (source domains)
        and of `test` (test domains): `DomainSplits.sizes`."""
        return {
            "train": {d: len(self.indices[d]["train"]) for d in self.source_domains},
            "val": {d: len(self.indices[d]["val"]) for d in self.source_domains},
            "test": {d: len(self.indices[d]["test"]) for d in self.test_domains},
        }

    def num_examples(self) -> int:
        """The examples `load` reads: `counts()` and the test domains' val."""
        return sum(
            n for split in self.counts().values() for n in split.values()
        ) + sum(len(self.indices[d]["val"]) for d in self.test_domains)


def plan_splits(
    labels: dict[str, list[int]],
    domains: Sequence[str],
    test_domains,
    fractions: Sequence[float],
    split_seed: int,
    test_on: str,
) -> SplitPlan:
    """Splits every domain on its own, stratified by class (see `load`).

    Args:
        labels: dict, each domain's example labels (`DomainSource.labels`).
        domains: the dataset's domains, in its order.
        test_domains: str, list of str or None, as `load` takes them.
        fractions: three floats, checked.
        split_seed: int.
        test_on: str, `"split"` or `"domain"`.
    """
    test_domains = resolve_test_domains(test_domains, domains)
    source_domains = [d for d in domains if d not in test_domains]
    # The same seed for every domain: a domain's split depends only on its
    # own labels, not on which domains were loaded with it.
    indices = {
        d: splits_lib.stratified_split(labels[d], fractions, split_seed)
        for d in domains
    }
    domain_sizes = {
        d: {
            "train": len(split["train"]),
            "val": len(split["val"]),
            "test": len(split["test"])
            if test_on == "split"
            else len(labels[d]),
        }
        for d, split in indices.items()
    }
    if test_on == "domain":
        for d in test_domains:
            indices[d]["test"] = list(range(len(labels[d])))
    return SplitPlan(source_domains, test_domains, indices, domain_sizes)


def resolve_test_domains(test_domains, domains) -> list[str]:
    """`load`'s `test_domains` as domain names; None is the first domain.

    Raises:
        ValueError: fewer than 2 domains, every domain held out, none, or
            an unknown name (with the valid ones).
    """
    if len(domains) < 2:
        raise ValueError(
            f"A leave-one-domain-out split needs at least 2 domains; the "
            f"dataset has {len(domains)}: {list(domains)}."
        )
    if test_domains is None:
        return [domains[0]]
    if isinstance(test_domains, str):
        test_domains = [test_domains]
    resolved = resolve_domains(test_domains, domains)
    if len(resolved) == len(domains):
        raise ValueError(
            f"Every domain is a test domain ({resolved}); leave at least "
            f"one out for training. Valid: {', '.join(domains)}"
        )
    if not resolved:
        raise ValueError(f"`test_domains` is empty. Valid: {', '.join(domains)}")
    return resolved
