"""Reading a folder of images with one sub-folder per class (the "image folder" layout).

Two layouts are accepted under the data folder `root`:

    root/<class>/<image>                     one pool, hash-split into train/eval later
    root/train/<class>/<image>               explicit splits; the eval folder is named
    root/eval/<class>/<image>  (or test/)    `eval` or `test` (not both)

With a `train/` folder the top level may hold only `train/` and `eval/` or `test/`
(a `train/` alone is hash-split). Files at the top level, and hidden files and folders
(names starting with "."), are ignored. `root` may be a local folder, gs:// or s3://:
every listing and read goes through components/filesystem.py.

Class ids: the class folders are sorted by Python's `sorted()` on their names (Unicode
code-point order, so "Zebra" < "ant" and "class10" < "class2") and class id i is the i-th
name. In the split layout the classes are those of `train/`; every eval class folder
must also exist in `train/` (it may lack some). The Trainer relies on this mapping;
`class_names.txt` and the `class_names` property of the Examples artifact record it.

Images: PNG or JPEG (decided by content; the extension .png/.jpg/.jpeg may be in any
case), decoded with Pillow, EXIF orientation applied, converted to RGB (channels=3; an
alpha channel is dropped) or L (channels=1), and resized to the configured height x width
with bilinear filtering, aspect ratio not kept. With `resize=False` every image must
already have the configured size: any other size is an error naming the file.

Bad input:
- a file that is not a decodable PNG/JPEG (corrupt data, a text file named x.png, another
  extension, a nested folder): with on_bad_file="skip" (default) it is left out, logged
  with its path and reason and counted; with on_bad_file="error" it fails the scan with
  an `ImageFolderError` naming it;
- always an error naming the folder: no class folders at all, an empty class folder, or
  a class folder none of whose files is usable (a class with no examples would leave an
  id the model never sees).

`scan()` decodes every image once (JPEGs at reduced scale) so that all of this is decided
before a single example is written; `decode()` is the per-image conversion the ExampleGen
runs in Beam.
"""
from __future__ import annotations

import collections
import dataclasses
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from absl import logging
from PIL import Image, ImageOps

from components import filesystem as fs
from components.input_errors import InputFileError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
PIL_FORMATS = ("PNG", "JPEG")
TRAIN_DIR = "train"
EVAL_DIRS = ("eval", "test")
SKIP = "skip"
ERROR = "error"
_EXIF_ORIENTATION = 0x0112
_SWAPS_AXES = (5, 6, 7, 8)  # EXIF orientations that rotate by 90 degrees


class ImageFolderError(InputFileError):
    """The folder layout or one file is unusable; `path` names the folder or file."""


@dataclasses.dataclass(frozen=True)
class FolderOptions:
    """How images become examples: target size, colour mode, size and bad-file policy."""
    height: int = 32
    width: int = 32
    channels: int = 3  # 3: RGB, 1: grayscale (L)
    resize: bool = True  # False: every image must already be height x width
    on_bad_file: str = SKIP  # "skip" (count + log) or "error"

    def __post_init__(self):
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if self.height < 1 or self.width < 1:
            raise ValueError(f"image size must be positive, got {self.height}x{self.width}")
        if self.on_bad_file not in (SKIP, ERROR):
            raise ValueError(f"on_bad_file must be {SKIP!r} or {ERROR!r}, "
                             f"got {self.on_bad_file!r}")

    @property
    def image_shape(self) -> Tuple[int, int, int]:
        return (self.height, self.width, self.channels)

    @property
    def mode(self) -> str:
        return "RGB" if self.channels == 3 else "L"

    @classmethod
    def from_shape(cls, image_shape: Sequence[int], **kwargs) -> "FolderOptions":
        height, width, channels = image_shape
        return cls(height=int(height), width=int(width), channels=int(channels), **kwargs)


# ------------------------------------------------------------------------------ layout
@dataclasses.dataclass(frozen=True)
class Layout:
    root: str
    split_dirs: Dict[str, str]  # input split name ("train"/"eval" or "single") -> folder
    class_names: Tuple[str, ...]


def _visible_entries(folder: str) -> List[str]:
    try:
        return sorted(n for n in fs.listdir(folder) if not n.startswith("."))
    except fs.ERRORS as e:
        raise ImageFolderError(folder, f"cannot list folder: {e}") from e


def _subfolders(folder: str) -> List[str]:
    return [n for n in _visible_entries(folder) if fs.isdir(fs.join(folder, n))]


