"""Train-step time and memory of every surgery, paired against ERM.

All models are built in this one process and stepped in pairs, the
reference first and the model under test right after (A, B, A, B ...),
one compiled train step at a time (`model.train_function`, after warm-up
steps that trace). A pair's ratio, model time / reference time, cancels
whatever slowed the machine during both steps; the median of `--pairs`
ratios ignores the pairs a burst of other work hit only half of.

Prints four tables. Every ratio is "median [low, high]": the median of
the per-pair ratios and its 90 % bootstrap interval (`--bootstrap`
resamples of the pairs, seeded), then the target and a verdict:
"meets" (the interval lies at or under the target), "misses" (entirely
over it), "undecided" (it straddles the target: more pairs, or a quieter
machine, would decide), "no target".

1. Step time: `erm` against a plain Keras model (one tape on the
   concatenated batch; target 1.05), every surgery against `erm`
   (targets: 1.05 for sum, mean, agr-sum, and-mask, sand-mask; 1.10 for
   agr-rand, pcgrad and the Gram-matrix aggregators; none for graddrop,
   fish, fishr, iga), with the median step time in ms.
2. Where a surgery's time goes: (a) the K per-domain passes, `sum` with
   the conflict metrics off against `erm`; (b) the conflict metrics
   (`agreement`, `cosine`), `sum` against `sum` with them off.
3. (c) The surgery's own arithmetic: its combine alone on K random
   gradient lists shaped like the network's weights (P parameters), in a
   `tf.function`, paired against a copy that moves the combine's
   bandwidth floor, (K + 1) * P floats (read the K gradients once, write
   the update once), at the bandwidth the copy measures on the spot.
   "x floor" is combine / copy; target 2 ("within 2x" when it meets it).
4. Memory (`--memory`): each model in a child process with TensorFlow's
   BFC allocator on the CPU (`TF_CPU_ALLOCATOR_USE_BFC`), whose
   statistics `tf.config.experimental.get_memory_info` reads: the peak
   during two steps minus what was allocated before them (model and
   optimizer state). Printed in MB, as a multiple of P (parameter bytes),
   and over `erm`'s step in P, against the limit (K + 1) * P.

Usage:
    python tools/bench.py [--backbone=resnet18] [--image_size=64]
        [--domains=3] [--batch_size=32] [--pairs=50] [--warmup=3]
        [--bootstrap=2000] [--surgeries=sum,mean,...] [--memory]
        [--streaming]
"""

import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

import bench_stats  # noqa: E402
import bench_timing  # noqa: E402
from bench_timing import PLAIN  # noqa: E402

flags.DEFINE_string("backbone", "resnet18", "keras_gs.backbones name.")
flags.DEFINE_integer("image_size", 64, "Square input side.")
flags.DEFINE_integer("channels", 3, "Input channels.")
flags.DEFINE_integer("classes", 7, "Number of classes.")
flags.DEFINE_integer("domains", 3, "Number of source domains K.")
flags.DEFINE_integer("batch_size", 32, "Images per domain per step.")
flags.DEFINE_integer("pairs", 50, "Timed (reference, model) pairs per row.")
flags.DEFINE_integer("warmup", 3, "Untimed steps per model (the first "
                     "traces).")
flags.DEFINE_integer("bootstrap", 2000, "Bootstrap resamples per interval.")
flags.DEFINE_integer("seed", 0, "Seed of the bootstrap resampling.")
flags.DEFINE_string("surgeries", None, "Comma list; default every rule "
                    "registered in keras_gs.surgery (erm and plain Keras "
                    "are always measured).")
flags.DEFINE_boolean("memory", True, "Also measure peak step memory.")
flags.DEFINE_boolean("jit_surgery", True, "GradSurgeryModel's jit_surgery: "
                     "compile the surgery where it allows it.")
flags.DEFINE_boolean("streaming", False, "Also time every surgery that "
                     "streams (GradSurgeryModel(streaming=True)).")
flags.DEFINE_string("only", None, "Internal: measure one model's memory.")
FLAGS = flags.FLAGS

# Targets for the step-time ratio to erm (erm's own: to plain Keras).
ERM_TARGET = 1.05
CHEAP = ("sum", "mean", "agr-sum", "and-mask", "sand-mask")
CHEAP_TARGET = 1.05
GRAM_TARGET = 1.10  # agr-rand, pcgrad, the GramWeighting aggregators
FLOOR_TARGET = 2.0
# A model: (surgery name, conflict_every, streaming).
ERM = ("erm", 1, False)
PLAIN_KEY = (PLAIN, 1, False)
SUM = ("sum", 1, False)
SUM_OFF = ("sum", bench_timing.NEVER, False)


