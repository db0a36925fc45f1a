"""`EventWriter`: TensorBoard event files, written without TensorFlow ops.

keras_gs writes its own TensorBoard logs (a run's evaluations, the
per-layer conflicts) as protocol buffers with TensorBoard's event-file
writer: `tf.summary.scalar` costs about 0.6 ms per scalar on a CPU, as
much as a whole evaluation of the embedded digits per period. Keras's
`TensorBoard` callback is left to users' own logs.
"""

import time

import numpy as np
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util


class EventWriter:
    """Appends scalars and histograms to a new event file in `logdir`.

    Args:
        logdir: str, the directory (a TensorBoard run).
        flush_secs: float, how often pending events are flushed. Defaults
            to `10`.
    """

    def __init__(self, logdir, flush_secs=10):
        self._writer = EventFileWriter(logdir, flush_secs=flush_secs)

    def summary(self, step: int, summary):
        """Writes a `Summary` protocol buffer at `step`."""
        self._writer.add_event(
            event_pb2.Event(
                step=int(step), wall_time=time.time(), summary=summary
            )
        )

    def scalars(self, step: int, values: dict, as_tensors: bool = False):
        """Writes `{tag: value}` at `step` (None values are left out).

        Args:
            as_tensors: bool, write them as `tf.summary.scalar` does (a
                tensor with the scalar plugin's metadata) rather than as
                TensorBoard's plain `simple_value`s; both show alike in
                TensorBoard. Defaults to `False`.
        """
        summary = summary_pb2.Summary()
        for tag, value in values.items():
            if value is None:
                continue
            if as_tensors:
                summary.value.add(
                    tag=tag,
                    tensor=tensor_util.make_tensor_proto(
                        np.float32(value)
                    ),
                    metadata=scalar_metadata.create_summary_metadata(
                        display_name=tag, description=""
                    ),
                )
            else:
                summary.value.add(tag=tag, simple_value=float(value))
        self.summary(step, summary)

    def histogram(self, step: int, tag: str, counts, description: str = ""):
        """Writes a histogram of integer values 0..len(counts)-1 at `step`.

        Args:
            counts: sequence, how many items have each value.
        """
        edges = np.arange(len(counts), dtype="float64")
        buckets = np.stack([edges - 0.5, edges + 0.5, counts], axis=1)
        value = summary_pb2.Summary.Value(
            tag=tag,
            metadata=histogram_metadata.create_summary_metadata(
                display_name=tag, description=description
            ),
            tensor=tensor_util.make_tensor_proto(buckets),
        )
        self.summary(step, summary_pb2.Summary(value=[value]))

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()
