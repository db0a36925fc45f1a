"""Folder trees `<root>/<domain>/<class>/<image>`: indexing and reading."""

import dataclasses
import os

import tensorflow as tf

from keras_gs.data import image_check
from keras_gs.data import images
from keras_gs.data.domain_source import DomainSource
from keras_gs.data.spec import Dataset
from keras_gs.data.spec import SourceRequest


@dataclasses.dataclass(frozen=True)
class FolderIndex:
    """The image files of a `<root>/<domain>/<class>/<image>` tree.

    Args:
        root: str, the tree's root directory.
        domains: list of str, the domain folder names, sorted.
        class_names: list of str, the class folder names, sorted (the same
            in every domain); label `i` is `class_names[i]`.
        files: dict mapping each domain to a list of `(path, label)`,
            sorted by class then file name.
    """

    root: str
    domains: list[str]
    class_names: list[str]
    files: dict[str, list[tuple[str, int]]]


def index_folder(
    root: str,
    domains: list[str] | None = None,
    class_names: list[str] | None = None,
    extensions: tuple[str, ...] = images.IMAGE_EXTENSIONS,
) -> FolderIndex:
    """Lists the images of a `<root>/<domain>/<class>/<image>` tree.

    Every sub-folder of `root` is a domain and every sub-folder of a domain
    is a class. Files whose extension is not in `extensions`
    (case-insensitive) and names starting with "." are ignored. Every
    domain must have the same class folders, and every class folder at
    least one image.

    Args:
        root: str, the root directory.
        domains: list of str or None, the domain folders to expect (others
            are ignored); `None` takes every sub-folder. Defaults to `None`.
        class_names: list of str or None, the class folders to expect, in
            label order; `None` takes the sorted folder names. Defaults to
            `None`.
        extensions: tuple of str, the image file extensions, lower case.
            Defaults to `.jpg .jpeg .png .bmp .gif`.

    Returns:
        A `FolderIndex`.

    Raises:
        FileNotFoundError: `root` or an expected domain folder is missing.
        ValueError: a domain lacks class folders the others have, or a
            class folder holds no image, or `root` holds no domain folder.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(
            f"Dataset directory not found. Received: data_dir={root!r}. "
            "Expected a folder laid out as <root>/<domain>/<class>/<image>."
        )
    found = _subdirs(root)
    if domains is None:
        domains = found
        if not domains:
            raise ValueError(
                f"No domain folders in {root!r}. Expected a folder laid out "
                "as <root>/<domain>/<class>/<image>."
            )
    else:
        missing = [d for d in domains if d not in found]
        if missing:
            raise FileNotFoundError(
                f"Domain folder(s) {missing} not found in {root!r}. "
                f"Expected domains: {list(domains)}. Found: {found}"
            )
    classes = {d: _subdirs(os.path.join(root, d)) for d in domains}
    class_names = _check_classes(root, classes, class_names)

    files = {}
    for domain in domains:
        files[domain] = []
        for label, name in enumerate(class_names):
            folder = os.path.join(root, domain, name)
            paths = sorted(
                os.path.join(folder, f)
                for f in os.listdir(folder)
                if not f.startswith(".")
                and os.path.splitext(f)[1].lower() in extensions
                and os.path.isfile(os.path.join(folder, f))
            )
            if not paths:
                raise ValueError(
                    f"Class folder {name!r} of domain {domain!r} holds no "
                    f"image ({folder!r}; extensions read: {extensions}). "
                    "Every domain needs every class."
                )
            files[domain] += [(p, label) for p in paths]
    return FolderIndex(
        root=root,
        domains=list(domains),
        class_names=list(class_names),
        files=files,
    )


def folder_source(
    root: str,
    domains: list[str] | None = None,
    class_names: list[str] | None = None,
    check: str = "header",
    on_bad_image: str = "raise",
) -> DomainSource:
    """Reads a `<root>/<domain>/<class>/<image>` tree as a `DomainSource`.

    Images (JPEG, PNG, BMP, GIF, any size; grayscale, RGBA, palette and
    CMYK converted to RGB) are decoded when the dataset is iterated. Every
    file is checked once first (`image_check.check_images`): unreadable
    files stop the run with their list, or are left out with
    `on_bad_image="skip"`.

    Args:
        root: str, the tree's root.
        domains: list of str or None, see `index_folder`.
        class_names: list of str or None, see `index_folder`.
        check: str, `"header"`, `"full"` or `"none"`; see `check_images`.
            Defaults to `"header"`.
        on_bad_image: str, `"raise"` or `"skip"`. Defaults to `"raise"`.

    Returns:
        A `DomainSource` of `uint8` RGB images of varying size.
    """
    index = index_folder(root, domains, class_names)
    all_paths = [p for d in index.domains for p, _ in index.files[d]]
    checked = image_check.check_images(all_paths, mode=check)
    skipped = image_check.handle_bad_images(checked.bad, on_bad_image)

    files = {}
    for domain in index.domains:
        kept = [(p, y) for p, y in index.files[domain] if p not in checked.bad]
        _check_not_emptied(domain, kept, index.class_names)
        files[domain] = [
            (p, y, _needs_pil(checked.formats[p])) for p, y in kept
        ]

    def make_dataset(domain, indices, min_side=None):
        rows = [files[domain][i] for i in indices]
        paths, labels, use_pil = zip(*rows) if rows else ((), (), ())
        dataset = tf.data.Dataset.from_tensor_slices(
            (
                tf.constant(paths, tf.string),
                tf.constant(labels, tf.int32),
                tf.constant(use_pil, tf.bool),
            )
        )
        return dataset.map(
            lambda path, label, pil: (
                images.decode_image(path, pil, min_side),
                label,
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    return DomainSource(
        domains=index.domains,
        class_names=index.class_names,
        labels={d: [y for _, y, _ in files[d]] for d in index.domains},
        make_dataset=make_dataset,
        skipped_files=skipped,
    )


def _needs_pil(info):
    image_format, mode = info or (None, None)
    return not images.tf_can_decode(image_format, mode)


def _subdirs(path):
    return sorted(
        e.name
        for e in os.scandir(path)
        if e.is_dir() and not e.name.startswith(".")
    )


def _check_classes(root, classes, expected):
    """Checks every domain has the same class folders; returns the names."""
    if expected is None:
        union = sorted(set().union(*classes.values()))
    else:
        union = list(expected)
    for domain, found in classes.items():
        if not found:
            raise ValueError(
                f"Domain {domain!r} in {root!r} has no class folders. "
                f"Expected class folders: {union}"
            )
        missing = [c for c in union if c not in found]
        if missing:
            raise ValueError(
                f"Domain {domain!r} lacks class folder(s) {missing}. Every "
                f"domain needs the same classes: {union}. Found in "
                f"{domain!r}: {found}"
            )
    return union


def _check_not_emptied(domain, kept, class_names):
    present = {y for _, y in kept}
    emptied = [c for i, c in enumerate(class_names) if i not in present]
    if emptied:
        raise ValueError(
            f"After leaving out unreadable files, class(es) {emptied} of "
            f"domain {domain!r} hold no image. Classes: {class_names}"
        )


def _catalog_source(request: SourceRequest) -> DomainSource:
    if request.data_dir is None:
        raise FileNotFoundError(
            "load('folder') needs data_dir=<root of a "
            "<root>/<domain>/<class>/<image> tree>. Received: "
            "data_dir=None"
        )
    return folder_source(
        request.data_dir,
        check=request.check_images,
        on_bad_image=request.on_bad_image,
        **request.options,
    )


# The user's own tree `data_dir/<domain>/<class>/<image>`. Options:
# `domains`, `class_names` (see `folder_source`).
DATASETS = (Dataset("folder", _catalog_source),)
