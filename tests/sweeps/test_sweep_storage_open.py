"""open_storage: several workers opening a new SQLite storage at once."""

import threading

import optuna

from keras_gs.sweeps import open_storage


def open_at_once(url, count):
    """Opens `url` from `count` threads released together; returns what
    each got (a storage, or the exception it raised)."""
    barrier = threading.Barrier(count)
    got = [None] * count

    def open_one(i):
        barrier.wait()
        try:
            got[i] = open_storage(url)
        except Exception as error:  # Recorded, and failed below.
            got[i] = error

    threads = [
        threading.Thread(target=open_one, args=(i,)) for i in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return got


def test_workers_started_at_once_on_a_new_sqlite_file_all_open_it(tmp_path):
    # Each round is a new file, opened by three at once: all create
    # Optuna's tables and switch the file to WAL mode at the same moment.
    # Before, about 2 of 3 rounds failed one of them ("table studies
    # already exists", or "database is locked" while switching to WAL).
    for round_ in range(4):
        url = f"sqlite:///{tmp_path}/sweep_{round_}.db"
        got = open_at_once(url, 3)
        errors = [g for g in got if isinstance(g, Exception)]
        assert not errors, errors
        for storage in got:
            assert isinstance(storage, optuna.storages.RDBStorage)
            storage.engine.dispose()
        # One sound database, in WAL mode, that all three use.
        storage = open_storage(url, create=False)
        optuna.create_study(study_name="s", storage=storage)
        summaries = optuna.get_all_study_summaries(
            storage, include_best_trial=False
        )
        assert [s.study_name for s in summaries] == ["s"]
        with storage.engine.connect() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        assert mode == "wal"
        storage.engine.dispose()
