"""The conflict measures against values worked out by hand (see
`hand_worked`), the official helper's every-pair bug, zeros."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from hand_worked import EXPECTED
from hand_worked import INPUTS
from hand_worked import two_layer_model

from keras_gs import conflicts
from keras_gs.conflicts import layer_groups as layers_lib
from keras_gs.analysis import measures
from keras_gs.analysis import per_example
from keras_gs.analysis.analyze import ConflictAnalyzer
from keras_gs.analysis.sampling import ALL_CLASSES
from keras_gs.analysis.sampling import Batch


def batch():
    return Batch(ALL_CLASSES, -1, INPUTS, np.zeros((2, 2), "int32"))


@pytest.mark.parametrize("vectorize", [True, False])
def test_per_layer_measures_of_a_model_match_the_hand_calculation(vectorize):
    analyzer = ConflictAnalyzer(two_layer_model(), vectorize=vectorize)
    assert analyzer.layers == ["shared", "specific", "all"]
    values = analyzer.measure(batch())
    for layer, expected in EXPECTED.items():
        for name, value in expected.items():
            assert values[layer][name] == pytest.approx(value, abs=1e-6), (
                layer,
                name,
            )
    assert analyzer.method == (
        per_example.VECTORIZED if vectorize else per_example.LOOP
    )


def test_per_example_gradients_are_outer_products_of_the_inputs():
    model = two_layer_model()
    x = INPUTS.reshape(4, 4)
    grads = per_example.per_example_gradients(model, x, np.zeros(4, "int32"))
    d = np.array([-0.5, 0.5], "float32")
    for i in range(4):
        np.testing.assert_allclose(grads[0][i], np.outer(x[i, :2], d))
        np.testing.assert_allclose(grads[1][i], np.outer(x[i, 2:], d))


def test_vectorized_per_example_gradients_equal_one_tape_per_example():
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(3, 3, activation="relu", name="conv"),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(3, name="logits"),
        ]
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 6, 6, 1)).astype("float32")
    y = np.array([0, 1, 2, 1, 0], "int32")
    vectorized = per_example.per_example_gradients(model, x, y)
    looped = per_example.per_example_gradients(model, x, y, vectorize=False)
    for i in range(5):
        with tf.GradientTape() as tape:
            loss = per_example.example_loss(model, x[i : i + 1], y[i : i + 1])
        expected = tape.gradient(loss, model.trainable_variables)
        for v, m, e in zip(vectorized, looped, expected):
            np.testing.assert_allclose(v[i], e, atol=1e-6)
            np.testing.assert_allclose(m[i], e, atol=1e-6)


def test_falls_back_to_a_loop_when_vectorization_fails(monkeypatch):
    original = per_example.per_example_gradients

    def unvectorizable(network, x, y, vectorize=True):
        if vectorize:
            raise ValueError("No pfor vectorization defined for SomeOp")
        return original(network, x, y, vectorize)

    monkeypatch.setattr(per_example, "per_example_gradients", unvectorizable)
    analyzer = ConflictAnalyzer(two_layer_model())
    with pytest.warns(UserWarning, match="tf.map_fn"):
        values = analyzer.measure(batch())
    assert analyzer.method == per_example.LOOP
    assert values["all"]["sign_agreement"] == pytest.approx(0.5)


def _grads(rows):
    """One variable: per-example gradient rows, domain by domain."""
    return [tf.constant(np.asarray(rows, "float32"))]


def _group(num_params):
    return [layers_lib.LayerGroup("layer", (0,), num_params)]


def official_inter_cos_sim(domain_grads):
    """The paper's helper, in numpy: its iterator of example pairs is made
    once, outside the loop over domain pairs, so it is used up by the
    first pair of domains and the others add nothing."""
    n_doms, n_examples = len(domain_grads), len(domain_grads[0])
    combinations = itertools.combinations(range(n_doms), 2)
    products = itertools.product(range(n_examples), range(n_examples))
    values = []
    for dom_i, dom_j in combinations:
        for k, l in products:
            a, b = domain_grads[dom_i][k], domain_grads[dom_j][l]
            values.append(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    return np.mean(values)


def test_inter_domain_cosine_counts_every_pair_of_domains():
    # Domains 0 and 1 have identical gradients, domain 2 the opposite:
    # pair (0, 1) has cosine 1, pairs (0, 2) and (1, 2) cosine -1.
    per_domain = [
        [[1.0, 2.0], [2.0, 1.0]],
        [[1.0, 2.0], [2.0, 1.0]],
        [[-1.0, -2.0], [-2.0, -1.0]],
    ]
    rows = [g for domain in per_domain for g in domain]
    values = measures.conflict_measures(_grads(rows), 3, _group(2)).numpy()[0]
    sign, domain_cos, intra, inter = values
    # Each example pair of a domain pair: cos((1,2),(1,2)) = 1,
    # cos((1,2),(2,1)) = 4/5; so pair (0, 1) averages (1 + .8 + .8 + 1) / 4
    # = .9 and pairs with domain 2 average -.9: (.9 - .9 - .9) / 3 = -.3.
    assert inter == pytest.approx(-0.3, abs=1e-6)
    # The paper's helper counts only the first pair, (0, 1): +0.9.
    official = official_inter_cos_sim(np.asarray(per_domain))
    assert official == pytest.approx(0.9, abs=1e-6)
    assert inter != pytest.approx(official, abs=0.1)
    # Intra: cos((1,2),(2,1)) = .8 in every domain.
    assert intra == pytest.approx(0.8, abs=1e-6)
    # Domain gradients (1.5, 1.5), (1.5, 1.5), (-1.5, -1.5): (1 - 1 - 1) / 3.
    assert domain_cos == pytest.approx(-1 / 3, abs=1e-6)
    assert sign == 0.0


def test_zero_gradients_disagree_and_have_cosine_zero():
    # Component 0: every domain positive; component 1: zero in domain 1.
    rows = [[1.0, 1.0], [1.0, 1.0], [2.0, 0.0], [1.0, 0.0]]
    sign, _, intra, inter = measures.conflict_measures(
        _grads(rows), 2, _group(2)
    ).numpy()[0]
    assert sign == 0.5
    # An all-zero example gradient: its cosines are 0 and still counted.
    rows = [[1.0, 0.0], [0.0, 0.0], [1.0, 0.0], [1.0, 0.0]]
    _, _, intra, inter = measures.conflict_measures(
        _grads(rows), 2, _group(2)
    ).numpy()[0]
    assert intra == pytest.approx((0.0 + 1.0) / 2)
    assert inter == pytest.approx((1 + 1 + 0 + 0) / 4)


def test_whole_network_measures_match_keras_gs_conflicts():
    rng = np.random.default_rng(0)
    example_grads = [
        tf.constant(rng.normal(size=(3 * 4, 3, 2)).astype("float32")),
        tf.constant(rng.normal(size=(3 * 4, 5)).astype("float32")),
    ]
    groups = [
        layers_lib.LayerGroup("a", (0,), 6),
        layers_lib.LayerGroup("b", (1,), 5),
        layers_lib.LayerGroup("all", (0, 1), 11),
    ]
    values = measures.conflict_measures(example_grads, 3, groups).numpy()
    domain_grads = [
        [tf.reduce_mean(g[4 * k : 4 * (k + 1)], axis=0) for g in example_grads]
        for k in range(3)
    ]
    assert values[2, 0] == pytest.approx(
        float(conflicts.agreement_fraction(domain_grads))
    )
    # The whole network's agreement is the parameter-weighted mean.
    assert values[2, 0] == pytest.approx(
        (6 * values[0, 0] + 5 * values[1, 0]) / 11
    )
    assert values[2, 1] == pytest.approx(
        float(conflicts.mean_pairwise_cosine(domain_grads)), abs=1e-6
    )
    # Intra from the Gram matrix = mean_pairwise_cosine of each domain's
    # examples, averaged over domains.
    intra = np.mean(
        [
            float(
                conflicts.mean_pairwise_cosine(
                    [
                        [g[4 * k + i] for g in example_grads]
                        for i in range(4)
                    ]
                )
            )
            for k in range(3)
        ]
    )
    assert values[2, 2] == pytest.approx(intra, abs=1e-6)


def test_rejects_one_domain_or_one_example():
    with pytest.raises(ValueError, match="num_domains=1"):
        measures.conflict_measures(_grads([[1.0], [2.0]]), 1, _group(1))
    with pytest.raises(ValueError, match="n >= 2"):
        measures.conflict_measures(_grads([[1.0], [2.0]]), 2, _group(1))
