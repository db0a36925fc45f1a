"""`SweepStorage`: Optuna's RDB storage, plus the running trials that never
sent a heartbeat.

Optuna takes a job (`ask`: the trial becomes RUNNING) and only then starts
the thread whose first heartbeat marks the trial as alive. A worker killed
between the two (kill -9, the OOM killer, a machine lost) leaves a RUNNING
trial without any heartbeat, and `optuna.storages.fail_stale_trials`
never fails such a trial (on purpose: Optuna's own tests check it, since
a storage with heartbeats switched on later holds old trials without
any): its job would wait forever, and every other worker with it. The
sweep's `Worker` therefore asks the storage for these trials, and fails
them itself once it has seen one silent for the grace period.
"""

import optuna
from optuna.storages._rdb import models
from optuna.trial import TrialState


class SweepStorage(optuna.storages.RDBStorage):
    """An `optuna.storages.RDBStorage` with `get_silent_trial_ids`.

    Its public methods are all Optuna's but this one, so `add_retries`
    wraps it as the others (it waits out an outage the same way).
    """

    def get_silent_trial_ids(self, study_id: int) -> list[int]:
        """The ids of the study's RUNNING trials with no heartbeat.

        Read from Optuna's heartbeat table (no public call tells it), in
        the same way as Optuna's `_get_stale_trial_ids` reads it.

        Args:
            study_id: int, the study's id in the storage.

        Returns:
            list of int, trial ids.
        """
        session = self.scoped_session()
        try:
            trials = (
                session.query(models.TrialModel)
                .filter(models.TrialModel.state == TrialState.RUNNING)
                .filter(models.TrialModel.study_id == study_id)
                .filter(~models.TrialModel.heartbeats.any())
                .all()
            )
            return [trial.trial_id for trial in trials]
        finally:
            session.close()
