"""Hyper-parameter sweeps and model selection, on Optuna's storage.

DomainBed's protocol (Gulrajani and Lopez-Paz, "In Search of Lost Domain
Generalization", ICLR 2021) on top of `keras_gs.experiment`: for every
surgery, target domain and trial, `n_hparams` configurations (the
flagfile's own, then random draws from `registry`), each one run of the
protocol; then, per target and trial, a selection rule picks one
configuration (`selection`), and the tables report mean ± standard error
over trials (`tables`, `results`).

The sweep's state lives in an Optuna storage (SQLite or PostgreSQL):
which jobs exist, which run, finished or failed, and their results
(`storage`, `jobs`). Workers (`Worker`, running jobs with `JobRunner`)
take jobs from it, with Optuna's heartbeats and retries. `tools/sweep.py`
is the command-line front end.

The modules, one purpose each: `config` (`SweepConfig`), `registry` (the
searched distributions), `jobs` (jobs and searches as Optuna trials and
studies), `storage` (the storage and the sweep in it), `storage_url` (its URL,
password masked), `storage_retry` (waiting out a database outage), `prepare` (checks,
then creates or finds a sweep), `worker`, `runner` (a job as a run of the
protocol), `selection`, `tables`, `results`, `status`.
"""

from keras_gs.sweeps import registry
from keras_gs.sweeps import selection
from keras_gs.sweeps.config import SweepConfig
from keras_gs.sweeps.jobs import Job
from keras_gs.sweeps.jobs import Search
from keras_gs.sweeps.prepare import existing
from keras_gs.sweeps.prepare import prepare
from keras_gs.sweeps.results import collect
from keras_gs.sweeps.results import write_reports
from keras_gs.sweeps.runner import JobRunner
from keras_gs.sweeps.status import status
from keras_gs.sweeps.storage import Sweep
from keras_gs.sweeps.storage import open_storage
from keras_gs.sweeps.storage_retry import StorageUnavailable
from keras_gs.sweeps.storage_url import StorageURL
from keras_gs.sweeps.worker import Worker

__all__ = [
    "Job",
    "JobRunner",
    "Search",
    "StorageURL",
    "StorageUnavailable",
    "Sweep",
    "SweepConfig",
    "Worker",
    "collect",
    "existing",
    "open_storage",
    "prepare",
    "registry",
    "selection",
    "status",
    "write_reports",
]
