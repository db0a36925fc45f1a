"""call_recorder: per-thread observers of a shared object's method."""

import threading

from keras_gs.model import call_recorder


class Layer:
    def compute(self, x):
        return 2 * x


def test_each_thread_sees_its_own_calls_and_the_method_comes_back():
    layer = Layer()
    seen = {}
    barrier = threading.Barrier(2)

    def replica(name, value):
        calls = []
        with call_recorder.observe(
            layer, "compute", lambda original, args, result: calls.append(
                (args, result, original(*args))
            )
        ):
            barrier.wait()  # Both inside at once.
            layer.compute(value)
            barrier.wait()
        seen[name] = calls

    threads = [
        threading.Thread(target=replica, args=(n, v))
        for n, v in (("a", 1), ("b", 10))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"a": [((1,), 2, 2)], "b": [((10,), 20, 20)]}
    assert "compute" not in layer.__dict__
    assert layer.compute(3) == 6


def test_an_instance_attribute_is_restored():
    layer = Layer()
    layer.compute = lambda x: -x
    with call_recorder.observe(layer, "compute", lambda *a: None):
        assert layer.compute(2) == -2
    assert layer.compute(2) == -2 and "compute" in layer.__dict__
