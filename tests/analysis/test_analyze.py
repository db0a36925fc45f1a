"""How `ConflictAnalyzer.analyze` averages batches and walks checkpoints."""

import numpy as np
import pytest
from hand_worked import INPUTS
from hand_worked import two_layer_model

from keras_gs.analysis import run_dir
from keras_gs.analysis import sampling
from keras_gs.analysis.analyze import ConflictAnalyzer


def batch(kind, label, scale):
    y = np.full((2, 2), max(label, 0), "int32")
    return sampling.Batch(kind, label, INPUTS * scale, y)


def test_class_rows_average_repeats_and_the_mean_averages_classes(tmp_path):
    network = two_layer_model()
    analyzer = ConflictAnalyzer(network)
    flipped = INPUTS.copy()
    flipped[1, :, :2] *= -1  # the shared layer now disagrees too
    batches = [
        batch(sampling.SINGLE_CLASS, 0, 1.0),
        sampling.Batch(
            sampling.SINGLE_CLASS, 0, flipped, np.zeros((2, 2), "int32")
        ),
        batch(sampling.SINGLE_CLASS, 1, 1.0),
        batch(sampling.ALL_CLASSES, -1, 1.0),
    ]
    report = analyzer.analyze(batches, class_names=["zero", "one"])
    assert report.layers == ["shared", "specific", "all"]
    assert (report.num_domains, report.batch_size) == (2, 2)

    def agreement(label, kind=sampling.SINGLE_CLASS):
        (row,) = report.select(kind, label, "all")
        return row["sign_agreement"], row["num_batches"]

    # all: 50 % agree on the hand-worked inputs, 0 % with shared flipped;
    # label 1 (d = (.5, -.5)) flips every gradient of both domains alike.
    assert agreement("zero") == (pytest.approx(0.25), 2)
    assert agreement("one") == (pytest.approx(0.5), 1)
    # The mean of the class means, not of the 3 batches (1/3).
    assert agreement("mean") == (pytest.approx(0.375), 3)
    assert agreement("all", sampling.ALL_CLASSES) == (pytest.approx(0.5), 1)
    assert {r["checkpoint"] for r in report.rows} == {"current"}

    # Checkpoints are loaded in turn; the weights of the second make every
    # logit differ, so the measures change.
    first = str(tmp_path / "a.weights.h5")
    second = str(tmp_path / "b.weights.h5")
    network.save_weights(first)
    network.get_layer("shared").kernel.assign([[3.0, -3.0], [1.0, 2.0]])
    network.save_weights(second)
    checkpoints = [
        run_dir.Checkpoint("step_1", first, 1),
        run_dir.Checkpoint("step_2", second, 2),
    ]
    seen = []
    report = analyzer.analyze(
        batches[:1], checkpoints, progress=lambda d, t, c: seen.append((d, t))
    )
    assert seen == [(1, 2), (2, 2)]
    rows = report.select(sampling.SINGLE_CLASS, "0", "shared")
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[0]["sign_agreement"] == 1.0
    assert rows[1]["intra_cosine"] != pytest.approx(rows[0]["intra_cosine"])
