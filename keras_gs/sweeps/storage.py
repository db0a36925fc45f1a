"""The sweep's state in Optuna's storage: its definition, searches, jobs.

The storage is an Optuna `RDBStorage`: an SQLite file (one machine) or a
PostgreSQL database (several machines). It holds, per sweep:

- a study named after the sweep, whose user attributes are the sweep's
  `definition` and its resolved `targets` (and `ready` once every job is
  created);
- one study per search (`jobs.Search`), holding one trial per job.

Heartbeats and the retry of dead jobs are Optuna's: `open_storage` gives
the storage a heartbeat interval, a grace period and Optuna's
`RetryHeartbeatStaleTrialCallback`.
"""

import functools
import os
import random
import sqlite3
import time
import warnings

import optuna
import sqlalchemy

from keras_gs.sweeps import registry
from keras_gs.sweeps.config import comparable
from keras_gs.sweeps.config import differences
from keras_gs.sweeps.jobs import FAILED
from keras_gs.sweeps.jobs import Search
from keras_gs.sweeps.jobs import job_states
from keras_gs.sweeps.storage_retry import add_retries
from keras_gs.sweeps.storage_url import StorageURL
from keras_gs.sweeps.sweep_storage import SweepStorage

# What a storage raises when its database answers with an error.
STORAGE_ERRORS = (
    optuna.exceptions.StorageInternalError,
    sqlalchemy.exc.SQLAlchemyError,
)
# How long a command waits for another one to finish creating the sweep.
CREATION_TIMEOUT = 300


def open_storage(
    url: str,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    max_retry: int = 3,
    create: bool = True,
    retry_seconds: float = 0,
):
    """Connects to an Optuna RDB storage; a ValueError if it cannot.

    Args:
        url: `StorageURL` or str, an SQLAlchemy URL (`sqlite:///path`,
            `postgresql://...`).
        heartbeat_interval: int or None, seconds between the heartbeats of
            a running trial; None for no heartbeats (reading only).
        grace_period: int or None, seconds without a heartbeat after which
            a trial is failed and retried. Defaults to `None` (Optuna's: two
            heartbeat intervals).
        max_retry: int, how many times a trial is retried. Defaults to `3`.
        create: bool, whether an SQLite file may be created; if False, a
            missing file is a ValueError. Defaults to `True`.
        retry_seconds: float, how long each call waits for the database
            when it cannot be reached (`storage_retry.add_retries`); 0 for
            not at all. Defaults to `0`.

    Returns:
        A `SweepStorage` (an `optuna.storages.RDBStorage`).
    """
    url = StorageURL.of(url)
    engine_kwargs = {}
    if url.kind == "sqlite":
        path = url.path
        folder = os.path.dirname(path)
        if not os.path.isdir(folder) or (
            not create and not os.path.exists(path)
        ):
            raise ValueError(
                f"No such file or folder for the storage. Received: "
                f"storage={str(url)!r}"
            )
        engine_kwargs["creator"] = functools.partial(_sqlite_connection, path)
    else:
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
        engine_kwargs["pool_pre_ping"] = True
    options = {}
    try:
        with warnings.catch_warnings():
            # Heartbeats and their callback are "experimental" since 2.8.
            warnings.simplefilter(
                "ignore", optuna.exceptions.ExperimentalWarning
            )
            if heartbeat_interval is not None:
                options = dict(
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=(
                        optuna.storages.RetryHeartbeatStaleTrialCallback(
                            max_retry=max_retry
                        )
                    ),
                )
            storage = _connect(url.secret, engine_kwargs, options)
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as error:
        if _damaged(url, error):
            raise explain(url, error) from None
        raise ValueError(
            f"Cannot open the storage. Received: storage={str(url)!r} "
            f"({url.hide(_reason(error))})"
        ) from None
    return add_retries(storage, retry_seconds, str(url))


def _connect(url, engine_kwargs, options, attempts=5):
    """`SweepStorage(url, ...)`, tried again when another process was
    creating Optuna's tables in the same new database at the same moment
    (two workers started at once on a new storage): SQLAlchemy looks for
    each table, then creates it, and another process may create it in
    between. PostgreSQL then answers with an IntegrityError or a
    ProgrammingError (optuna/optuna#1092), SQLite with "table ... already
    exists" (in 40 of 90 processes started in threes on new files)."""
    for attempt in range(attempts):
        try:
            return SweepStorage(url, engine_kwargs=engine_kwargs, **options)
        except sqlalchemy.exc.SQLAlchemyError as error:
            if attempt == attempts - 1 or not _created_meanwhile(error):
                raise
            time.sleep(0.5 + random.random())