def _class_folders(split_dir: str, root: str) -> List[str]:
    names = _subfolders(split_dir)
    if not names:
        where = "" if split_dir == root else " (split folder)"
        raise ImageFolderError(
            split_dir, f"no class folders{where}: expected one sub-folder per class "
                       f"holding its images")
    for name in names:
        if "\n" in name or "\r" in name:
            raise ImageFolderError(fs.join(split_dir, name),
                                   "class folder name contains a line break")
        try:
            name.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ImageFolderError(fs.join(split_dir, name),
                                   "class folder name is not valid UTF-8") from e
        if not _visible_entries(fs.join(split_dir, name)):
            raise ImageFolderError(
                fs.join(split_dir, name),
                "empty class folder: every class needs at least one image (a class "
                "without examples would still take a class id)")
    return names


def detect_layout(root: str) -> Layout:
    """Finds the split folders and class names (cheap: lists folders, decodes nothing)."""
    if not fs.isdir(root):
        raise ImageFolderError(root, "data folder does not exist")
    top = _subfolders(root)
    evals = [d for d in EVAL_DIRS if d in top]
    if TRAIN_DIR not in top:
        if evals:
            raise ImageFolderError(
                fs.join(root, evals[0]),
                f"an eval split folder without a {TRAIN_DIR}/ folder next to it")
        return Layout(root=root, split_dirs={"single": root},
                      class_names=tuple(_class_folders(root, root)))
    if len(evals) > 1:
        raise ImageFolderError(root, f"both {' and '.join(d + '/' for d in evals)} exist; "
                                     f"keep one eval split folder")
    others = [d for d in top if d != TRAIN_DIR and d not in evals]
    if others:
        raise ImageFolderError(
            fs.join(root, others[0]),
            f"unexpected folder next to {TRAIN_DIR}/: with split folders the top level "
            f"holds only {TRAIN_DIR}/ and eval/ or test/")
    train_dir = fs.join(root, TRAIN_DIR)
    classes = _class_folders(train_dir, root)
    split_dirs = {"train": train_dir}
    if evals:
        eval_dir = fs.join(root, evals[0])
        for name in _class_folders(eval_dir, root):
            if name not in classes:
                raise ImageFolderError(
                    fs.join(eval_dir, name),
                    f"class folder has no counterpart in {train_dir}; the classes are "
                    f"defined by the {TRAIN_DIR}/ folder")
        split_dirs["eval"] = eval_dir
    else:
        split_dirs = {"single": train_dir}
    return Layout(root=root, split_dirs=split_dirs, class_names=tuple(classes))


def class_names(root: str) -> List[str]:
    """The class names in id order (id i = line i of class_names.txt)."""
    return list(detect_layout(root).class_names)


def split_patterns(root: str) -> Dict[str, str]:
    """Input split name -> glob relative to root matching the split's image files."""
    layout = detect_layout(root)
    out = {}
    for name, folder in layout.split_dirs.items():
        # A split folder is root itself or one of its direct sub-folders.
        out[name] = "*/*" if folder == root else f"{fs.basename(folder)}/*/*"
    return out


def split_dir_of(root: str, pattern: str) -> str:
    """The split folder a pattern from split_patterns() stands for."""
    if pattern != "*/*" and not pattern.endswith("/*/*"):
        raise ImageFolderError(fs.join(root, pattern),
                               "unsupported split pattern: expected '*/*' or '<folder>/*/*'")
    rel = pattern[: -len("*/*")].rstrip("/")
    return fs.join(root, rel) if rel else root


# -------------------------------------------------------------------------------- scan
@dataclasses.dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclasses.dataclass
class ScanResult:
    class_names: Tuple[str, ...]
    files: Dict[str, List[Tuple[str, int]]]  # split pattern -> [(image path, class id)]
    skipped: List[Skipped]
    source_sizes: collections.Counter  # (width, height) after EXIF orientation -> count

    @property
    def num_images(self) -> int:
        return sum(len(v) for v in self.files.values())


def _orientation(im: Image.Image) -> Optional[int]:
    """The EXIF orientation tag, or None when absent or unreadable (then it is ignored,
    by the scan and by decode alike)."""
    try:
        return im.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # pylint: disable=broad-except  (a broken EXIF block)
        return None


