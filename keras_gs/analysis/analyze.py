"""`ConflictAnalyzer`: the conflict measures of a network, per layer.

For a set of per-domain batches (`sampling`), it computes the per-example
gradients of each batch (`per_example`), the measures of every layer and
of the whole network (`measures`), and averages them: per class and over
classes for single-class batches, over batches for all-class ones. With
checkpoints, it does so for each checkpoint's weights in turn.
"""

import dataclasses
import time
from collections.abc import Callable
from collections.abc import Sequence

import numpy as np

from keras_gs.conflicts import layer_groups as layers_lib
from keras_gs.analysis import measures as measures_lib
from keras_gs.analysis import per_example
from keras_gs.analysis import sampling
from keras_gs.analysis.per_example import PerExampleGradients

MEAN = "mean"
ALL_CLASSES_LABEL = "all"
COLUMNS = (
    "checkpoint",
    "step",
    "batches",
    "class",
    "layer",
    "parameters",
    *measures_lib.MEASURES,
    "num_batches",
)


@dataclasses.dataclass
class ConflictReport:
    """What `ConflictAnalyzer.analyze` returns.

    Args:
        rows: list of dict with the keys `COLUMNS`: for each checkpoint,
            each kind of batch, each class (a class name, `"mean"` over the
            classes, or `"all"` for all-class batches) and each layer
            (`"all"`: the whole network), the mean of each measure over
            the batches.
        layers: list of str, the layer names, then `"all"`.
        method: str, how per-example gradients were computed
            (`"vectorized_map"` or `"map_fn"`).
        num_domains: int.
        batch_size: int, examples per domain per batch.
        seconds: float, wall time of the analysis.
    """

    rows: list
    layers: list
    method: str
    num_domains: int
    batch_size: int
    seconds: float

    def select(self, batches: str, label: str, layer: str | None = None):
        """The rows of one kind of batch and class (and layer), by step."""
        return [
            r
            for r in self.rows
            if r["batches"] == batches
            and r["class"] == label
            and (layer is None or r["layer"] == layer)
        ]


