"""Ports torchvision's ImageNet weights to a keras_gs backbone.

Reads torchvision's state dict of AlexNet, ResNet-18 or ResNet-50 (the
`.pth` file, which needs torch, or a `.npz` of the same arrays under the
same keys, which does not) and writes a Keras `.weights.h5` file. Without
`--output`, it writes the file that `weights="imagenet"` reads:
`$KERAS_GS_CACHE/<arch>_imagenet.weights.h5`, by default under
`~/.keras/keras_gs/`.

Usage:
  python tools/port_torchvision_weights.py --arch=resnet18
      --input=resnet18-f37072fd.pth [--output=FILE.weights.h5]
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

import cli  # noqa: E402

import keras_gs  # noqa: E402,F401  (first: it turns oneDNN on before TF loads)
from keras_gs.backbones import torchvision_port  # noqa: E402

PROG = "port_torchvision_weights.py"
_ARCH = flags.DEFINE_enum(
    "arch", None, torchvision_port.archs(), "The architecture."
)
_INPUT = flags.DEFINE_string(
    "input",
    None,
    "torchvision's state dict: a .pth file (needs torch) or .npz.",
)
_OUTPUT = flags.DEFINE_string(
    "output",
    None,
    "The .weights.h5 file to write. Defaults to the cache that "
    'weights="imagenet" reads ($KERAS_GS_CACHE, else ~/.keras/keras_gs).',
)
flags.mark_flags_as_required(["arch", "input"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        path = torchvision_port.port(_ARCH.value, _INPUT.value, _OUTPUT.value)
    except (ValueError, OSError, ImportError) as error:
        cli.fail(PROG, error)
    print(f"Wrote {path}")


if __name__ == "__main__":
    app.run(main, flags_parser=cli.flags_parser(PROG))