def _check_image(path: str, options: FolderOptions) -> Tuple[Optional[str], Tuple[int, int]]:
    """(None, size) for a usable image, else (reason, (0, 0)). Decodes the whole image
    (JPEGs at reduced scale via Pillow's draft mode) to catch truncated or corrupt data."""
    if fs.isdir(path):
        return "nested folder (only files directly inside a class folder are read)", (0, 0)
    ext = os.path.splitext(path)[1]
    if ext.lower() not in IMAGE_EXTENSIONS:
        return (f"unsupported file type {ext or '(no extension)'!r}; expected "
                f"{', '.join(IMAGE_EXTENSIONS)} in any case"), (0, 0)
    try:
        im = Image.open(fs.read_bytes(path), formats=PIL_FORMATS)
    except Exception as e:  # pylint: disable=broad-except  (UnidentifiedImageError, OSError...)
        return f"not a PNG or JPEG image ({type(e).__name__}: {e})", (0, 0)
    try:
        with im:
            size = im.size
            if _orientation(im) in _SWAPS_AXES:
                size = (size[1], size[0])
            if im.format in ("JPEG", "MPO"):  # MPO: multi-picture JPEG from cameras
                im.draft(options.mode, (options.width, options.height))
            im.load()
    except Exception as e:  # pylint: disable=broad-except
        return f"corrupt image data ({type(e).__name__}: {e})", (0, 0)
    if size[0] < 1 or size[1] < 1:
        return f"image has no pixels ({size[0]}x{size[1]})", (0, 0)
    return None, size


def scan(root: str, patterns: Sequence[str], options: FolderOptions,
         log: Callable[[str], None] = logging.warning) -> ScanResult:
    """Checks every file of the given splits and lists the usable images with class ids.

    Applies `options.on_bad_file` to files that are not usable images; raises
    ImageFolderError for layout problems, empty classes and (resize=False) wrong sizes.
    """
    layout = detect_layout(root)
    ids = {name: i for i, name in enumerate(layout.class_names)}
    files: Dict[str, List[Tuple[str, int]]] = {}
    skipped: List[Skipped] = []
    sizes: collections.Counter = collections.Counter()
    for pattern in patterns:
        split_dir = split_dir_of(root, pattern)
        found: List[Tuple[str, int]] = []
        for name in _class_folders(split_dir, root):
            if name not in ids:
                raise ImageFolderError(fs.join(split_dir, name),
                                       "class folder is not one of the data set's classes")
            folder = fs.join(split_dir, name)
            entries = _visible_entries(folder)
            usable = 0
            for entry in entries:
                path = fs.join(folder, entry)
                reason, size = _check_image(path, options)
                if reason is not None:
                    if options.on_bad_file == ERROR:
                        raise ImageFolderError(path, f"bad file: {reason}")
                    log(f"ImageFolderExampleGen: skipping {path}: {reason}")
                    skipped.append(Skipped(path, reason))
                    continue
                if not options.resize and size != (options.width, options.height):
                    raise ImageFolderError(
                        path, f"image is {size[0]}x{size[1]} (width x height) but resize=False "
                              f"requires every image to be {options.width}x{options.height}")
                sizes[size] += 1
                found.append((path, ids[name]))
                usable += 1
            if usable == 0:
                raise ImageFolderError(
                    folder, f"class folder has no usable image: none of its {len(entries)} "
                            f"entries is a readable PNG/JPEG (all skipped as bad files)")
        files[pattern] = found
    if len(sizes) > 1:
        logging.info("ImageFolderExampleGen: %d distinct image sizes, all resized to %dx%d",
                     len(sizes), options.width, options.height)
    return ScanResult(class_names=layout.class_names, files=files, skipped=skipped,
                      source_sizes=sizes)


# ------------------------------------------------------------------------------ decode
def decode(path: str, options: FolderOptions) -> np.ndarray:
    """The image as uint8 [height, width, channels] (HWC), converted and resized."""
    try:
        with Image.open(fs.read_bytes(path), formats=PIL_FORMATS) as im:
            if _orientation(im) not in (None, 1):
                im = ImageOps.exif_transpose(im)
            im = im.convert(options.mode)
    except Exception as e:  # pylint: disable=broad-except
        raise ImageFolderError(path, f"cannot decode image ({type(e).__name__}: {e})") from e
    if im.size != (options.width, options.height):
        if not options.resize:
            raise ImageFolderError(
                path, f"image is {im.size[0]}x{im.size[1]} (width x height) but resize=False "
                      f"requires {options.width}x{options.height}")
        im = im.resize((options.width, options.height), Image.Resampling.BILINEAR)
    arr = np.asarray(im, dtype=np.uint8)
    if options.channels == 1:
        arr = arr[:, :, None]
    return arr
