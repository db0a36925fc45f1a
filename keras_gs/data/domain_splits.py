"""`DomainSplits`: what `keras_gs.data.load` returns."""

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class DomainSplits:
    """A leave-domains-out split of a multi-domain dataset, ready to train.

    Args:
        train_domains: list of unbatched `tf.data.Dataset`s of
            `(image, label)`, one per source domain (in `source_domains`
            order), ready for `keras_gs.data.zip_domains`.
        val: unbatched `tf.data.Dataset` of `(image, label)`: the union of
            the source domains' validation splits.
        test: unbatched `tf.data.Dataset` of `(image, label)`: the test
            domains' test splits, or the whole test domains.
        source_domains: list of str, the training domains.
        test_domains: list of str, the held-out domains.
        class_names: list of str; label `i` is `class_names[i]`.
        sizes: dict `{"train": {domain: n}, "val": {domain: n},
            "test": {domain: n}}`, the number of examples of each domain in
            each split.
        image_shape: tuple of int, the shape of every image.
        skipped_files: list of str, unreadable image files left out.
        test_val: unbatched `tf.data.Dataset` of `(image, label)` or None:
            the test domains' validation splits (10 % of each test domain
            by default), for selecting a checkpoint on the target
            ("oracle" selection, an upper bound). With `test_on="split"` it
            is disjoint from `test`; with `test_on="domain"`, `test` is the
            whole test domains, so `test_val` is a subset of `test`.
        domains: list of str, every domain of the dataset in its own order
            (the columns of a results table); empty: the test domains,
            then the source domains.
        training_domains: list of `keras_gs.data.TrainingDomain`, the
            source domains' train splits before augmentation and
            normalization, with what each draw goes through: what
            `zip_domains` draws from by position (exactly resumable).
            Empty: `train_domains` stand for them.
    """

    train_domains: list[tf.data.Dataset]
    val: tf.data.Dataset
    test: tf.data.Dataset
    source_domains: list[str]
    test_domains: list[str]
    class_names: list[str]
    sizes: dict[str, dict[str, int]]
    image_shape: tuple[int, ...]
    skipped_files: list[str] = dataclasses.field(default_factory=list)
    test_val: tf.data.Dataset | None = None
    domains: list[str] = dataclasses.field(default_factory=list)
    training_domains: list = dataclasses.field(default_factory=list)

    def __post_init__(self):
        if not self.domains:
            object.__setattr__(
                self, "domains", list(self.test_domains + self.source_domains)
            )
        if not self.training_domains:
            object.__setattr__(
                self, "training_domains", list(self.train_domains)
            )

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.class_names)

    def summary(self) -> str:
        """A table of examples per domain and split, as a string."""
        domains = self.source_domains + self.test_domains
        width = max(len(d) for d in domains + ["domain"]) + 2
        lines = [
            f"{'domain':<{width}}{'role':<8}{'train':>8}{'val':>8}{'test':>8}"
        ]
        for domain in domains:
            role = "source" if domain in self.source_domains else "test"
            counts = [
                self.sizes[split].get(domain, 0)
                for split in ("train", "val", "test")
            ]
            lines.append(
                f"{domain:<{width}}{role:<8}"
                + "".join(f"{n:>8}" for n in counts)
            )
        totals = [sum(self.sizes[s].values()) for s in ("train", "val", "test")]
        lines.append(
            f"{'total':<{width}}{'':<8}" + "".join(f"{n:>8}" for n in totals)
        )
        lines.append(
            f"{self.num_classes} classes, images {self.image_shape}"
            + (
                f", {len(self.skipped_files)} unreadable file(s) skipped"
                if self.skipped_files
                else ""
            )
        )
        return "\n".join(lines)
