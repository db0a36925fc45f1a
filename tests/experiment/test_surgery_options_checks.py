"""`--surgery_options` refused in one line (issue 31, item 13)."""

import pytest

from keras_gs.experiment import ExperimentConfig


def config(surgery, *options):
    return ExperimentConfig(
        surgery=tuple(surgery.split(",")), surgery_options=options
    )


@pytest.mark.parametrize(
    "surgery, options, message",
    [
        (
            "cagrad",
            ("cagrad.c=0.5", "cagrad.c=0.2"),
            "`surgery_options` gives cagrad.c twice ('0.5', then '0.2'). "
            "Received: surgery_options=cagrad.c=0.5,cagrad.c=0.2",
        ),
        (
            "erm,cagrad",
            ("and-mask.tau=0.8",),
            "`surgery_options` sets and-mask.tau, but 'and-mask' is not "
            "trained. Received: surgery=erm,cagrad, "
            "surgery_options=and-mask.tau=0.8. Add and-mask to --surgery, "
            "or remove its options.",
        ),
        (
            "cagrad",
            ("cagrad.c=abc",),
            "`cagrad.c` must be a number. Received: "
            "surgery_options='cagrad.c=abc'",
        ),
        (
            "cagrad",
            ("cagrad.c=inf",),
            "`cagrad.c` must be finite. Received: "
            "surgery_options='cagrad.c=inf'",
        ),
        (
            "cagrad",
            ("cagrad.c=nan",),
            "`cagrad.c` must be finite. Received: "
            "surgery_options='cagrad.c=nan'",
        ),
    ],
)
def test_bad_surgery_options_are_refused(surgery, options, message):
    with pytest.raises(ValueError) as error:
        config(surgery, *options).validate()
    assert str(error.value) == message


def test_good_surgery_options_pass():
    checked = config("erm,cagrad,and-mask", "cagrad.c=0.2", "and-mask.tau=1")
    assert checked.validate() is checked
    assert checked.surgery_kwargs("cagrad") == {"c": 0.2}