class ConflictAnalyzer:
    """Measures how a network's domain gradients conflict, layer by layer.

    Args:
        network: a built `keras.Model` from inputs to logits.
        vectorize: bool, per-example gradients with `tf.vectorized_map`
            (falling back to `tf.map_fn` where it fails). Defaults to
            `True`.

    Example:

    ```python
    analyzer = ConflictAnalyzer(network)
    batches = sampling.class_batches(splits.train_domains, num_classes=10)
    values = analyzer.measure(batches[0])  # {layer: {measure: value}}
    report = analyzer.analyze(batches, checkpoints, splits.class_names)
    ```
    """

    def __init__(self, network, vectorize: bool = True):
        self.network = network
        self.groups = layers_lib.layer_groups(network) + [
            layers_lib.whole_network(network)
        ]
        self._num_domains = None
        self._gradients = None
        self._vectorize = vectorize

    @property
    def layers(self) -> list[str]:
        """The layer names, then `"all"`."""
        return [g.name for g in self.groups]

    @property
    def parameters(self) -> int:
        """The number of trainable scalars of the network."""
        return self.groups[-1].parameters

    @property
    def method(self) -> str:
        """How per-example gradients are computed (see `per_example`)."""
        if self._gradients is not None:
            return self._gradients.method
        if self._vectorize:
            return per_example.VECTORIZED
        return per_example.LOOP

    def measure_array(self, batch) -> np.ndarray:
        """The measures of one batch: `(len(layers), 4)` array.

        Args:
            batch: a `sampling.Batch` (`x` of shape `(K, n, ...)`, `y` of
                shape `(K, n)`).
        """
        x = np.asarray(batch.x)
        y = np.asarray(batch.y)
        num_domains, n = y.shape
        function = self._function(num_domains)
        values = function(
            x.reshape((num_domains * n,) + x.shape[2:]),
            y.reshape((num_domains * n,)),
        )
        return np.asarray(values, dtype="float64")

    def measure(self, batch) -> dict:
        """The measures of one batch: `{layer: {measure: float}}`."""
        values = self.measure_array(batch)
        return {
            name: dict(zip(measures_lib.MEASURES, map(float, row)))
            for name, row in zip(self.layers, values)
        }

    def analyze(
        self,
        batches: Sequence,
        checkpoints: Sequence | None = None,
        class_names: Sequence[str] | None = None,
        progress: Callable[[int, int, object], None] | None = None,
    ) -> ConflictReport:
        """The averaged measures of every checkpoint.

        Args:
            batches: list of `sampling.Batch`, the same for every
                checkpoint.
            checkpoints: list of `run_dir.Checkpoint` (anything with
                `name`, `path`, `step`), whose weights are loaded in turn;
                None measures the network's current weights (as checkpoint
                `"current"`). Defaults to `None`.
            class_names: list of str, names of the class indices. Defaults
                to `None` (the indices).
            progress: callable `(done, total, checkpoint)` called after
                each checkpoint, or None. Defaults to `None`.

        Returns:
            A `ConflictReport`.

        Raises:
            ValueError: naming a checkpoint that does not fit the network.
        """
        if not batches:
            raise ValueError("`batches` is empty: nothing to measure.")
        started = time.perf_counter()
        rows = []
        targets = list(checkpoints) if checkpoints else [None]
        for done, checkpoint in enumerate(targets, 1):
            if checkpoint is not None:
                self._load(checkpoint)
            values = [self.measure_array(b) for b in batches]
            rows += self._rows(checkpoint, batches, values, class_names)
            if progress is not None:
                progress(done, len(targets), checkpoint)
        return ConflictReport(
            rows=rows,
            layers=self.layers,
            method=self.method,
            num_domains=int(np.asarray(batches[0].y).shape[0]),
            batch_size=int(np.asarray(batches[0].y).shape[1]),
            seconds=time.perf_counter() - started,
        )

    # -- internals ------------------------------------------------------------

    def _load(self, checkpoint):
        try:
            self.network.load_weights(checkpoint.path)
        except (ValueError, OSError) as error:
            raise ValueError(
                f"Cannot load checkpoint {checkpoint.path} into network "
                f"{self.network.name!r} (was it written by this run?): "
                f"{error}"
            ) from None

    def _function(self, num_domains):
        if self._gradients is None or self._num_domains != num_domains:
            groups = self.groups

            def measures(example_grads):
                return measures_lib.conflict_measures(
                    example_grads, num_domains, groups
                )

            self._gradients = PerExampleGradients(
                self.network, measures, self._vectorize
            )
            self._num_domains = num_domains
        return self._gradients

    def _rows(self, checkpoint, batches, values, class_names):
        name = "current" if checkpoint is None else checkpoint.name
        step = None if checkpoint is None else checkpoint.step
        groups = {}
        for batch, value in zip(batches, values):
            if batch.kind == sampling.SINGLE_CLASS:
                label = (
                    class_names[batch.label]
                    if class_names is not None
                    else str(batch.label)
                )
            else:
                label = ALL_CLASSES_LABEL
            groups.setdefault((batch.kind, label), []).append(value)
        per_class = [
            np.mean(v, axis=0)
            for (kind, _), v in groups.items()
            if kind == sampling.SINGLE_CLASS
        ]
        averaged = [
            (kind, label, np.mean(v, axis=0), len(v))
            for (kind, label), v in groups.items()
        ]
        if per_class:
            # The mean over classes of each class's mean.
            averaged.insert(
                0,
                (
                    sampling.SINGLE_CLASS,
                    MEAN,
                    np.mean(per_class, axis=0),
                    sum(
                        len(v)
                        for (kind, _), v in groups.items()
                        if kind == sampling.SINGLE_CLASS
                    ),
                ),
            )
        rows = []
        for kind, label, value, count in averaged:
            for group, row in zip(self.groups, value):
                rows.append(
                    {
                        "checkpoint": name,
                        "step": step,
                        "batches": kind,
                        "class": label,
                        "layer": group.name,
                        "parameters": group.parameters,
                        **{
                            m: float(v)
                            for m, v in zip(measures_lib.MEASURES, row)
                        },
                        "num_batches": count,
                    }
                )
        return rows
