"""`layer_groups`: the trainable variables of a network, grouped by layer.

Shared by `ConflictMonitor` (during training) and `keras_gs.analysis`
(on checkpoints), so that both name layers alike.
"""

import dataclasses

ALL = "all"


@dataclasses.dataclass(frozen=True)
class LayerGroup:
    """The trainable variables that one layer of a network owns.

    Args:
        name: str, the layer's name in the network (`"conv1"`, `"logits"`),
            or `"all"` for the whole network.
        indices: tuple of int, positions of its variables in
            `network.trainable_variables`.
        parameters: int, the number of scalars in those variables.
    """

    name: str
    indices: tuple[int, ...]
    parameters: int


def layer_groups(network) -> list[LayerGroup]:
    """One group per top-level layer that has trainable variables.

    Layers are taken in the network's order (`network.layers`); the
    variables of a nested model or layer count for the top-level layer
    that holds it. A variable shared by two layers counts once, for the
    first. The whole network is not among the groups (see `ALL`).

    Args:
        network: a built `keras.Model`.

    Returns:
        A list of `LayerGroup`, in the order of the layers.

    Raises:
        ValueError: if the network has no trainable variables.
    """
    variables = network.trainable_variables
    if not variables:
        raise ValueError(
            f"Network {network.name!r} has no trainable variables: there "
            "is no gradient to analyze."
        )
    position = {id(v): i for i, v in enumerate(variables)}
    seen = set()
    groups = []
    for layer in getattr(network, "layers", []):
        indices = []
        for variable in layer.trainable_variables:
            i = position.get(id(variable))
            if i is not None and i not in seen:
                seen.add(i)
                indices.append(i)
        if indices:
            groups.append(
                LayerGroup(
                    layer.name,
                    tuple(indices),
                    sum(_size(variables[i]) for i in indices),
                )
            )
    rest = [i for i in range(len(variables)) if i not in seen]
    if rest:
        # Variables created by the model itself, outside any layer.
        groups.append(
            LayerGroup(
                network.name,
                tuple(rest),
                sum(_size(variables[i]) for i in rest),
            )
        )
    return groups


def whole_network(network) -> LayerGroup:
    """The group `"all"` of every trainable variable of `network`."""
    variables = network.trainable_variables
    return LayerGroup(
        ALL,
        tuple(range(len(variables))),
        sum(_size(v) for v in variables),
    )


def _size(variable) -> int:
    size = 1
    for dim in variable.shape:
        size *= int(dim)
    return size
