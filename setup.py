"""keras_gs: domain generalization by gradient surgery for Keras 3."""

import pathlib

import setuptools

HERE = pathlib.Path(__file__).parent

setuptools.setup(
    name="keras_gs",
    version="0.1.0",
    description=(
        "Domain generalization by gradient surgery (Agr-Sum, Agr-Rand, "
        "PCGrad, AND-mask) for Keras 3 and TensorFlow."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["keras_gs", "keras_gs.*"]),
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<4",
        "tensorflow-datasets>=4.9",
        "absl-py>=2.0",
        # keras.callbacks.TensorBoard needs it; TensorFlow 2.21 no longer
        # installs it.
        "tensorboard>=2.20",
        # tools/collect_results.py and tools/analyze_conflicts.py plots.
        "matplotlib>=3.7",
        "scikit-learn>=1.3",
        "pillow>=10.0",
        "numpy",
        # keras_gs.backbones reads .weights.h5 files layer by layer.
        "h5py>=3.10",
        # tensorflow-datasets 4.9 imports it to prepare any builder but does
        # not declare it.
        "importlib_resources",
        # keras_gs.sweeps: the sweep's jobs, heartbeats, retries, samplers
        # and pruners live in an Optuna storage (SQLite or PostgreSQL).
        "optuna>=4.5",
        # The PostgreSQL driver of a storage shared by several machines
        # (--storage=postgresql://...).
        "psycopg2-binary>=2.9",
    ],
    # dill: tfds.testing's builder test case needs it.
    extras_require={"test": ["pytest>=8", "pytest-xdist", "dill"]},
)
