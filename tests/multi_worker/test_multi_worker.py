"""GradSurgeryModel.fit under MultiWorkerMirroredStrategy: 2 processes on
localhost, one CPU each, against a single process on the same global
batches (METHOD.md §5)."""

import keras
import numpy as np

from multi_worker.cluster import Cluster
from multi_worker.job import build_model
from multi_worker.job import global_batches
from trained_surgeries import ACROSS_WORKERS

# Every rule runs on two replicas in tests/model/test_two_replicas.py (and
# the aggregators in test_aggregators_in_training.py); across processes,
# one rule per path through the step.
SURGERIES = ACROSS_WORKERS
STEPS = 3


def single_process(surgery, one_device):
    with one_device.scope():
        model = build_model(surgery)
    history = model.fit(
        global_batches(), steps_per_epoch=STEPS, verbose=0
    ).history
    return [w.numpy() for w in model.network.weights], history


def test_two_workers_equal_one_process(tmp_path, one_device):
    # The rules (agr-rand and pcgrad with the same seed) in one job.
    spec = {
        "surgeries": SURGERIES,
        "steps": STEPS,
        "evaluate": True,
        "save_dir": str(tmp_path),
    }
    with Cluster(tmp_path, spec) as cluster:
        workers = cluster.results()
    worst = 0.0
    for surgery in SURGERIES:
        weights, history = single_process(surgery, one_device)
        for worker in workers:
            result = worker[surgery]
            for a, b in zip(weights, result["weights"]):
                np.testing.assert_allclose(
                    a, np.array(b), atol=1e-5, err_msg=surgery
                )
                worst = max(worst, float(np.abs(a - np.array(b)).max()))
            for key, values in history.items():
                np.testing.assert_allclose(
                    values,
                    result["history"][key],
                    rtol=1e-5,
                    atol=1e-6,
                    err_msg=f"{surgery} {key}",
                )
    print(f"largest weight difference over all surgeries: {worst:.2e}")
    chief = workers[0][SURGERIES[0]]
    assert set(chief["evaluate"]) == {"loss", "accuracy"}
    assert chief["predict_shape"] == [8, 2]
    restored = keras.saving.load_model(chief["saved"])
    assert restored.num_domains == 3


def test_a_killed_worker_resumes_from_the_backup(tmp_path):
    backup = tmp_path / "backup"
    # 4 epochs of 2 steps, a backup at the end of each epoch. Worker 1
    # dies during epoch 3 (after step 5); the chief then hangs in its next
    # collective and is stopped, as a cluster manager would.
    spec = {
        "surgeries": ["agr-sum"],
        "steps": 2,
        "epochs": 4,
        "backup_dir": str(backup),
    }
    first = tmp_path / "first"
    first.mkdir()
    with Cluster(first, dict(spec, kill={"worker": 1, "after": 5})) as cluster:
        cluster.processes[1].wait(timeout=240)
        assert cluster.processes[1].returncode == -9, cluster.log(1)
        assert (backup / "latest.weights.h5").exists()
        cluster.kill()
    # Only the chief wrote the backup: no temporary or second files.
    assert sorted(p.name for p in backup.iterdir()) == [
        "latest.weights.h5",
        "training_metadata.json",
    ]
    second = tmp_path / "second"
    second.mkdir()
    with Cluster(second, dict(spec)) as cluster:
        workers = cluster.results()
    for worker in workers:
        result = worker["agr-sum"]
        # Restored at the end of epoch 2 (step 4), then epochs 3 and 4.
        assert result["start"] == 4
        assert result["iterations"] == 8
        assert len(result["history"]["loss"]) == 2
    for a, b in zip(workers[0]["agr-sum"]["weights"], workers[1]["agr-sum"]["weights"]):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    # The chief deleted the backup at the end, as Keras does.
    assert not backup.exists()
