"""Fish, Fishr and IGA against values worked out by hand or in NumPy.

Each test trains a tiny model for one or two steps with SGD and compares
the weights to the method's update computed independently: Fish by hand,
Fishr's penalty with per-example gradients taken by loops (its gradient
by finite differences of that NumPy function), IGA's penalty gradient by
finite differences.
"""

import keras
import numpy as np
import pytest

import keras_gs

CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def train_steps(network, method, x, y, steps=1, optimizer=None, loss=CE):
    model = keras_gs.GradSurgeryModel(network, surgery=method, seed=0)
    model.compile(optimizer=optimizer or keras.optimizers.SGD(1.0), loss=loss)
    logs = [model.train_on_batch(x, y, return_dict=True) for _ in range(steps)]
    return model, logs


# -- Fish ----------------------------------------------------------------------


def test_fish_meta_update_and_persistent_inner_momentum_by_hand():
    # y = w x, one example per domain, MSE: g = 2 x (w x - y). Domain A:
    # x=1, y=2; domain B: x=2, y=0. Inner SGD lr 0.1, momentum 0.5
    # (Keras: m <- 0.5 m - 0.1 g; w <- w + m); meta_lr 0.5; w0 = 1.
    # Step 1 (m = 0): A: g = 2(1 - 2) = -2, m = 0.2, w = 1.2.
    #   B: g = 4 (2.4) = 9.6, m = 0.1 - 0.96 = -0.86, w = 0.34.
    #   meta: w = 1 + 0.5 (0.34 - 1) = 0.67.
    # Step 2 (m = -0.86 kept): A: g = 2(0.67 - 2) = -2.66,
    #   m = -0.43 + 0.266 = -0.164, w = 0.506.
    #   B: g = 4 (1.012) = 4.048, m = -0.082 - 0.4048 = -0.4868,
    #   w = 0.0192. meta: w = 0.67 + 0.5 (0.0192 - 0.67) = 0.3446.
    # (A fresh inner optimizer in step 2 would give 0.4951.)
    network = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False)]
    )
    network.layers[0].kernel.assign([[1.0]])
    x = np.array([[[1.0], [2.0]]], "float32")  # (batch 1, 2 domains, 1)
    y = np.array([[[2.0], [0.0]]], "float32")
    model, _ = train_steps(
        network,
        keras_gs.surgery.Fish(meta_lr=0.5),
        x,
        y,
        optimizer=keras.optimizers.SGD(0.1, momentum=0.5),
        loss=keras.losses.MeanSquaredError(),
    )
    np.testing.assert_allclose(network.layers[0].kernel.numpy(), [[0.67]], rtol=1e-6)
    model.train_on_batch(x, y)
    np.testing.assert_allclose(
        network.layers[0].kernel.numpy(), [[0.3446]], rtol=1e-5
    )
    # The compiled optimizer counts the steps; the inner one took K each.
    assert int(model.optimizer.iterations.numpy()) == 2
    assert int(model._step_rule.inner.iterations.numpy()) == 4


# -- Fishr ---------------------------------------------------------------------


def softmax(z):
    z = z - z.max(-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(-1, keepdims=True)


def unpack(theta):
    w1, b1 = theta[:6].reshape(3, 2), theta[6:8]
    w2, b2 = theta[8:12].reshape(2, 2), theta[12:14]
    return w1, b1, w2, b2


def fishr_objective(theta, x, y, weight):
    """CE over all examples + weight * Fishr's penalty (first step: the
    moving averages are the variances themselves), by loops."""
    w1, b1, w2, b2 = unpack(theta)
    num_domains, losses, variances = x.shape[1], [], []
    for k in range(num_domains):
        grads = []
        for i in range(x.shape[0]):
            h = np.tanh(x[i, k] @ w1 + b1)
            p = softmax(h @ w2 + b2)
            losses.append(-np.log(p[y[i, k]]))
            e = p - np.eye(2)[y[i, k]]
            grads.append(np.concatenate([np.outer(h, e).ravel(), e]))
        grads = np.array(grads)
        variances.append(((grads - grads.mean(0)) ** 2).mean(0))
    variances = np.array(variances)
    penalty = ((variances - variances.mean(0)) ** 2).mean()
    return np.mean(losses) + weight * penalty, penalty, variances


def numeric_gradient(f, theta, h=1e-6):
    grad = np.zeros_like(theta)
    for j in range(theta.size):
        step = np.zeros_like(theta)
        step[j] = h
        grad[j] = (f(theta + step) - f(theta - step)) / (2 * h)
    return grad


def tanh_network(theta):
    network = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(2, activation="tanh"),
            keras.layers.Dense(2),
        ]
    )
    network.set_weights([w.astype("float32") for w in unpack(theta)])
    return network


