"""`RunHistory`: what a run has recorded, evaluation by evaluation.

At every evaluation a run appends one entry: the step, the accuracies
(source validation, target validation, target test), the training
averages over the period (loss, accuracy, each domain's loss, agreement,
cosine), the steps skipped, the period's training seconds and the wall
time so far. The history is what `results.json` holds and what a backup
carries, so that a resumed run goes on from it.
"""

from keras_gs.experiment import selection


class RunHistory:
    """The entries of one run, its resumes, and its best step so far.

    Args:
        source_domains: list of str, the names of `loss_<k>`'s domains.
    """

    def __init__(self, source_domains):
        self.source_domains = list(source_domains)
        self.entries = []
        self.resumed_from = []
        self.previous_wall_time = 0.0

    def record(self, step, accuracy, logs, train_seconds, wall_time) -> dict:
        """Appends the evaluation at `step`; returns its entry.

        Args:
            step: int.
            accuracy: dict with `val`, `target_val`, `test`.
            logs: the training averages Keras reports for the period
                (`loss`, `accuracy`, `loss_<k>`, `agreement`, `cosine`,
                `skipped_steps`).
            train_seconds: float, seconds of training in the period.
            wall_time: float, seconds of the run so far.
        """
        train = {}
        for key, value in logs.items():
            if key.startswith("loss_") and key[5:].isdigit():
                domain = self.source_domains[int(key[5:])]
                train[f"loss/{domain}"] = float(value)
            elif key != "skipped_steps":
                train[key] = float(value)
        entry = {
            "step": int(step),
            "source_val_accuracy": accuracy["val"],
            "target_val_accuracy": accuracy["target_val"],
            "target_test_accuracy": accuracy["test"],
            "train": train,
            "skipped_steps": int(logs.get("skipped_steps", 0)),
            "train_seconds": float(train_seconds),
            "wall_time": float(wall_time),
        }
        self.entries.append(entry)
        return entry

    def best_step(self):
        """The step the paper's rule (best source validation) picks."""
        if not self.entries:
            return None
        return selection.select(self.entries, "best_val")["step"]

    def to_json(self) -> dict:
        return {
            "history": self.entries,
            "resumed_from": self.resumed_from,
            "wall_time": self.previous_wall_time,
        }

    def restore(self, stored: dict, step: int):
        """Takes the history of a backup made at `step`."""
        self.entries = list(stored["history"])
        self.resumed_from = list(stored["resumed_from"]) + [int(step)]
        self.previous_wall_time = float(stored["wall_time"])

    @property
    def skipped_steps(self) -> int:
        return sum(e["skipped_steps"] for e in self.entries)