def setup():
    return bench_timing.Setup(
        FLAGS.backbone, FLAGS.image_size, FLAGS.channels, FLAGS.classes,
        FLAGS.domains, FLAGS.batch_size, FLAGS.jit_surgery,
    )


def surgery_names():
    """`--surgeries`, or every registered rule (no aliases), erm left out."""
    import keras_gs

    if FLAGS.surgeries:
        names = [n.strip() for n in FLAGS.surgeries.split(",") if n.strip()]
    else:
        names = [cls.name for cls in keras_gs.surgery.registered().values()]
    return [n for n in dict.fromkeys(names) if n != "erm"]


def target(name):
    """The step-time target of surgery `name` against erm, or None."""
    import keras_gs

    surgery = keras_gs.surgery.get(name)
    if surgery.name in CHEAP:
        return CHEAP_TARGET
    gram = isinstance(surgery, keras_gs.surgery.GramWeighting)
    if surgery.name in ("agr-rand", "pcgrad") or gram:
        return GRAM_TARGET
    return None


def label(key):
    name, every, streaming = key
    options = []
    if every == bench_timing.NEVER:
        options.append("conflicts off")
    elif every != 1:
        options.append(f"conflict_every={every}")
    if streaming:
        options.append("streaming")
    return f"{name} ({', '.join(options)})" if options else name


def step_rows(names):
    """(model key, reference key, target) of table 1, then table 2's."""
    import keras_gs

    rows = [(ERM, PLAIN_KEY, ERM_TARGET)]
    rows += [((n, 1, False), ERM, target(n)) for n in names]
    if FLAGS.streaming:
        rows += [
            ((n, 1, True), ERM, target(n))
            for n in names
            if keras_gs.surgery.get(n).streams
        ]
    parts = [(SUM_OFF, ERM, None), (SUM, SUM_OFF, None)]
    return rows, parts


def summary_text(ratios, goal):
    s = bench_stats.summarize(ratios, goal, FLAGS.bootstrap, FLAGS.seed)
    goal_text = f"{goal:.2f}" if goal is not None else "-"
    return f"{s.median:5.2f} [{s.low:4.2f}, {s.high:4.2f}] {goal_text:>6}  {s.verdict}"


def print_step_table(title, rows, times):
    print(f"\n{title}")
    print(f"{'model':>26} {'reference':>20} {'ms/step':>8} "
          f"{'ratio [90% interval]':>20} {'target':>6}  verdict")
    for model_key, reference_key, goal in rows:
        model_times, reference_times = times[(model_key, reference_key)]
        ratios = bench_stats.pair_ratios(model_times, reference_times)
        ms = 1000 * bench_stats.median(model_times)
        print(f"{label(model_key):>26} {label(reference_key):>20} "
              f"{ms:8.1f} {summary_text(ratios, goal)}")


def combine_table(names, network_variables, erm_ms):
    """Table 3: each surgery's combine alone against its bandwidth floor."""
    import keras_gs

    rules = [n for n in names if not keras_gs.surgery.get(n).step_method]
    grads = bench_timing.random_domain_grads(network_variables, FLAGS.domains)
    combines = {n: bench_timing.CombineAlone(n, grads) for n in rules}
    for combine in combines.values():
        combine.warm_up(FLAGS.warmup)
    times = bench_timing.time_combine_pairs(combines, FLAGS.pairs)
    params = sum(int(g.shape.num_elements()) for g in grads[0])
    print(f"\n(c) The surgery's arithmetic alone: K={FLAGS.domains} random "
          f"gradient lists, P={params:,} parameters; floor = a copy of "
          f"(K+1)P floats")
    print(f"{'surgery':>26} {'ms':>7} {'floor ms':>8} {'GB/s':>6} "
          f"{'% erm step':>10} {'x floor [90% interval]':>22} {'target':>6}  "
          "verdict")
    for name, (combine_times, copy_times) in times.items():
        ratios = bench_stats.pair_ratios(combine_times, copy_times)
        ms = 1000 * bench_stats.median(combine_times)
        floor_s = bench_stats.median(copy_times)
        bandwidth = combines[name].floor_bytes / floor_s / 1e9
        s = bench_stats.summarize(ratios, FLOOR_TARGET, FLAGS.bootstrap, FLAGS.seed)
        within = {"meets": "within 2x", "misses": "over 2x"}.get(s.verdict, s.verdict)
        print(f"{name:>26} {ms:7.2f} {1000 * floor_s:8.2f} {bandwidth:6.1f} "
              f"{100 * ms / erm_ms:9.1f}% {s.median:9.2f} "
              f"[{s.low:5.2f}, {s.high:5.2f}] {FLOOR_TARGET:6.2f}  {within}")
    for name in names:
        if name not in combines:
            print(f"{name:>26}  a step method: no combine on gradients")