def test_fishr_penalty_and_its_gradient_against_numpy_loops():
    rng = np.random.default_rng(8)
    x = 2 * rng.normal(size=(3, 2, 3))  # 3 examples of 2 domains
    y = np.array([[0, 1], [1, 1], [0, 0]])
    theta = 1.5 * rng.normal(size=14)
    weight = 3.0
    model, (logs,) = train_steps(
        tanh_network(theta),
        keras_gs.surgery.Fishr(lambda_=weight, penalty_anneal_iters=0, ema=0.8),
        x.astype("float32"),
        y.astype("int32"),
    )
    _, penalty, variances = fishr_objective(theta, x, y, weight)
    np.testing.assert_allclose(logs["penalty"], penalty, rtol=1e-4)
    # SGD(1): the weights moved by minus the objective's gradient.
    gradient = numeric_gradient(
        lambda t: fishr_objective(t, x, y, weight)[0], theta
    )
    ce_gradient = numeric_gradient(
        lambda t: fishr_objective(t, x, y, 0.0)[0], theta
    )
    # The penalty's share of the update is not negligible (0.76 here).
    assert np.abs(gradient - ce_gradient).max() > 0.5
    expected = theta - gradient
    after = np.concatenate([w.ravel() for w in model.network.get_weights()])
    np.testing.assert_allclose(after, expected, rtol=1e-4, atol=1e-5)
    # The moving average holds (1 - ema) * v: 0.2 v after the first step.
    np.testing.assert_allclose(
        model.step_state.variables[0].numpy(), 0.2 * variances, rtol=1e-4,
        atol=1e-7,
    )


def test_fishr_second_step_uses_the_moving_average():
    # Step 2 returns (ema * 0.2 v1 + 0.2 v2) / 0.2 = ema * v1 + v2, with v1
    # the variances at the first weights and v2 at the second.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 2, 3))
    y = np.array([[0, 1], [1, 0]])
    theta = rng.normal(size=14)
    model, logs = train_steps(
        tanh_network(theta),
        keras_gs.surgery.Fishr(lambda_=0.0, penalty_anneal_iters=0, ema=0.8),
        x.astype("float32"),
        y.astype("int32"),
        steps=2,
        optimizer=keras.optimizers.SGD(0.5),
    )
    _, _, first = fishr_objective(theta, x, y, 0.0)
    # lambda = 0: the first step is plain ERM, whose gradient NumPy has.
    ce = lambda t: fishr_objective(t, x, y, 0.0)[0]  # noqa: E731
    second_theta = theta - 0.5 * numeric_gradient(ce, theta)
    _, _, second = fishr_objective(second_theta, x, y, 0.0)
    returned = 0.8 * first + second
    penalty = ((returned - returned.mean(0)) ** 2).mean()
    np.testing.assert_allclose(logs[1]["penalty"], penalty, rtol=1e-4)



