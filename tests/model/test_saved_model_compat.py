"""Files saved by earlier versions of keras_gs keep loading.

`tests/fixtures/grad_surgery_model.keras` and `.weights.h5` were written by
`tests/fixtures/make_saved_model.py` before the package was reorganized;
a `.keras` file names its classes (`keras_gs>GradSurgeryModel`,
`keras_gs>AndMask`), which must still resolve.
"""

import os

import keras
import numpy as np

import keras_gs

from fixtures.make_saved_model import build

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")
EXPECTED = np.load(os.path.join(FIXTURES, "grad_surgery_model_expected.npz"))


def test_keras_file_loads_with_its_surgery_and_weights():
    model = keras.saving.load_model(
        os.path.join(FIXTURES, "grad_surgery_model.keras")
    )
    assert isinstance(model, keras_gs.GradSurgeryModel)
    assert repr(model.surgery) == "AndMask(tau=0.8)"
    assert (model.num_domains, model.coupled_l2, model.seed) == (3, 1e-4, 11)
    np.testing.assert_allclose(
        model.predict(EXPECTED["probe"], verbose=0),
        EXPECTED["predictions"],
        rtol=1e-6,
    )


def test_weights_file_loads_into_the_same_model():
    model = build()
    model.load_weights(os.path.join(FIXTURES, "grad_surgery_model.weights.h5"))
    np.testing.assert_allclose(
        model.predict(EXPECTED["probe"], verbose=0),
        EXPECTED["predictions"],
        rtol=1e-6,
    )


def test_jit_surgery_auto_of_old_files_reads_as_true():
    # The fixture was saved when `jit_surgery` took "auto", True or False.
    model = keras.saving.load_model(
        os.path.join(FIXTURES, "grad_surgery_model.keras")
    )
    assert model.jit_surgery is True
    assert model.get_config()["jit_surgery"] is True
    assert keras_gs.GradSurgeryModel(build().network, jit_surgery=False).jit_surgery is False
