r"""Hyper-parameter sweep and model selection, DomainBed's way.

For every surgery, target domain and trial of the flagfile, --n_hparams
configurations: configuration 0 is the flagfile's own setting, the others
random draws from keras_gs/sweeps/registry.py (reproducible from the
dataset, surgery, configuration and trial). Each job is one run of the
protocol, in <workdir>/hparams_<i>/<dataset>/<surgery>/<target>/trial_<n>/.
Then, per target and trial, training-domain validation and test-domain
validation (oracle) each pick a configuration; the tables (mean ± standard
error over trials) go to <workdir>/sweep.md, .tex and .png.

    python tools/sweep.py --flagfile=configs/rotated_digits_sweep.flags
    python tools/sweep.py --flagfile=configs/pacs.flags --n_hparams=20 \
        --n_trials=3 --data_dir=~/data --workers=4
    python tools/sweep.py --flagfile=configs/rotated_digits_sweep.flags --status

The sweep's state is in an Optuna storage: <workdir>/sweep.db (SQLite) by
default, or --storage=postgresql://user:password@host/database, shared by
machines. Every worker is the same command: run it again, on this machine
or another, to add workers; --workers=N starts N here (one per visible
GPU). A worker that dies leaves its job to the others (after
--grace_period seconds without its heartbeat).
"""

import os
import signal
import subprocess
import sys
import threading
import time

_STARTED = time.perf_counter()

from absl import app
from absl import flags
from absl import logging

import cli

# The experiment's flags are tools/train.py's. This is the one place that
# names that module, so that moving them elsewhere is a one-line change.
from train import config_from_flags as experiment_from_flags
from train import define_flags as define_experiment_flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROG = "sweep.py"
# Where the workers this command starts find the storage URL (never on
# their command line: `ps` shows it to everyone).
STORAGE_VARIABLE = "KERAS_GS_SWEEP_STORAGE"


def define_flags(flag_values=flags.FLAGS):
    """Defines the experiment's flags and the sweep's in `flag_values`."""
    fv = flag_values
    define_experiment_flags(fv)
    # -- the search -------------------------------------------------------
    # DomainBed's name for --trials (trials per surgery and target).
    flags.DEFINE_alias("n_trials", "trials", flag_values=fv)
    flags.DEFINE_integer(
        "n_hparams",
        20,
        "Configurations per (surgery, target, trial); the first is the "
        "flagfile's.",
        lower_bound=1,
        flag_values=fv,
    )
    flags.DEFINE_enum(
        "sampler",
        "random",
        ["random", "tpe"],
        "random: DomainBed's random search (reproducible draws); tpe: "
        "Optuna's TPE proposes each configuration from the finished ones.",
        flag_values=fv,
    )
    flags.DEFINE_enum(
        "pruner",
        "none",
        ["none", "median"],
        "median: stop a run whose source-validation accuracy is below the "
        "median of its search's finished runs at the same step.",
        flag_values=fv,
    )
    # -- where it runs ----------------------------------------------------
    flags.DEFINE_string(
        "storage",
        None,
        "Optuna storage URL, e.g. postgresql://user:password@host/db, or "
        "sqlite:///<path> (relative to --workdir); default: "
        "$KERAS_GS_SWEEP_STORAGE, else sqlite:///<workdir>/sweep.db. Give a "
        "password by that variable (or PGPASSWORD): a command line is "
        "visible to every user of the machine.",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "sweep_name",
        None,
        "The sweep's name in the storage; default: the workdir's base name.",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "workers",
        1,
        "Worker processes started here (each on its own GPU when there are "
        "GPUs); start the same command elsewhere for more.",
        lower_bound=1,
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "heartbeat_interval",
        30,
        "Seconds between a running job's heartbeats.",
        lower_bound=1,
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "grace_period",
        None,
        "Seconds without a heartbeat after which a job is run again "
        "elsewhere; default: 4 heartbeat intervals.",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "max_retry",
        3,
        "How many times a job whose worker died is run again.",
        lower_bound=0,
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "storage_retry_seconds",
        120,
        "How long a worker waits for an unreachable storage (a database "
        "restarting) before it stops; 0 to stop at once.",
        lower_bound=0,
        flag_values=fv,
    )
    flags.DEFINE_bool(
        "retry_failed",
        False,
        "Queue again the jobs that failed with an error (after fixing the "
        "cause), then work.",
        flag_values=fv,
    )
    # -- what it prints ---------------------------------------------------
    flags.DEFINE_bool(
        "status",
        False,
        "Print the jobs done, running, failed and pending, the time left "
        "and the tables so far, then exit.",
        flag_values=fv,
    )
    flags.DEFINE_bool(
        "report",
        True,
        "Write and print the tables when no job is left (the workers that "
        "--workers starts do not).",
        flag_values=fv,
    )