def test_fishr_anneal_restarts_adams_bias_correction_by_hand():
    # y = w x, MSE, w0 = 0, both domains x = 1, y = 1: g = 2 (w - 1).
    # lambda = 0 (plain ERM), anneal at step index 2; Adam(0.1), betas
    # (0.9, 0.999), eps 1e-10 (negligible). An Adam's first update is
    # lr sign(g): m = 0.1 g, v = 0.001 g^2, alpha = lr sqrt(0.001) / 0.1.
    # Step 0: g = -2, w = 0.1.
    # Step 1: g = -1.8, m = 0.9 (-0.2) + 0.1 (-1.8) = -0.36,
    #   v = 0.999 (0.004) + 0.001 (3.24) = 0.007236,
    #   update = 0.1 (-0.36 / 0.19) / sqrt(0.007236 / 0.001999)
    #   = -0.0995878, w = 0.1995878.
    # Step 2 (reset: a fresh Adam's first update): g = -1.6008244,
    #   w = 0.2995878. (Zeroed moments with the count kept at 3 would
    #   move w by 0.1 (0.1 / 0.271) sqrt(0.002997 / 0.001) = 0.0638815.)
    # Step 3 (the fresh Adam's second): g = -1.4008244,
    #   m = 0.09 (-1.6008244) + 0.1 (-1.4008244) = -0.2841566,
    #   v = 0.000999 (2.5626391) + 0.001 (1.9623087) = 0.0045223,
    #   update = 0.1 (-0.2841566 / 0.19) / sqrt(0.0045223 / 0.001999)
    #   = -0.0994322, w = 0.3990200.
    network = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False)]
    )
    network.layers[0].kernel.assign([[0.0]])
    x = np.ones((1, 2, 1), "float32")  # (batch 1, 2 domains, 1)
    model = keras_gs.GradSurgeryModel(
        network,
        surgery=keras_gs.surgery.Fishr(lambda_=0.0, penalty_anneal_iters=2),
        seed=0,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.1, epsilon=1e-10), loss="mse"
    )
    weights = []
    for _ in range(4):
        model.train_on_batch(x, x)
        weights.append(float(network.layers[0].kernel.numpy()[0, 0]))
    # rtol: in float32 1 - 0.999 is 1.3e-5 off, sqrt(1 - 0.999) 6.4e-6.
    np.testing.assert_allclose(
        weights, [0.1, 0.1995878, 0.2995878, 0.3990200], rtol=2e-5
    )
    # The run's step count goes on through the reset.
    assert int(model.optimizer.iterations.numpy()) == 4


# -- IGA -----------------------------------------------------------------------


def domain_gradients(theta, x, y):
    """Each domain's mean-CE gradient of a linear softmax model (2 -> 2)."""
    w, b = theta[:4].reshape(2, 2), theta[4:]
    grads = []
    for k in range(x.shape[1]):
        p = softmax(x[:, k] @ w + b)
        e = p - np.eye(2)[y[:, k]]
        grads.append(np.concatenate([(x[:, k].T @ e).ravel(), e.sum(0)]) / len(e))
    return np.array(grads)


@pytest.mark.parametrize("penalty", [0.0, 0.7])
def test_iga_gradient_against_finite_differences(penalty):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 3, 2))  # 2 examples of 3 domains
    y = np.array([[0, 1, 1], [1, 0, 1]])
    theta = rng.normal(size=6)
    network = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    network.set_weights([theta[:4].reshape(2, 2).astype("float32"),
                         theta[4:].astype("float32")])
    model, (logs,) = train_steps(
        network, keras_gs.surgery.IGA(penalty), x.astype("float32"), y
    )
    grads = domain_gradients(theta, x, y)
    mean = grads.mean(0)  # held constant in the penalty

    def spread(t):
        return ((domain_gradients(t, x, y) - mean) ** 2).sum()

    np.testing.assert_allclose(logs["penalty"], spread(theta), rtol=1e-4)
    expected = theta - (mean + penalty * numeric_gradient(spread, theta))
    after = np.concatenate([w.ravel() for w in network.get_weights()])
    np.testing.assert_allclose(after, expected, rtol=1e-4, atol=1e-6)
