"""`warmup_steps`: Deep-All's gradient (the mean of the domain gradients)
for the first steps, then the surgery; worked by hand on a linear model."""

import keras
import numpy as np
import pytest

import keras_gs
from tiny_models import compile_model, make_domains, make_network

# One example per domain, two features, two classes. From zero weights the
# softmax is (1/2, 1/2), so domain k's gradient is outer(x_k, p - e_{y_k}):
#   g0 = [[-1/2, 1/2], [0, 0]]        (x = (1, 0), y = 0)
#   g1 = [[ 1/2, -1/2], [1/2, -1/2]]  (x = (1, 1), y = 1)
# Agr-Sum keeps nothing (row 0 disagrees, row 1 has a zero in g0), while
# their mean is [[0, 0], [1/4, -1/4]].
X = np.array([[[1.0, 0.0], [1.0, 1.0]]], "float32")  # (batch, domains, 2)
Y = np.array([[0, 1]], "int32")
MEAN_STEP = np.array([[0.0, 0.0], [-0.25, 0.25]], "float32")


def linear_model(surgery, warmup_steps, **options):
    network = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(2, use_bias=False, kernel_initializer="zeros"),
        ]
    )
    model = keras_gs.GradSurgeryModel(
        network, surgery=surgery, warmup_steps=warmup_steps, seed=0, **options
    )
    # SGD at lr 1: the kernel moves by minus the update.
    return compile_model(model, keras.optimizers.SGD(1.0))


def kernel_after(model, steps):
    model.fit(X, Y, batch_size=1, epochs=steps, verbose=0, shuffle=False)
    return model.network.layers[0].kernel.numpy()


@pytest.mark.parametrize("streaming", [False, True])
def test_warmup_step_is_the_mean_then_the_surgery(streaming):
    # Without warm-up Agr-Sum never moves the kernel.
    np.testing.assert_array_equal(
        kernel_after(linear_model("agr-sum", 0, streaming=streaming), 2), 0.0
    )
    # Step 0 applies the mean; step 1 is Agr-Sum's again: at the new
    # weights domain 1's gradient is outer((1, 1), (s(-1/2), -s(-1/2)))
    # (s the logistic function), still opposed to g0 in row 0 and against
    # its zero in row 1: nothing agrees, the kernel stays.
    np.testing.assert_allclose(
        kernel_after(linear_model("agr-sum", 1, streaming=streaming), 2),
        MEAN_STEP,
        atol=1e-7,
    )


def test_two_warmup_steps_apply_two_means():
    # Step 1's mean: g0 as before, g1 = outer((1, 1), (q, -q)) with
    # q = s(-1/2) = 0.3775407; the mean is [[(q - 1/2)/2, (1/2 - q)/2],
    # [q/2, -q/2]].
    q = 1.0 / (1.0 + np.exp(0.5))
    expected = MEAN_STEP + np.array(
        [[(0.5 - q) / 2, (q - 0.5) / 2], [-q / 2, q / 2]]
    )
    np.testing.assert_allclose(
        kernel_after(linear_model("agr-sum", 2), 2), expected, atol=1e-6
    )


@pytest.mark.parametrize("surgery", ["pcgrad", "upgrad", "agr-rand", "sum"])
def test_every_family_applies_the_mean_while_warming_up(surgery):
    # Gram weightings (weights 1/K), element-wise rules and the sum alike.
    np.testing.assert_allclose(
        kernel_after(linear_model(surgery, 1), 1), MEAN_STEP, atol=1e-7
    )


def test_stateful_rule_starts_its_state_with_the_surgery():
    model = linear_model(keras_gs.surgery.get("gradvac", beta=0.1), 2)
    kernel_after(model, 2)
    # GradVac's targets are written on applied surgery steps only.
    for value in model.surgery_state.read().values():
        np.testing.assert_array_equal(value.numpy(), 0.0)
    kernel_after(model, 1)
    assert any(
        np.any(value.numpy() != 0.0)
        for value in model.surgery_state.read().values()
    )


def test_warmup_is_saved_and_resumes_at_the_step_it_reached(tmp_path):
    straight = kernel_after(linear_model("agr-sum", 2), 3)
    model = linear_model("agr-sum", 2)
    kernel_after(model, 1)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.warmup_steps == 2
    np.testing.assert_allclose(kernel_after(loaded, 2), straight, atol=1e-7)


@pytest.mark.parametrize("name", ["pcgrad", "agr-rand", "agr-sum"])
def test_warmup_under_two_replicas_equals_one_device(
    name, one_device, two_replicas
):
    def train(strategy):
        with strategy.scope():
            model = keras_gs.GradSurgeryModel(
                make_network(), surgery=name, seed=1, warmup_steps=2
            )
            compile_model(model, keras.optimizers.SGD(0.1))
        model.fit(
            keras_gs.data.zip_domains(make_domains(), 8, shuffle_buffer=0),
            steps_per_epoch=4,
            verbose=0,
        )
        return [w.numpy() for w in model.trainable_weights]

    for a, b in zip(train(one_device), train(two_replicas)):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("value", [-1, 1.5, None])
def test_bad_warmup_is_refused_by_name(value):
    with pytest.raises((ValueError, TypeError), match="warmup_steps"):
        keras_gs.GradSurgeryModel(make_network(), warmup_steps=value)


def test_warmup_is_refused_for_methods_that_change_the_step():
    with pytest.raises(ValueError, match="penalty_anneal_iters"):
        keras_gs.GradSurgeryModel(make_network(), surgery="fishr", warmup_steps=5)