FLAGS = flags.FLAGS


def config_from_flags(values, experiment, sweeps):
    """The typed `SweepConfig` of parsed flags `values`."""
    return sweeps.SweepConfig(
        experiment=experiment_from_flags(values, experiment),
        n_hparams=values.n_hparams,
        sampler=values.sampler,
        pruner=values.pruner,
        name=values.sweep_name,
        storage=values.storage or os.environ.get(STORAGE_VARIABLE),
        heartbeat_interval=values.heartbeat_interval,
        grace_period=values.grace_period,
        max_retry=values.max_retry,
        storage_retry_seconds=values.storage_retry_seconds,
    )


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}; flags are --name=value.")
    print("Loading TensorFlow...", flush=True)
    logging.set_verbosity(logging.ERROR)
    tf, experiment, sweeps = import_quietly()
    config = make_config(FLAGS, experiment, sweeps)
    warn_if_password_in_argv(config, sweeps)
    if FLAGS.status:
        show_status(config, sweeps)
        return
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    if gpus:
        # This process works on the first GPU; each worker it starts on the
        # next (set before TensorFlow's runtime starts).
        tf.config.set_visible_devices(
            tf.config.list_physical_devices("GPU")[:1], "GPU"
        )
    try:
        sweep = prepare(config, sweeps)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted before any job.", file=sys.stderr)
        sys.exit(130)
    print(describe(sweep, config, FLAGS.workers), flush=True)
    if FLAGS.retry_failed:
        queued = sweep.retry_failed()
        print(f"{len(queued)} failed job(s) queued again.", flush=True)
    terminated = catch_sigterm()
    workers = start_workers(FLAGS.workers - 1, len(gpus), config.storage_url)
    forward_sigterm(workers, terminated, experiment.interrupts)
    runner = sweeps.JobRunner(config, sweep.targets, stream=sys.stdout)
    try:
        counts = sweeps.Worker(
            sweep, config, runner, terminated=lambda: bool(terminated)
        ).run()
    except (KeyboardInterrupt, experiment.interrupts.Terminated) as stop:
        print(
            f"{PROG}: interrupted; the job is queued again (its run resumes "
            "from its last backup). Run the same command to go on.",
            file=sys.stderr,
            flush=True,
        )
        stop_workers(workers)
        sys.exit(130 if isinstance(stop, KeyboardInterrupt) else 143)
    except sweeps.StorageUnavailable as error:
        stop_workers(workers)
        fail(error)
    except sweeps.storage.STORAGE_ERRORS as error:
        stop_workers(workers)
        fail(sweeps.storage.explain(config.storage_url, error))
    except (OSError, experiment.errors.InputError) as error:
        # A full disk or a work directory made read-only meanwhile: the
        # files written so far are whole (atomic writes).
        stop_workers(workers)
        fail(f"{error} The jobs finished so far are kept.")
    wait_for(workers)
    print(
        f"This worker: {counts['done']} jobs done, {counts['pruned']} "
        f"pruned, {counts['failed']} failed.",
        flush=True,
    )
    complete = True
    if FLAGS.report:
        results = sweeps.collect(sweep)
        complete = results.complete
        paths = sweeps.write_reports(config.workdir, results)
        print()
        print("\n\n".join(t.markdown() for t in results.tables) or "No table.")
        if results.missing:
            print(
                f"\n{len(results.missing)} searches not complete: see "
                f"{PROG} --status."
            )
        print("Written: " + ", ".join(paths))
    print(f"Wall time {time.perf_counter() - _STARTED:.1f} s.")
    if not complete:
        sys.exit(1)


def make_config(values, experiment, sweeps):
    """The `SweepConfig` of the flags; a bad input exits with one line."""
    try:
        return config_from_flags(values, experiment, sweeps).validate()
    except ValueError as error:
        fail(error)


def prepare(config, sweeps):
    """`sweeps.prepare(config)`: checks everything, then creates or finds
    the sweep; a bad input exits with one line, nothing written."""
    try:
        return sweeps.prepare(config)
    except (ValueError, OSError) as error:
        # OSError: a work directory that cannot be written.
        fail(error)


def show_status(config, sweeps):
    try:
        sweep = sweeps.existing(config)
    except (ValueError, OSError) as error:
        fail(error)
    print(
        f"Sweep {sweep.name!r}: {describe_jobs(sweep)}, in "
        f"{config.storage_url}.\n"
    )
    print(sweeps.status(sweep).markdown())
    results = sweeps.collect(sweep)
    for table in results.tables:
        print()
        print(table.markdown())
    if results.missing:
        print(f"\n{len(results.missing)} searches not complete yet.")


