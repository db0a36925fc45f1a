"""TensorBoard logs of one run: scalars against the training step, HParams.

`tensorboard --logdir <workdir>` lists each run under its directory name,
`<dataset>/<surgery>/<test_domain>/trial_<n>`. Tags:

- `train/loss`, `train/accuracy`, `train/agreement`, `train/cosine`,
  `train/penalty` (Fishr, IGA), `train/skipped_steps`: averages over the
  steps since the last evaluation;
- `domain_loss/<domain>`: each source domain's loss, likewise;
- `eval/source_val_accuracy`, `eval/target_val_accuracy`,
  `eval/target_test_accuracy`: at each evaluation;
- `selected/<rule>_test_accuracy`: the test accuracy each selection rule
  picks, written when the run ends (the HParams table's metrics).

The run's settings are recorded with the HParams plugin, so the HParams
dashboard can sort and filter runs by surgery, target, trial, etc.
"""

from tensorboard.plugins.hparams import api as hp

from keras_gs.utils.tensorboard_events import EventWriter


class RunLogger:
    """Writes one run's TensorBoard events; does nothing when disabled.

    Args:
        logdir: str, the run's directory.
        hparams: dict of str -> str/int/float/bool, the run's settings.
        name: str, the run's name in the HParams table.
        enabled: bool, False on processes that do not write files.
            Defaults to `True`.
    """

    def __init__(self, logdir, hparams, name, enabled=True):
        self._writer = None
        if not enabled:
            return
        self._writer = EventWriter(logdir)
        self._writer.summary(
            0,
            hp.hparams_pb(
                {k: _hparam_value(v) for k, v in hparams.items()},
                trial_id=name,
            ),
        )
        self._writer.flush()

    def scalars(self, step: int, values: dict):
        """Writes `{tag: value}` at `step` (None values are left out)."""
        if self._writer is not None:
            self._writer.scalars(step, values)

    def close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def evaluation_scalars(entry: dict, source_domains) -> dict:
    """The TensorBoard scalars of one history entry (see `run.train_run`)."""
    train = entry["train"]
    values = {
        "eval/source_val_accuracy": entry["source_val_accuracy"],
        "eval/target_val_accuracy": entry["target_val_accuracy"],
        "eval/target_test_accuracy": entry["target_test_accuracy"],
        "train/skipped_steps": entry["skipped_steps"],
    }
    # `penalty`: Fishr's and IGA's penalty before its weight.
    for name in ("loss", "accuracy", "agreement", "cosine", "penalty"):
        if name in train:
            values[f"train/{name}"] = train[name]
    for domain in source_domains:
        key = f"loss/{domain}"
        if key in train:
            values[f"domain_loss/{domain}"] = train[key]
    return values


def _hparam_value(value):
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
