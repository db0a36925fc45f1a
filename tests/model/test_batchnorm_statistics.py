"""BatchNorm moving statistics with per-domain passes, by hand.

One feature, momentum 0.9, moving statistics starting at mean 0, variance 1.
Domains (2 examples each):
    d0: [0, 2]  mean 1, variance 1
    d1: [4, 4]  mean 4, variance 0
    d2: [1, 7]  mean 4, variance 9
All six together: mean 18 / 6 = 3, E[x^2] = 86 / 6, variance 86/6 - 9 = 16/3.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gs

DOMAINS = [[0.0, 2.0], [4.0, 4.0], [1.0, 7.0]]
# "joint": one update from all examples: 0.1 * 3 and 0.9 + 0.1 * 16/3.
JOINT = (0.3, 0.9 + 0.1 * 16 / 3)
# "per_domain": three updates in domain order; weights 0.081, 0.09, 0.1.
PER_DOMAIN = (
    0.081 * 1 + 0.09 * 4 + 0.1 * 4,
    0.729 * 1 + 0.081 * 1 + 0.09 * 0 + 0.1 * 9,
)


def batch(domains):
    # (batch=2, num_domains, 1): row i holds example i of every domain.
    x = np.array(domains, "float32").T[..., None]
    y = np.zeros(x.shape[:2] + (1,), "float32")
    return x, y


def fit_one_step(update, domains=DOMAINS, surgery="sum", strategy=None):
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        keras.utils.set_random_seed(0)
        net = keras.Sequential(
            [
                keras.Input((1,)),
                keras.layers.BatchNormalization(momentum=0.9),
                keras.layers.Dense(1),
            ]
        )
        model = keras_gs.GradSurgeryModel(
            net, surgery=surgery, batchnorm_update=update
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, y = batch(domains)
    model.fit(x, y, batch_size=2, verbose=0)
    return net.layers[0]


def statistics(bn):
    return float(bn.moving_mean.numpy()[0]), float(
        bn.moving_variance.numpy()[0]
    )


def test_joint_update_uses_all_domains_examples_once():
    np.testing.assert_allclose(statistics(fit_one_step("joint")), JOINT, rtol=1e-5)


def test_per_domain_update_is_one_update_per_pass():
    np.testing.assert_allclose(
        statistics(fit_one_step("per_domain")), PER_DOMAIN, rtol=1e-5
    )


def test_joint_update_does_not_depend_on_the_domain_order():
    reordered = [DOMAINS[2], DOMAINS[0], DOMAINS[1]]
    np.testing.assert_allclose(
        statistics(fit_one_step("joint", reordered)), JOINT, rtol=1e-5
    )
    assert not np.allclose(
        statistics(fit_one_step("per_domain", reordered)), PER_DOMAIN
    )


def test_joint_update_equals_erm_on_the_concatenated_batch():
    np.testing.assert_allclose(
        statistics(fit_one_step("joint", surgery="erm")), JOINT, rtol=1e-5
    )


def test_joint_update_under_two_replicas_is_the_global_batch(two_replicas):
    # Each replica sees one example of every domain; both copies must hold
    # the statistics of all six examples.
    bn = fit_one_step("joint", strategy=two_replicas)
    for mean, variance in zip(
        bn.moving_mean.value.values, bn.moving_variance.value.values
    ):
        np.testing.assert_allclose(
            (mean.numpy()[0], variance.numpy()[0]), JOINT, rtol=1e-5
        )


def test_skipped_step_leaves_the_statistics_unchanged():
    x, y = batch(DOMAINS)
    nan_x = x.copy()
    nan_x[0, 1, 0] = np.nan
    keras.utils.set_random_seed(0)
    net = keras.Sequential(
        [
            keras.Input((1,)),
            keras.layers.BatchNormalization(momentum=0.9),
            keras.layers.Dense(1),
        ]
    )
    model = keras_gs.GradSurgeryModel(net, surgery="sum")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    logs = model.fit(
        np.stack([x, nan_x]).reshape(4, 3, 1),
        np.concatenate([y, y]),
        batch_size=2,
        shuffle=False,
        verbose=0,
    ).history
    assert logs["skipped_steps"] == [1.0]
    np.testing.assert_allclose(statistics(net.layers[0]), JOINT, rtol=1e-5)


def test_unknown_batchnorm_update_is_named():
    with pytest.raises(
        ValueError, match=r"batchnorm_update='mixed'. Valid: joint, per_domain"
    ):
        keras_gs.GradSurgeryModel(
            keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]),
            batchnorm_update="mixed",
        )


def test_batchnorm_update_survives_saving(tmp_path):
    model = keras_gs.GradSurgeryModel(
        keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]),
        batchnorm_update="per_domain",
        num_domains=2,
    )
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    assert restored.batchnorm_update == "per_domain"
