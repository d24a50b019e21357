"""The image-folder reader: layouts, class ids, decoding, bad-file policy, size policy.

Fixtures are real PNG/JPEG files written with Pillow into tmp_path."""
import os

import numpy as np
import pytest
from PIL import Image

from components import image_folder
from components.image_folder import FolderOptions, ImageFolderError

# A distinct colour per class, so decoded pixels show which class an image came from.
COLOURS = {"ant": (200, 30, 30), "Bee": (30, 200, 30), "cat": (30, 30, 200),
           "dog": (250, 250, 0), "eel": (0, 250, 250)}


def write_image(path, size=(32, 32), colour=(10, 20, 30), fmt=None, noise_seed=None, **save):
    """A solid-colour (or noisy) RGB image of `size` (width, height) saved at `path`."""
    w, h = size
    arr = np.empty((h, w, 3), np.uint8)
    arr[...] = colour
    if noise_seed is not None:
        arr = np.random.RandomState(noise_seed).randint(0, 256, (h, w, 3)).astype(np.uint8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt, **save)
    return arr


def make_folder(root, classes=("ant", "Bee", "cat"), per_class=3, size=(32, 32)):
    """root/<class>/img<i>.png|.JPG ... : PNG and JPEG, mixed-case extensions."""
    exts = [".png", ".JPG", ".jpeg", ".PNG"]
    for name in classes:
        for i in range(per_class):
            ext = exts[i % len(exts)]
            fmt = "PNG" if ext.lower() == ".png" else "JPEG"
            write_image(os.path.join(root, name, f"img{i}{ext}"), size, COLOURS[name], fmt)
    return str(root)


