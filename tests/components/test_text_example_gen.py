"""TextExampleGen run through its executor: bounded chunks, splits, metadata, failures."""
import bz2
import os

import pytest

from components import datasets, text_corpora, text_example_gen as teg
from tests.example_gen_harness import read_examples, run_executor


def run_example_gen(input_base, out_dir, **kwargs):
    return run_executor(teg.create(input_base, **kwargs), teg.Executor, out_dir)


def read_split(uri, split):
    out = []
    for ex in read_examples(uri, split):
        f = ex.features.feature
        out.append({"tokens": [t.decode() for t in f["tokens"].bytes_list.value],
                    "doc": f["doc"].bytes_list.value[0].decode(),
                    "chunk": f["chunk"].int64_list.value[0],
                    "source": f["source"].bytes_list.value[0].decode()})
    return out


def test_ptb_keeps_its_splits(tmp_path):
    data = tmp_path / "ptb"
    data.mkdir()
    (data / "ptb.train.txt").write_text("".join(f" a b c {i} \n" for i in range(30)))
    (data / "ptb.valid.txt").write_text(" v w \n x y z \n")
    (data / "ptb.test.txt").write_text(" t \n")
    art = run_example_gen(str(data), str(tmp_path / "out"))
    train, evals, test = (read_split(art.uri, s) for s in ("train", "eval", "test"))
    assert len(train) == 30 and len(test) == 1
    assert sorted(e["tokens"] for e in evals) == [["v", "w"], ["x", "y", "z"]]
    assert {e["source"] for e in train} == {"ptb.train.txt"}
    assert sorted(e["chunk"] for e in train) == list(range(30))


def test_wikipedia_hash_split_is_deterministic_and_bounded(tmp_path):
    data = tmp_path / "wiki"
    data.mkdir()
    word = lambda p, i: f"w{chr(97 + p)}{chr(97 + i // 26)}{chr(97 + i % 26)}"  # noqa: E731
    pages = "".join(
        f"<page><title>P{p}</title><ns>0</ns><revision><text>"
        f"{' '.join(word(p, i) for i in range(95))}</text></revision></page>"
        for p in range(20))
    (data / "d.xml.bz2").write_bytes(bz2.compress(f"<mediawiki>{pages}</mediawiki>".encode()))
    a = run_example_gen(str(data), str(tmp_path / "a"), max_tokens=10)
    b = run_example_gen(str(data), str(tmp_path / "b"), max_tokens=10)
    train, evals = read_split(a.uri, "train"), read_split(a.uri, "eval")
    assert len(train) + len(evals) == 20 * 10  # 95 tokens -> 10 chunks of <= 10
    assert 5 <= len(evals) <= 45  # ~1/10 held out
    assert all(len(e["tokens"]) <= 10 for e in train + evals)
    key = lambda e: (e["doc"], e["chunk"])  # noqa: E731
    assert sorted(map(key, evals)) == sorted(map(key, read_split(b.uri, "eval")))
    assert {e["source"] for e in train} == {"d.xml.bz2"}
    doc0 = sorted((e for e in train + evals if e["doc"] == "P0"), key=lambda e: e["chunk"])
    assert sum((e["tokens"] for e in doc0), []) == [word(0, i) for i in range(95)]


def test_text8_stream_from_zip(tmp_path):
    import zipfile
    data = tmp_path / "t8"
    data.mkdir()
    with zipfile.ZipFile(data / "text8.zip", "w") as zf:
        zf.writestr("text8", " ".join(["the", "cat"] * 1000))
    art = run_example_gen(str(data), str(tmp_path / "out"), max_tokens=100)
    chunks = read_split(art.uri, "train") + read_split(art.uri, "eval")
    assert len(chunks) == 20 and {len(c["tokens"]) for c in chunks} == {100}


def test_bad_input_fails_and_leaves_no_output(tmp_path):
    data = tmp_path / "txt"
    data.mkdir()
    (data / "good.txt").write_text("some fine words\n")
    (data / "bad.txt").write_bytes(b"ok\n\xff\xfe\n")
    out = tmp_path / "out"
    with pytest.raises(Exception, match=r"bad\.txt: not UTF-8 text at line 2"):
        run_example_gen(str(data), str(out))
    assert os.listdir(out) == []  # the folder the launcher made is left, empty


def test_empty_corpus_fails(tmp_path):
    data = tmp_path / "txt"
    data.mkdir()
    (data / "a.txt").write_text("... !!! ---\n")
    out = tmp_path / "out"
    with pytest.raises(Exception, match="empty corpus"):
        run_example_gen(str(data), str(out))
    assert os.listdir(out) == []  # the folder the launcher made is left, empty


def test_wrong_folder_fails_at_construction(tmp_path):
    with pytest.raises(text_corpora.TextCorpusError, match="no corpus found"):
        teg.create(str(tmp_path))




def test_fetch_ptb_rejects_a_bad_checksum(http_root, tmp_path):
    root, url = http_root
    for name in datasets.DATASETS["ptb"].files:
        (root / name).write_text(" not the real ptb \n")
    dest = tmp_path / "ptb"
    with pytest.raises(datasets.FetchError, match="ptb.train.txt: checksum mismatch"):
        datasets.fetch("ptb", str(dest), base_url=url, log=lambda _: None)
    assert not list(dest.iterdir())  # nothing that looks complete is left


def test_fetch_text8_and_ptb_with_matching_checksums(http_root, tmp_path, monkeypatch):
    root, url = http_root
    for name in ("text8", "ptb"):
        files = {}
        for fname in datasets.DATASETS[name].files:
            (root / fname).write_bytes(f"{fname} payload".encode())
            files[fname] = (datasets.sha256_of(str(root / fname)),
                            os.path.getsize(root / fname))
        monkeypatch.setitem(datasets.DATASETS, name,
                            datasets.DatasetFiles(name, "http://unused.invalid/", files))
        dest = tmp_path / name
        datasets.fetch(name, str(dest), base_url=url, log=lambda _: None)
        assert sorted(os.listdir(dest)) == sorted(files)


def test_real_checksum_entries_are_well_formed():
    for name, n_files in (("text8", 1), ("ptb", 3)):
        spec = datasets.DATASETS[name]
        assert len(spec.files) == n_files
        for sha, size in spec.files.values():
            assert len(sha) == 64 and int(sha, 16) >= 0 and size > 100_000
