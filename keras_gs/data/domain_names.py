"""Matching the domain names a user types to a dataset's domains."""

from collections.abc import Sequence

from keras_gs.utils.choices import check_choice


def name_key(name) -> str:
    """How names compare when not exact: case-insensitive, "_" for " "."""
    return str(name).lower().replace(" ", "_")


def resolve_domains(
    requested: Sequence[str],
    domains: Sequence[str],
    argument: str = "test_domains",
    also_valid: Sequence[str] = (),
) -> list[str]:
    """The domains of `domains` that `requested` names, in the order asked.

    A requested name matches a domain exactly, else by `name_key` ("real
    world" finds "Real World"). An exact name always wins; a name that
    matches several domains only by key (`Photo` for `photo` and `PHOTO`)
    is refused with all of them. Repeats are dropped.

    Args:
        requested: the names given.
        domains: the dataset's domain names.
        argument: str, the argument's name for messages. Defaults to
            `"test_domains"`.
        also_valid: names listed as valid in the error besides the domains
            (e.g. `"all"`, handled by the caller).

    Raises:
        ValueError: "Unknown test domain. Received: test_domains='x'.
            Valid: ..." or the ambiguous names.
    """
    domains = [str(d) for d in domains]
    resolved = []
    for name in requested:
        name = str(name)
        if name in domains:
            match = name
        else:
            matches = [d for d in domains if name_key(d) == name_key(name)]
            if len(matches) > 1:
                raise ValueError(
                    f"Ambiguous {argument}: {name!r} matches the domains "
                    f"{matches} (names are matched ignoring case and '_' "
                    "for ' '); give one of them exactly."
                )
            match = matches[0] if matches else None
        if match is None:
            check_choice(name, [*also_valid, *domains], argument, "test domain")
        if match not in resolved:
            resolved.append(match)
    return resolved