def measure_memory(key):
    """Peak bytes a step adds, in this process (BFC allocator on)."""
    import tensorflow as tf

    model = bench_timing.build(setup(), key[0], key[1], key[2])
    data = bench_timing.batches(setup(), key[0] == PLAIN)
    model.fit(data, steps_per_epoch=2, shuffle=False, verbose=0)
    device = "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"
    before = tf.config.experimental.get_memory_info(device)["current"]
    tf.config.experimental.reset_memory_stats(device)
    model.fit(data, steps_per_epoch=2, shuffle=False, verbose=0)
    peak = tf.config.experimental.get_memory_info(device)["peak"]
    params = sum(int(w.numpy().nbytes) for w in model.trainable_weights)
    return {"added": peak - before, "param_bytes": params}


def memory_in_child(key):
    env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC="true")
    argv = [sys.executable, __file__, f"--only={json.dumps(list(key))}"]
    argv += [
        f"--{f}={getattr(FLAGS, f)}"
        for f in ("backbone", "image_size", "channels", "classes", "domains",
                  "batch_size", "jit_surgery")
    ]
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory_table(keys):
    k = FLAGS.domains
    memory = {key: memory_in_child(key) for key in keys}
    erm = memory.get(ERM)
    print(f"\nMemory a step adds (P = parameter bytes; limit: at most "
          f"(K+1)P = {k + 1}P over erm's step)")
    print(f"{'model':>26} {'step MB':>8} {'step/P':>7} {'over erm':>9} "
          f"{'limit':>6}  verdict")
    for key, found in memory.items():
        if not found or not erm:
            print(f"{label(key):>26}  (the child process failed)")
            continue
        p = found["param_bytes"]
        mb = found["added"] / 2**20
        if key == PLAIN_KEY:
            # The reference of erm's own time, not under the limit.
            print(f"{label(key):>26} {mb:8.0f} {found['added'] / p:6.2f}P "
                  f"{'-':>9} {'-':>6}  (reference)")
            continue
        over = (found["added"] - erm["added"]) / p
        verdict = "meets" if over <= k + 1 else "misses"
        print(f"{label(key):>26} {mb:8.0f} {found['added'] / p:6.2f}P "
              f"{over:8.2f}P {k + 1:5d}P  {verdict}")


def main(argv):
    del argv
    if FLAGS.only:
        print(json.dumps(measure_memory(tuple(json.loads(FLAGS.only)))))
        return
    import tensorflow as tf

    import keras_gs  # noqa: F401  (turns oneDNN on)

    # One trace per model is expected; TensorFlow's retracing warning
    # counts the traces of all of them.
    tf.get_logger().setLevel("ERROR")
    started = time.perf_counter()
    names = surgery_names()
    rows, parts = step_rows(names)
    keys = list(dict.fromkeys(
        key for row in rows + parts for key in row[:2]
    ))
    print(f"{FLAGS.backbone}, {FLAGS.image_size}x{FLAGS.image_size}, "
          f"{FLAGS.domains} domains x {FLAGS.batch_size} images, Adam; "
          f"{FLAGS.pairs} pairs per ratio, 90% bootstrap intervals "
          f"({FLAGS.bootstrap} resamples); devices: "
          f"{[d.name for d in tf.config.list_logical_devices()]}")
    steppers = {}
    for key in keys:
        steppers[key] = bench_timing.Stepper(setup(), *key)
        steppers[key].warm_up(FLAGS.warmup)
    # Progress on stderr: the tables go to stdout only.
    print(f"warmed up {len(keys)} models in "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    comparisons = [row[:2] for row in rows + parts]
    times = bench_timing.time_pairs(steppers, comparisons, FLAGS.pairs)
    print_step_table("1. Step time, paired against the reference", rows, times)
    print_step_table(
        "2. Where the time goes: (a) the per-domain passes (sum, conflicts "
        "off / erm); (b) the conflict metrics (sum / sum, conflicts off)",
        parts, times,
    )
    erm_ms = 1000 * bench_stats.median(times[(ERM, PLAIN_KEY)][0])
    network = steppers[ERM].model.network
    combine_table(names, network.trainable_variables, erm_ms)
    if FLAGS.memory:
        memory_table([PLAIN_KEY] + [row[0] for row in rows])
    print(f"\nwall time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    app.run(main)
