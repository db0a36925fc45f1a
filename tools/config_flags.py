"""The flags of `ExperimentConfig`, generated from its fields.

One flag per field, named as the field, with the field's type, default and
documentation (the `Args:` of `ExperimentConfig`'s docstring), so a new
setting is a new field and nothing more. Fields with a fixed set of
values (`ExperimentConfig.CHOICES`) are enum flags, whose bad values get
the same one-line error as the library's. `tools/train.py` and
`tools/sweep.py` share them.
"""

import dataclasses
import inspect
import os
import re
import types
import typing

from absl import flags
from absl.flags import _argument_parser
from absl.flags import _flag


def define_config_flags(config_class, flag_values=flags.FLAGS):
    """Defines one flag per field of `config_class` in `flag_values`."""
    docs = field_docs(config_class)
    defaults = config_class()
    for field in dataclasses.fields(config_class):
        name = field.name
        default = getattr(defaults, name)
        help_text = docs.get(name, name)
        kind = _kind(field.type)
        choices = config_class.CHOICES.get(name)
        if choices is not None:
            flag = _flag.EnumFlag(name, default, help_text, list(choices))
            flag.parser = _ChoiceParser(name, list(choices))
            flags.DEFINE_flag(flag, flag_values)
        elif kind is bool:
            flags.DEFINE_bool(name, default, help_text, flag_values=flag_values)
        elif kind is int:
            flags.DEFINE_integer(name, default, help_text, flag_values=flag_values)
        elif kind is float:
            flags.DEFINE_float(name, default, help_text, flag_values=flag_values)
        elif kind is tuple:
            flags.DEFINE_list(
                name,
                list(default) if isinstance(default, tuple) else (
                    [] if default is None else [default]
                ),
                help_text,
                flag_values=flag_values,
            )
        else:
            flags.DEFINE_string(name, default, help_text, flag_values=flag_values)


def config_from_flags(config_class, values):
    """The typed config of parsed flags `values` (paths expanded)."""
    settings = {}
    for field in dataclasses.fields(config_class):
        value = getattr(values, field.name)
        kind = _kind(field.type)
        if kind is tuple:
            value = tuple(value)
            if _element_type(field.type) is int:
                try:
                    value = tuple(int(v) for v in value)
                except ValueError:
                    raise ValueError(
                        f"--{field.name} takes integers. Received: "
                        f"{field.name}={','.join(value)}"
                    ) from None
            if _allows(field.type, str) and len(value) == 1 and (
                value[0].lower() in config_class.SPECIAL_NAMES
            ):
                value = value[0].lower()
            elif not value and _allows(field.type, type(None)):
                value = None
        elif kind is str and value == "" and _allows(field.type, type(None)):
            value = None
        if field.name in config_class.PATHS and value:
            value = os.path.expanduser(value)
        settings[field.name] = value
    return config_class(**settings)


def field_docs(config_class) -> dict:
    """Each field's description, from the class docstring's `Args:`.

    The "Defaults to ..." sentence is left out: absl shows the default.
    """
    text = inspect.getdoc(config_class) or ""
    args = text.split("Args:", 1)[-1]
    docs = {}
    for match in re.finditer(
        r"^    (\w+): (.*?)(?=^    \w+: |\Z)", args, flags=re.M | re.S
    ):
        description = " ".join(match.group(2).split())
        description = re.sub(r"\s*Defaults to .*$", "", description)
        # The type is the flag's own ("an integer", "a number").
        description = re.sub(
            r"^(str|int|float|bool|tuple of \w+)( or None)?, ", "", description
        )
        docs[match.group(1)] = description
    return docs


class _ChoiceParser(_argument_parser.EnumParser):
    """An enum flag's parser whose error names the flag and the choices."""

    def __init__(self, name, choices):
        super().__init__(choices)
        self.name = name

    def parse(self, argument):
        if argument not in self.enum_values:
            raise ValueError(
                f"Unknown {self.name}. Received: {self.name}={argument!r}. "
                f"Valid: {', '.join(self.enum_values)}"
            )
        return argument


def _kind(annotation):
    """The flag type of a field annotation: bool, int, float, str, tuple."""
    for kind in (bool, int, float, tuple):
        if _allows(annotation, kind):
            return kind
    return str


def _allows(annotation, kind):
    """Whether `annotation` (e.g. `str | None`) admits values of `kind`."""
    if isinstance(annotation, str):
        annotation = eval(annotation, vars(typing))  # noqa: S307
    if isinstance(annotation, types.UnionType) or (
        typing.get_origin(annotation) is typing.Union
    ):
        return any(_allows(a, kind) for a in typing.get_args(annotation))
    origin = typing.get_origin(annotation) or annotation
    return origin is kind


def _element_type(annotation):
    if isinstance(annotation, str):
        annotation = eval(annotation, vars(typing))  # noqa: S307
    for option in typing.get_args(annotation) or (annotation,):
        if typing.get_origin(option) is tuple:
            return typing.get_args(option)[0]
    return str
