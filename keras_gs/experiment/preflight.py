"""Checks an experiment makes before training, so that nothing fails later.

Each raises a ValueError (or OSError) with one line naming the domain,
file or setting: a problem found after an hour of training costs the hour.
"""

import os
import tempfile

import numpy as np

from keras_gs.backbones import weights
from keras_gs.experiment import files
from keras_gs.experiment import run_inputs


def check_domain_names(domains):
    """Two domains whose runs would share a directory are refused."""
    by_dirname = {}
    for domain in domains:
        other = by_dirname.setdefault(files.domain_dirname(domain), domain)
        if other != domain:
            raise ValueError(
                f"The domains {other!r} and {domain!r} would share the run "
                f"directory {files.domain_dirname(domain)!r}; rename one."
            )


def check_splits(splits, targets):
    """Every target has test and validation examples; the sources too."""
    sizes = splits.domain_sizes
    for target in targets:
        sources = [d for d in splits.domains if d != target]
        if not sizes:
            return
        if sizes[target]["test"] == 0:
            raise ValueError(
                f"Domain {target!r} has no test example as a target "
                f"(train/val/test: {_counts(sizes[target])}): too few images "
                "per class for the 70/10/20 split. Add images or leave it "
                "out of `test_domains`."
            )
        if sum(sizes[d]["val"] for d in sources) == 0:
            raise ValueError(
                f"Holding out {target!r}, the source domains have no "
                f"validation example ({', '.join(f'{d}: {_counts(sizes[d])}' for d in sources)}): "
                "too few images per class."
            )
        for domain in sources:
            if sizes[domain]["train"] == 0:
                raise ValueError(
                    f"Source domain {domain!r} has no training example "
                    f"(train/val/test: {_counts(sizes[domain])})."
                )


def check_weights(config):
    """The backbone's initial weights are there, before the data is loaded
    (preparing a dataset can take minutes, for a run that would then stop
    for want of ported ImageNet weights)."""
    if config.weights is not None:
        weights.locate(config.backbone, config.weights)


def check_network(config, splits):
    """The backbone builds on these images with these weights.

    A file of another architecture, a damaged weights file, or images too
    small for the backbone (AlexNet below 63 pixels) fail here, with their
    own message, instead of when the first run starts.
    """
    network = run_inputs.build_network(
        config, splits.image_shape, splits.num_classes, weights=config.weights
    )
    network(np.zeros((1, *splits.image_shape), "float32"), training=False)


def check_writable(workdir):
    """The work directory can be written (a read-only or missing disk fails
    here, not after the first run)."""
    try:
        os.makedirs(workdir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=workdir, prefix=".write_check"):
            pass
    except OSError as error:
        raise OSError(
            f"Cannot write to the work directory {workdir} "
            f"({error.strerror or error})."
        ) from None


def _counts(sizes):
    return "/".join(str(sizes[k]) for k in ("train", "val", "test"))