def add_bad_files(folder):
    """Returns {path: expected reason fragment} for the bad files written into `folder`."""
    os.makedirs(folder, exist_ok=True)
    bad = {}
    text_png = os.path.join(folder, "x.png")
    with open(text_png, "w") as f:
        f.write("this is not an image\n")
    bad[text_png] = "not a PNG or JPEG image"
    png = os.path.join(folder, "truncated.png")
    write_image(png, (64, 64), fmt="PNG", noise_seed=1)
    with open(png, "r+b") as f:
        f.truncate(os.path.getsize(png) // 2)
    bad[png] = "corrupt image data"
    jpg = os.path.join(folder, "truncated.jpg")
    write_image(jpg, (64, 64), fmt="JPEG", noise_seed=2)
    with open(jpg, "r+b") as f:
        f.truncate(os.path.getsize(jpg) // 2)
    bad[jpg] = "corrupt image data"
    notes = os.path.join(folder, "notes.txt")
    with open(notes, "w") as f:
        f.write("labelled by hand\n")
    bad[notes] = "unsupported file type '.txt'"
    nested = os.path.join(folder, "more")
    os.makedirs(nested)
    bad[nested] = "nested folder"
    return bad


def _all(result):
    return sorted(item for items in result.files.values() for item in items)


def test_class_ids_are_the_sorted_folder_names(tmp_path):
    root = make_folder(tmp_path / "data", classes=("cat", "ant", "Bee"))
    (tmp_path / "data" / "README.md").write_text("top-level files are ignored")
    (tmp_path / "data" / ".cache").mkdir()  # hidden folders too
    assert image_folder.class_names(root) == ["Bee", "ant", "cat"]  # code-point order
    assert image_folder.split_patterns(root) == {"single": "*/*"}
    result = image_folder.scan(root, ["*/*"], FolderOptions())
    ids = {os.path.basename(os.path.dirname(p)): y for p, y in _all(result)}
    assert ids == {"Bee": 0, "ant": 1, "cat": 2}
    assert result.num_images == 9 and result.skipped == []
    # Every extension case was read: .png .JPG .jpeg
    assert {os.path.splitext(p)[1] for p, _ in _all(result)} == {".png", ".JPG", ".jpeg"}


def test_png_decodes_exactly_in_hwc_order(tmp_path):
    path = str(tmp_path / "a" / "g.png")
    arr = write_image(path, (32, 32), fmt="PNG", noise_seed=5)
    got = image_folder.decode(path, FolderOptions())
    assert got.dtype == np.uint8 and got.shape == (32, 32, 3)
    np.testing.assert_array_equal(got, arr)
    grey = image_folder.decode(path, FolderOptions(channels=1))
    assert grey.shape == (32, 32, 1)
    np.testing.assert_array_equal(grey[..., 0], np.asarray(Image.fromarray(arr).convert("L")))


def test_resize_to_configured_height_and_width(tmp_path):
    path = str(tmp_path / "a" / "wide.png")
    write_image(path, (90, 40), colour=(12, 34, 56), fmt="PNG")
    got = image_folder.decode(path, FolderOptions(height=20, width=30))
    assert got.shape == (20, 30, 3)
    assert (got == np.array([12, 34, 56], np.uint8)).all()  # a solid colour stays solid


def test_rgba_and_palette_images_become_rgb(tmp_path):
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[...] = (1, 2, 3, 0)  # fully transparent: the alpha is dropped, colour kept
    path = str(tmp_path / "a" / "rgba.png")
    os.makedirs(os.path.dirname(path))
    Image.fromarray(rgba, "RGBA").save(path)
    assert (image_folder.decode(path, FolderOptions()) == [1, 2, 3]).all()
    pal = str(tmp_path / "a" / "pal.png")
    Image.new("RGB", (32, 32), (40, 50, 60)).convert(
        "P", palette=Image.Palette.ADAPTIVE).save(pal)
    assert (image_folder.decode(pal, FolderOptions()) == [40, 50, 60]).all()


def test_exif_orientation_is_applied(tmp_path):
    path = str(tmp_path / "a" / "portrait.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees: a 40x20 (w x h) sensor image shows as 20x40
    write_image(path, (40, 20), colour=(90, 90, 90), fmt="JPEG", exif=exif)
    options = FolderOptions(height=40, width=20, resize=False)
    assert image_folder.decode(path, options).shape == (40, 20, 3)
    result = image_folder.scan(str(tmp_path), ["*/*"], options)
    assert result.source_sizes == {(20, 40): 1}


def test_bad_files_are_skipped_counted_and_logged(tmp_path):
    root = make_folder(tmp_path / "data")
    bad = add_bad_files(os.path.join(root, "cat"))
    (tmp_path / "data" / "cat" / ".DS_Store").write_bytes(b"\0\0")  # hidden: ignored
    logs = []
    result = image_folder.scan(root, ["*/*"], FolderOptions(), log=logs.append)
    assert result.num_images == 9  # the good ones, all still there
    skipped = {s.path: s.reason for s in result.skipped}
    assert sorted(skipped) == sorted(bad)
    for path, fragment in bad.items():
        assert fragment in skipped[path], (path, skipped[path])
        assert any(path in m and skipped[path] in m for m in logs)
    assert len(logs) == len(bad)


@pytest.mark.parametrize("bad_name", ["x.png", "truncated.png", "truncated.jpg", "notes.txt"])
def test_error_policy_names_the_first_bad_file(tmp_path, bad_name):
    root = make_folder(tmp_path / "data")
    bad = add_bad_files(str(tmp_path / "elsewhere"))
    path = next(p for p in bad if os.path.basename(p) == bad_name)
    target = os.path.join(root, "Bee", bad_name)
    os.replace(path, target)
    with pytest.raises(ImageFolderError) as e:
        image_folder.scan(root, ["*/*"], FolderOptions(on_bad_file="error"))
    assert e.value.path == target
    assert str(e.value).startswith(f"{target}: bad file: {bad[path].split(' (')[0]}")


def test_empty_class_folder_is_always_an_error(tmp_path):
    root = make_folder(tmp_path / "data")
    (tmp_path / "data" / "dog").mkdir()
    (tmp_path / "data" / "dog" / ".hidden").write_text("")  # still no image
    for policy in ("skip", "error"):
        with pytest.raises(ImageFolderError) as e:
            image_folder.scan(root, ["*/*"], FolderOptions(on_bad_file=policy))
        assert e.value.path == os.path.join(root, "dog") and "empty class folder" in str(e.value)
    with pytest.raises(ImageFolderError, match="empty class folder"):
        image_folder.class_names(root)  # already at pipeline construction


def test_class_with_only_bad_files_is_an_error(tmp_path):
    root = make_folder(tmp_path / "data")
    folder = os.path.join(root, "eel")
    os.makedirs(folder)
    with open(os.path.join(folder, "x.png"), "w") as f:
        f.write("text")
    with pytest.raises(ImageFolderError) as e:
        image_folder.scan(root, ["*/*"], FolderOptions())
    assert e.value.path == folder and "no usable image: none of its 1 entries" in str(e.value)


def test_no_class_folders(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    write_image(str(root / "loose.png"), fmt="PNG")
    with pytest.raises(ImageFolderError, match=f"^{root}: no class folders"):
        image_folder.class_names(str(root))
    with pytest.raises(ImageFolderError, match="data folder does not exist"):
        image_folder.class_names(str(tmp_path / "missing"))


def test_mixed_sizes_are_resized_by_default_and_refused_without_resize(tmp_path):
    root = make_folder(tmp_path / "data", per_class=2)
    odd = os.path.join(root, "ant", "big.png")
    write_image(odd, (48, 40), COLOURS["ant"], "PNG")
    result = image_folder.scan(root, ["*/*"], FolderOptions())
    assert result.num_images == 7 and result.source_sizes == {(32, 32): 6, (48, 40): 1}
    assert image_folder.decode(odd, FolderOptions()).shape == (32, 32, 3)
    with pytest.raises(ImageFolderError) as e:
        image_folder.scan(root, ["*/*"], FolderOptions(resize=False))
    assert e.value.path == odd and "image is 48x40" in str(e.value) and "32x32" in str(e.value)
    os.remove(odd)
    assert image_folder.scan(root, ["*/*"], FolderOptions(resize=False)).num_images == 6


def test_split_folders(tmp_path):
    root = tmp_path / "data"
    make_folder(root / "train", classes=("ant", "Bee", "cat"), per_class=2)
    make_folder(root / "test", classes=("ant", "cat"), per_class=1)  # eval may lack a class
    (root / "notes.txt").write_text("ignored")
    assert image_folder.split_patterns(str(root)) == {"train": "train/*/*", "eval": "test/*/*"}
    result = image_folder.scan(str(root), ["train/*/*", "test/*/*"], FolderOptions())
    assert result.class_names == ("Bee", "ant", "cat")
    assert [y for _, y in result.files["test/*/*"]] == [1, 2]
    assert len(result.files["train/*/*"]) == 6


def test_split_folder_problems(tmp_path):
    root = tmp_path / "data"
    make_folder(root / "train", classes=("ant", "cat"), per_class=1)
    assert image_folder.split_patterns(str(root)) == {"single": "train/*/*"}
    make_folder(root / "eval", classes=("ant", "dog"), per_class=1)
    with pytest.raises(ImageFolderError) as e:
        image_folder.split_patterns(str(root))
    assert e.value.path == str(root / "eval" / "dog") and "no counterpart" in str(e.value)
    make_folder(root / "test", classes=("ant",), per_class=1)
    with pytest.raises(ImageFolderError, match="both eval/ and test/ exist"):
        image_folder.class_names(str(root))
    other = tmp_path / "other"
    make_folder(other / "train", classes=("ant",), per_class=1)
    make_folder(other / "cat", classes=("cat",), per_class=1)
    with pytest.raises(ImageFolderError, match="unexpected folder next to train/"):
        image_folder.class_names(str(other))
    lone = tmp_path / "lone"
    make_folder(lone / "eval", classes=("ant",), per_class=1)
    with pytest.raises(ImageFolderError, match="eval split folder without a train/"):
        image_folder.class_names(str(lone))


def test_options_are_checked():
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        FolderOptions(channels=4)
    with pytest.raises(ValueError, match="on_bad_file must be"):
        FolderOptions(on_bad_file="ignore")
    assert FolderOptions.from_shape((28, 24, 1)).image_shape == (28, 24, 1)