def _created_meanwhile(error) -> bool:
    """Whether `error` says that a table (or a row of Optuna's version
    table) was created by another process since SQLAlchemy looked."""
    if isinstance(
        error, (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError)
    ):
        return True
    return isinstance(error, sqlalchemy.exc.OperationalError) and (
        "already exists" in str(_root(error))
    )


def _sqlite_connection(path):
    """An SQLite connection for a storage several workers share.

    In WAL mode with `synchronous=NORMAL`: a commit appends to the log
    without waiting for the disk (0.1 ms instead of 9 ms on the CI
    machine; a job commits about 20 times), readers do not block the
    writer, and a crash of the machine loses at most the last commits,
    never the file's consistency (the jobs they finished then run again).
    A busy file is waited for (60 s) rather than an error at once.
    """
    connection = sqlite3.connect(path, timeout=60, check_same_thread=False)
    _use_wal(connection)
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def _use_wal(connection, attempts=50):
    """Puts the connection's file in WAL mode, which the file keeps: only
    the first connections to a new file change it. Changing it while
    another connection uses the file is refused at once ("database is
    locked", whatever the busy timeout): two workers started at once on a
    new file. The mode is then looked at again (the other one may have
    set it) and, if need be, set a moment later."""
    for attempt in range(attempts):
        try:
            (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
            if mode.lower() != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 + 0.1 * random.random())


class Sweep:
    """A sweep in a storage: its definition, its searches and their jobs.

    Use `Sweep.create` (or `Sweep.find`) rather than the constructor.

    Args:
        storage: the `optuna.storages.RDBStorage`.
        definition: dict, `SweepConfig.definition()`.
        targets: list of str, the target domains, resolved.
    """

    def __init__(self, storage, definition: dict, targets):
        self.storage = storage
        self.definition = definition
        self.targets = list(targets)
        self.name = definition["name"]
        self.searches = [
            Search(self.dataset, surgery, target, trial)
            for trial in range(definition["trials"])
            for surgery in definition["surgery"]
            for target in self.targets
        ]
        self._studies = {}

    @property
    def dataset(self) -> str:
        return self.definition["dataset"]

    @property
    def n_hparams(self) -> int:
        return self.definition["n_hparams"]

    @property
    def total_jobs(self) -> int:
        return len(self.searches) * self.n_hparams

    # -- creating and finding -------------------------------------------------

    @classmethod
    def find(cls, storage, config) -> "Sweep | None":
        """The sweep named as `config`'s in `storage`, or None.

        Raises a ValueError when the storage holds another sweep of that
        name (other settings), and waits while another command is still
        creating it.
        """
        try:
            index = optuna.load_study(
                study_name=config.sweep_name, storage=storage
            )
        except KeyError:
            return None
        started = time.monotonic()
        while "ready" not in index.user_attrs:
            if time.monotonic() - started > CREATION_TIMEOUT:
                raise ValueError(
                    f"The sweep {config.sweep_name!r} in the storage was never "
                    "finished being created (was its first command stopped "
                    "while creating it?): delete its studies or use another "
                    "sweep name."
                )
            time.sleep(1.0)
            index = optuna.load_study(
                study_name=config.sweep_name, storage=storage
            )
        theirs = index.user_attrs["definition"]
        ours = comparable(config.definition(), theirs)
        if theirs != ours:
            raise ValueError(
                f"The storage holds another sweep named {config.sweep_name!r} "
                f"({differences(ours, theirs)}). Use the same settings, or "
                "another sweep name."
            )
        return cls(storage, theirs, index.user_attrs["targets"])

    @classmethod
    def load(cls, storage, name: str) -> "Sweep":
        """The sweep `name` as its storage defines it (for reading)."""
        try:
            index = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            raise ValueError(
                f"The storage holds no sweep named {name!r}. Valid: "
                f"{', '.join(_sweep_names(storage)) or 'none'}"
            ) from None
        attrs = index.user_attrs
        if "ready" not in attrs:
            raise ValueError(f"The sweep {name!r} is still being created.")
        return cls(storage, attrs["definition"], attrs["targets"])

    @classmethod
    def create(cls, storage, config, targets) -> "Sweep":
        """Creates the sweep of `config` in `storage`, or finds it there.

        The first command creates one study per search and, in it, one
        waiting trial per job: with random search, each with its
        configuration (`registry.draw`) as fixed parameters and in its
        `hparams` attribute; with TPE, configuration 0 so, the others empty
        (TPE fills them when a worker takes them). Creating the sweep's own
        study first is the lock: only the command that creates it creates
        the jobs.

        Args:
            storage: the storage (`open_storage`).
            config: the `SweepConfig`.
            targets: list of str, the target domains, resolved.

        Returns:
            The `Sweep`.
        """
        try:
            index = optuna.create_study(
                study_name=config.sweep_name, storage=storage
            )
        except optuna.exceptions.DuplicatedStudyError:
            return cls.find(storage, config)
        definition = config.definition()
        index.set_user_attr("definition", definition)
        index.set_user_attr("targets", list(targets))
        sweep = cls(storage, definition, targets)
        experiment = config.experiment
        for search in sweep.searches:
            study = optuna.create_study(
                study_name=search.study_name(sweep.name),
                storage=storage,
                direction="maximize",
                load_if_exists=True,
            )
            space = registry.space(
                search.dataset, search.surgery, experiment.warmup_steps
            )
            for i in range(config.n_hparams):
                attrs = search.job(i).attrs()
                params = {}
                if i == 0 or config.sampler == "random":
                    hparams = registry.draw(
                        experiment, search.surgery, i, search.trial
                    )
                    attrs["hparams"] = hparams
                    params = fixed_params(space, hparams)
                study.enqueue_trial(params, user_attrs=attrs)
        index.set_user_attr("ready", True)
        return sweep

    # -- reading --------------------------------------------------------------

    def study(self, search: Search, sampler=None, pruner=None):
        """The Optuna study of `search` (cached when no sampler or pruner
        is given)."""
        if sampler is not None or pruner is not None:
            return optuna.load_study(
                study_name=search.study_name(self.name),
                storage=self.storage,
                sampler=sampler,
                pruner=pruner,
            )
        if search not in self._studies:
            self._studies[search] = optuna.load_study(
                study_name=search.study_name(self.name),
                storage=self.storage,
                sampler=optuna.samplers.RandomSampler(),
            )
        return self._studies[search]

    def job_states(self) -> dict:
        """`{search: [JobState, ...]}` of every search, read now."""
        return {
            search: job_states(self.study(search).get_trials(deepcopy=False))
            for search in self.searches
        }

    def retry_failed(self) -> list:
        """Queues again every job whose run failed with an error, with
        Optuna's retry (a copy of the trial, waiting); returns the jobs.

        For after fixing what made them fail: nothing retries an error
        by itself (it would most likely fail again).
        """
        queued = []
        for search, states in self.job_states().items():
            for state in states:
                if state.state == FAILED:
                    with warnings.catch_warnings():
                        warnings.simplefilter(
                            "ignore", optuna.exceptions.ExperimentalWarning
                        )
                        retry = (
                            optuna.storages.RetryHeartbeatStaleTrialCallback()
                        )
                        retry(self.study(search), state.trial)
                    queued.append(state.job)
        return queued


