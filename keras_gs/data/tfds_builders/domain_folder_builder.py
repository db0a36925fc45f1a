"""`DomainFolderBuilder`: TFDS builder base for `<root>/<domain>/<class>/`."""

import io
import os

import tensorflow_datasets as tfds
from PIL import Image

from keras_gs.data import folder
from keras_gs.data import image_check
from keras_gs.data import images


class DomainFolderBuilder(
    tfds.core.GeneratorBasedBuilder, skip_registration=True
):
    """Builds a multi-domain image dataset from an extracted archive.

    The archive is extracted by the user into the manual-download directory
    (`<data_dir>/downloads/manual/` unless `DownloadConfig(manual_dir=...)`
    says otherwise); the builder looks for the tree
    `<root>/<domain>/<class>/<image>` at each of `ROOT_CANDIDATES` under
    it. Every file is checked once with PIL first (see
    `keras_gs.data.image_check.check_images`): unreadable files stop the
    build with their list, or are left out with `on_bad_image="skip"`.

    Features: `image` (RGB, stored as in the archive when TF decodes that
    format, otherwise converted to RGB and stored as PNG), `label` (class),
    `domain`. One TFDS split per domain, named by `split_name(domain)`.

    Subclasses set `DOMAINS` (the domain folder names), `CLASS_NAMES` (the
    class folder names, in label order), `ROOT_CANDIDATES`, `VERSION`,
    `RELEASE_NOTES`, `MANUAL_DOWNLOAD_INSTRUCTIONS`, `DESCRIPTION`,
    `HOMEPAGE` and `CITATION`; they override nothing.

    Args:
        on_bad_image: str, `"raise"` or `"skip"`. Defaults to `"raise"`.
        check: str, `"header"` or `"full"`; see `check_images`. Defaults to
            `"header"`.
        **kwargs: forwarded to `tfds.core.GeneratorBasedBuilder`
            (`data_dir`, `config`, `version`, ...).
    """

    DOMAINS: tuple[str, ...] = ()
    CLASS_NAMES: tuple[str, ...] = ()
    ROOT_CANDIDATES: tuple[str, ...] = (".",)
    DESCRIPTION = ""
    HOMEPAGE = ""
    CITATION = ""

    def __init__(self, *, on_bad_image="raise", check="header", **kwargs):
        image_check.handle_bad_images({}, on_bad_image)  # Validates it.
        if check not in ("header", "full"):
            raise ValueError(
                "A TFDS build always checks its images. Received: "
                f"check={check!r}. Valid: ('header', 'full')"
            )
        self._on_bad_image = on_bad_image
        self._check = check
        super().__init__(**kwargs)
        # Pickling rebuilds the builder from this dict (DatasetBuilder).
        self._original_state.update(on_bad_image=on_bad_image, check=check)

    @staticmethod
    def split_name(domain: str) -> str:
        """The TFDS split of a domain: lower case, spaces as underscores."""
        return domain.lower().replace(" ", "_")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3)),
                    "label": tfds.features.ClassLabel(
                        names=list(self.CLASS_NAMES)
                    ),
                    "domain": tfds.features.ClassLabel(
                        names=list(self.DOMAINS)
                    ),
                }
            ),
            supervised_keys=("image", "label"),
            homepage=self.HOMEPAGE,
            citation=self.CITATION,
        )

    def _split_generators(self, dl_manager):
        root = self.find_root(dl_manager.manual_dir)
        index = folder.index_folder(
            root, list(self.DOMAINS), list(self.CLASS_NAMES)
        )
        paths = [p for d in index.domains for p, _ in index.files[d]]
        checked = image_check.check_images(paths, mode=self._check)
        image_check.handle_bad_images(checked.bad, self._on_bad_image)
        return {
            self.split_name(domain): self._generate_examples(
                root,
                domain,
                [
                    (p, y, checked.formats[p])
                    for p, y in index.files[domain]
                    if p not in checked.bad
                ],
            )
            for domain in index.domains
        }

    def _generate_examples(self, root, domain, files):
        for path, label, (image_format, mode) in files:
            # The key is relative to the root so that the example order
            # does not depend on where the archive was extracted.
            key = os.path.relpath(path, root).replace(os.sep, "/")
            yield key, {
                "image": _encodable(path, image_format, mode),
                "label": label,
                "domain": domain,
            }

    @classmethod
    def find_root(cls, manual_dir) -> str:
        """The first of `ROOT_CANDIDATES` under `manual_dir` with every domain.

        Args:
            manual_dir: path, the manual-download directory.

        Returns:
            The root of the `<root>/<domain>/<class>/<image>` tree.
        """
        manual_dir = os.fspath(manual_dir)
        looked = []
        for candidate in cls.ROOT_CANDIDATES:
            root = os.path.normpath(os.path.join(manual_dir, candidate))
            looked.append(root)
            if all(os.path.isdir(os.path.join(root, d)) for d in cls.DOMAINS):
                return root
        raise FileNotFoundError(
            f"{cls.name}: no folder holding all domains {list(cls.DOMAINS)} "
            f"under the manual-download directory {manual_dir!r}. Looked "
            f"in: {looked}.\n{cls.MANUAL_DOWNLOAD_INSTRUCTIONS}"
        )


def _encodable(path, image_format, mode):
    """The path itself when TFDS can decode the file, else PNG bytes."""
    # TFDS decodes with tf.image.decode_image without expand_animations, so
    # a GIF would come out 4-D: store its first frame as PNG instead.
    if image_format != "GIF" and images.tf_can_decode(image_format, mode):
        return path
    buffer = io.BytesIO()
    Image.fromarray(images.pil_decode_rgb(path)).save(buffer, format="PNG")
    return buffer.getvalue()