def describe_jobs(sweep):
    d = sweep.definition
    return (
        f"{d['dataset']}, {len(d['surgery'])} surgeries x "
        f"{len(sweep.targets)} targets x {d['trials']} trial(s) x "
        f"{d['n_hparams']} configurations = {sweep.total_jobs} jobs"
    )


def describe(sweep, config, workers):
    return (
        f"Sweep {sweep.name!r}: {describe_jobs(sweep)} of "
        f"{config.experiment.steps} steps; {config.sampler} search, pruner "
        f"{config.pruner}; storage {config.storage_url}; {workers} "
        f"worker(s) here. Runs in {config.workdir}/hparams_<i>/ "
        f"(tensorboard --logdir {config.workdir})."
    )


def start_workers(count, num_gpus, storage=None):
    """Starts `count` more workers: this command again, each on its own
    GPU when there are GPUs, with the storage's URL `storage` (a
    `StorageURL`) in their environment rather than on their command
    line."""
    processes = []
    for i in range(1, count + 1):
        env = dict(os.environ)
        if storage is not None:
            env[STORAGE_VARIABLE] = storage.text
        if num_gpus:
            visible = env.get("CUDA_VISIBLE_DEVICES")
            ids = (
                visible.split(",")
                if visible
                else [str(g) for g in range(num_gpus)]
            )
            env["CUDA_VISIBLE_DEVICES"] = ids[i % len(ids)]
        command = [
            sys.executable,
            os.path.abspath(__file__),
            *without_storage(sys.argv[1:]),
        ]
        command += ["--workers=1", "--noreport"]
        processes.append(subprocess.Popen(command, env=env))
        print(f"Started worker {i} (pid {processes[-1].pid}).", flush=True)
    return processes


def without_storage(args):
    """Command-line `args` without --storage (and its value)."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--storage", "-storage"):
            skip = True
        elif not arg.startswith(("--storage=", "-storage=")):
            kept.append(arg)
    return kept


def warn_if_password_in_argv(config, sweeps):
    """One line when the storage password is on this command line."""
    if sweeps.storage_url.password(config.storage or "") and any(
        arg.lstrip("-").partition("=")[0] == "storage" for arg in sys.argv[1:]
    ):
        print(
            f"{PROG}: warning: the storage password is on the command line, "
            "which ps shows to every user of this machine; set "
            f"{STORAGE_VARIABLE} (or PGPASSWORD) instead.",
            file=sys.stderr,
            flush=True,
        )


def catch_sigterm():
    """Records a SIGTERM that comes between two jobs' runs (during a run,
    the run's own handler stops it after a backup); returns the list it
    is recorded in."""
    received = []
    signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    return received


def forward_sigterm(processes, received, interrupts):
    """Passes a SIGTERM to this command on to the workers it started, at
    once (Kubernetes and Slurm's first step send it to this process
    alone): each stops after backing up its run."""
    if not processes:
        return

    def watch():
        while received == [] and interrupts.requested() != signal.SIGTERM:
            if all(p.poll() is not None for p in processes):
                return
            time.sleep(0.1)
        terminate(processes)

    threading.Thread(target=watch, daemon=True).start()


def stop_workers(processes):
    """SIGTERM to the workers still running, then waits for them."""
    terminate(processes)
    wait_for(processes)


_terminated = set()


def terminate(processes):
    """SIGTERM, once, to each of `processes` still running (a second one
    could come as a worker exits, when Python has put back the default
    handler: it would die by the signal instead of exiting with 143)."""
    for process in processes:
        if process.poll() is None and process.pid not in _terminated:
            _terminated.add(process.pid)
            process.send_signal(signal.SIGTERM)


def wait_for(processes):
    for process in processes:
        code = process.wait()
        if code:
            print(
                f"Worker pid {process.pid} exited with {code}; any job it "
                "left is run again by the others.",
                flush=True,
            )


def import_quietly():
    """TensorFlow, keras_gs.experiment and keras_gs.sweeps, with
    TensorFlow's start-up lines hidden (its runtime not started yet)."""
    import optuna

    # One line per job is the worker's; Optuna's own lines are warnings.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with cli.quiet_native_stderr():
        import tensorflow as tf

        from keras_gs import experiment
        from keras_gs import sweeps
    return tf, experiment, sweeps


def fail(error):
    cli.fail(PROG, error)


if __name__ == "__main__":
    define_flags()
    app.run(main, flags_parser=cli.flags_parser(PROG))
