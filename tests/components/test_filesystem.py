"""components/filesystem.py: the readers' file layer. Local semantics are checked
in-process; the readers themselves (IDX, CIFAR-10, image folder, text corpora) run on
s3:// in a child process against moto's S3 server on 127.0.0.1 (tests/s3_standin.py),
because TensorFlow's S3 plugin must not be loaded into the pytest process (it aborts at
interpreter exit, trainer/runtime/object_store.py)."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from components import filesystem as fs
from tests.image_fixtures import write_png_folder
from tests.mnist_fixtures import synthetic_digits, write_mnist
from tests.s3_standin import s3_server

from tests.paths import REPO as REPO_ROOT


def test_paths_for_local_and_uris():
    assert fs.join("/data", "a", "b.txt") == os.path.join("/data", "a", "b.txt")
    assert fs.join("s3://bucket/data/", "a", "b") == "s3://bucket/data/a/b"
    assert fs.join("gs://bucket", "x") == "gs://bucket/x"
    assert fs.basename("s3://bucket/data/") == "data"
    assert fs.basename("/data/x.png") == "x.png"
    assert fs.is_local("relative/path") and not fs.is_local("s3://b/k")


def test_glob_files_matches_python_glob_on_local_folders(tmp_path):
    for rel in ["a.txt", ".hidden.txt", "b.TXT", "sub/c.txt", ".h/d.txt", "e.txt/x",
                "train-images-idx3-ubyte", "train-labels-idx1-ubyte.gz"]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    folder = str(tmp_path)
    assert fs.glob_files(folder, "*.txt") == [os.path.join(folder, "a.txt")]  # no dirs
    assert fs.glob_files(folder, "*/*.txt") == [os.path.join(folder, "sub", "c.txt")]
    assert fs.glob_files(folder, ".*.txt") == [os.path.join(folder, ".hidden.txt")]
    assert fs.glob_files(folder, "train-*-idx[13]-ubyte*") == [
        os.path.join(folder, "train-images-idx3-ubyte"),
        os.path.join(folder, "train-labels-idx1-ubyte.gz")]
    assert fs.glob_files(folder, "nothing*") == []
    assert sorted(fs.listdir(folder))[:2] == [".h", ".hidden.txt"]
    assert fs.isfile(os.path.join(folder, "a.txt")) and not fs.isfile(folder)
    assert fs.size(os.path.join(folder, "a.txt")) == 1


def test_named_bytes_and_owning_reader():
    data = fs.read_bytes(__file__)
    assert repr(data) == repr(__file__) and data.read(3) == b'"""'

    class Closable:
        closed = False

        def close(self):
            self.closed = True

    inner, outer = Closable(), Closable()
    with fs.OwningReader(outer, inner):
        pass
    assert inner.closed and outer.closed