def fixed_params(space: dict, hparams: dict) -> dict:
    """The settings of `hparams` that Optuna can hold as parameters: those
    inside their distribution (configuration 0 may lie outside)."""
    return {
        name: hparams[name]
        for name, distribution in space.items()
        if name in hparams and registry.contains(distribution, hparams[name])
    }


def _sweep_names(storage):
    return sorted(
        s.study_name
        for s in optuna.get_all_study_summaries(
            storage, include_best_trial=False
        )
        if "/" not in s.study_name
    )


def explain(url, error) -> ValueError:
    """One line for an error the storage `url` (a `StorageURL`) answered
    with: a damaged SQLite file says how to rebuild it."""
    url = StorageURL.of(url)
    if _damaged(url, error):
        return ValueError(
            f"The sweep's storage {url.path} is damaged ({_reason(error)}). "
            "Delete it: the next command rebuilds the sweep from the runs "
            "in the work directory."
        )
    return ValueError(
        f"The storage {url} failed ({url.hide(_reason(error))})."
    )


def _damaged(url, error) -> bool:
    """Whether `error` says that the SQLite file is not a sound database
    (not merely busy: sqlite3's OperationalError)."""
    root = _root(error)
    return (
        url.kind == "sqlite"
        and isinstance(root, sqlite3.DatabaseError)
        and not isinstance(root, sqlite3.OperationalError)
    )


def _root(error):
    """The driver's own error behind SQLAlchemy's and Optuna's."""
    seen = set()
    while id(error) not in seen:
        seen.add(id(error))
        inner = getattr(error, "orig", None) or error.__cause__
        if inner is None:
            break
        error = inner
    return error


def _reason(error) -> str:
    text = str(_root(error)).strip()
    return " ".join(text.splitlines()[0].split()) if text else ""
