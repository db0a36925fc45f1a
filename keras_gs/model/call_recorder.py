"""Observing calls of a layer's method during a traced training step.

`GradSurgeryModel` needs values that Keras layers compute inside a forward
pass but do not expose: BatchNormalization's batch moments, and activity
regularizers evaluated on part of a batch. It wraps the attribute that
computes them for the duration of the step's trace.

Under `tf.distribute.MirroredStrategy`, Keras traces the step once per
replica, in concurrent threads, on the same layer objects. So the wrapper
is installed once while any thread records (reference-counted, under a
lock) and restored when the last one leaves, and each call is reported
only to the observers of the thread that made it: each replica sees its
own calls.
"""

import contextlib
import threading

_lock = threading.Lock()
_local = threading.local()
_installed = {}  # (id(obj), attr) -> [count, original in __dict__ or None]
_MISSING = object()


@contextlib.contextmanager
def observe(obj, attr, observer):
    """While inside, `observer` sees this thread's calls of `obj.<attr>`.

    Args:
        obj: the object whose attribute is called (e.g. a layer).
        attr: str, the attribute's name (a method or a callable value).
        observer: callable `(original, args, result)`, called after each
            call of `obj.<attr>(*args, **kwargs)` made in this thread (it
            sees the positional `args`); `original` is
            the unwrapped callable (to call it again without observing).
    """
    key = (id(obj), attr)
    with _lock:
        if key not in _installed:
            _installed[key] = [0, obj.__dict__.get(attr, _MISSING)]
            setattr(obj, attr, _wrapper(key, getattr(obj, attr)))
        _installed[key][0] += 1
    observers = _observers().setdefault(key, [])
    observers.append(observer)
    try:
        yield
    finally:
        observers.remove(observer)
        with _lock:
            entry = _installed[key]
            entry[0] -= 1
            if entry[0] == 0:
                del _installed[key]
                if entry[1] is _MISSING:
                    delattr(obj, attr)  # Back to the class's method.
                else:
                    setattr(obj, attr, entry[1])


def _observers():
    if not hasattr(_local, "observers"):
        _local.observers = {}
    return _local.observers


def _wrapper(key, original):
    def call(*args, **kwargs):
        # Keyword arguments (a layer's `training=`) pass through unseen.
        result = original(*args, **kwargs)
        for observer in list(_observers().get(key, ())):
            observer(original, args, result)
        return result

    return call