# Reads every corpus format from s3:// with the readers and ExampleGen helpers the
# pipeline uses, and prints what it found as JSON.
_CHILD = textwrap.dedent("""
    import json, sys
    from components import (cifar_example_gen, cifar_format, idx_format, image_folder,
                            mnist_example_gen, text_corpora)
    from trainer.runtime import object_store

    out = {}
    images, labels = mnist_example_gen.find_pair("s3://corpora/mnist", "train-*-idx[13]-ubyte*")
    pair = idx_format.validate_mnist_pair(images, labels)
    out["mnist"] = [pair.count, list(pair.images.record_shape), pair.images.compressed,
                    [int(l) for l in idx_format.read_records(pair.labels, 10, 14)],
                    mnist_example_gen.has_test_split("s3://corpora/mnist")]
    patterns = cifar_example_gen.split_patterns("s3://corpora/cifar")
    batches = [cifar_format.validate(p) for p in
               cifar_format.find_batches("s3://corpora/cifar", patterns["single"].split("/")[-1])
               ] if "single" in patterns else []
    nested = cifar_example_gen.split_patterns("s3://corpora/cifar-nested")
    x, y = cifar_format.read_records(batches[0], 2, 5)
    out["cifar"] = [patterns, nested, [b.count for b in batches], list(x.shape), y.tolist()]
    scan = image_folder.scan("s3://corpora/folder",
                             list(image_folder.split_patterns("s3://corpora/folder").values()),
                             image_folder.FolderOptions(height=8, width=8, channels=3))
    first = scan.files["*/*"][0][0]
    out["folder"] = [list(scan.class_names), scan.num_images,
                     [s.reason.split(" (")[0] for s in scan.skipped],
                     list(image_folder.decode(first, image_folder.FolderOptions(
                         height=8, width=8, channels=3)).shape)]
    stats = text_corpora.new_stats()
    chunks = list(text_corpora.read_corpus("s3://corpora/text", stats=stats))
    out["text"] = [text_corpora.detect_format("s3://corpora/text"), stats["tokens"],
                   sorted({c.doc for c in chunks})]
    errors = {}
    for what, call in [
            ("idx", lambda: idx_format.validate("s3://corpora/bad/t10k-labels-idx1-ubyte")),
            ("cifar", lambda: cifar_format.validate("s3://corpora/bad/data_batch_1.bin")),
            ("text", lambda: list(text_corpora.read_corpus("s3://corpora/badtext"))),
            ("folder", lambda: image_folder.detect_layout("s3://corpora/nothing-here"))]:
        try:
            call()
            errors[what] = None
        except ValueError as e:
            errors[what] = str(e)
    out["errors"] = errors
    print(json.dumps(out), flush=True)
    sys.exit(object_store.exit_process(0))
""")


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpora")
    images, labels = synthetic_digits(40)
    write_mnist(str(root / "mnist"), images, labels, "train", gz=True)
    from components import cifar_format
    rng = np.random.RandomState(0)
    os.makedirs(root / "cifar")
    cifar_format.write_batch(str(root / "cifar" / "data_batch_1.bin"),
                             rng.randint(0, 256, (7, 32, 32, 3)), [0, 1, 2, 3, 4, 5, 6])
    os.makedirs(root / "cifar-nested" / "cifar-10-batches-bin")
    for name in ("data_batch_1.bin", "test_batch.bin"):
        cifar_format.write_batch(str(root / "cifar-nested" / "cifar-10-batches-bin" / name),
                                 rng.randint(0, 256, (2, 32, 32, 3)), [1, 2])
    write_png_folder(str(root / "folder"), ["cat", "dog"], per_class=2)
    (root / "folder" / "dog" / "broken.png").write_bytes(b"not a png")
    (root / "folder" / ".thumbs").mkdir()
    (root / "folder" / ".thumbs" / "t.png").write_bytes(b"hidden: ignored")
    os.makedirs(root / "text")
    (root / "text" / "a.txt").write_text("The cat sat.\n\nOn 2 mats.\n")
    (root / "text" / "b.txt").write_text("dogs run\n")
    (root / "text" / ".notes.txt").write_text("hidden words that must not count\n")
    os.makedirs(root / "bad")
    write_mnist(str(root / "badsrc"), images[:3], labels[:3], "t10k")
    with open(root / "badsrc" / "t10k-labels-idx1-ubyte", "rb") as f:
        (root / "bad" / "t10k-labels-idx1-ubyte").write_bytes(f.read() + b"xx")
    (root / "bad" / "data_batch_1.bin").write_bytes(b"\x00" * 3074)
    os.makedirs(root / "badtext")
    (root / "badtext" / "x.txt").write_bytes(b"ok\n\xff\n")
    return root


def test_readers_on_s3(corpora):
    with s3_server() as s3:
        uri = s3.bucket("corpora")
        for name in ("mnist", "cifar", "cifar-nested", "folder", "text", "bad", "badtext"):
            s3.upload_dir(str(corpora / name), f"{uri}/{name}")
        result = subprocess.run([sys.executable, "-c", _CHILD], cwd=REPO_ROOT,
                                env=s3.process_env(), capture_output=True, text=True,
                                timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["mnist"] == [40, [28, 28], True, [0, 1, 2, 3], False]
    patterns, nested, counts, shape, labels = out["cifar"]
    assert patterns == {"single": "data_batch_*.bin"}
    assert nested == {"train": "cifar-10-batches-bin/data_batch_*.bin",
                      "eval": "cifar-10-batches-bin/test_batch.bin"}
    assert counts == [7] and shape == [3, 32, 32, 3] and labels == [2, 3, 4]
    assert out["folder"] == [["cat", "dog"], 4, ["not a PNG or JPEG image"], [8, 8, 3]]
    assert out["text"] == ["plaintext", 8, ["a.txt", "b.txt"]]
    errors = out["errors"]
    assert errors["idx"] == ("s3://corpora/bad/t10k-labels-idx1-ubyte: 2 unexpected "
                             "trailing bytes after 3 records")
    assert errors["cifar"].startswith("s3://corpora/bad/data_batch_1.bin: wrong-length record")
    assert errors["text"].startswith("s3://corpora/badtext/x.txt: not UTF-8 text at line 2")
    assert errors["folder"] == "s3://corpora/nothing-here: data folder does not exist"
