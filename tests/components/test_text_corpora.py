"""The text readers: cleaning rules, chunk bounds, layouts, and loud failures on bad input."""
import bz2
import zipfile

import pytest

from components import datasets, text_corpora as tc

WIKI_PAGE = """<page><title>{title}</title><ns>{ns}</ns><id>{id}</id><revision><text xml:space="preserve">{text}</text></revision></page>"""


def wiki_xml(pages):
    body = "".join(WIKI_PAGE.format(title=t, ns=ns, id=i, text=x)
                   for i, (t, ns, x) in enumerate(pages))
    return ('<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">'
            f"<siteinfo><sitename>W</sitename></siteinfo>{body}</mediawiki>")


def test_text8_normalisation():
    assert tc.text8_tokens("In 1984, Orwell's Café-bar!") == [
        "in", "one", "nine", "eight", "four", "orwell", "s", "caf", "bar"]


def test_wiki_markup_is_stripped_text8_style():
    raw = ("'''Anarchism''' is a [[political philosophy]] that [[Self-governance|self-governed]]"
           " societies.<ref>Some citation</ref> {{Infobox|{{nested|x}}|y=2}} See "
           "[http://example.com the site]. [[Category:Politics]] [[de:Anarchismus]] "
           "[[File:A.jpg|thumb|left|200px|A caption]] &nbsp; Born in 1809.")
    toks = tc.wiki_tokens(raw)
    assert toks == ["anarchism", "is", "a", "political", "philosophy", "that", "self",
                    "governed", "societies", "see", "the", "site", "politics", "a",
                    "caption", "born", "in", "one", "eight", "zero", "nine"]


def test_wikipedia_reader_skips_redirects_and_non_articles(tmp_path):
    xml = wiki_xml([("Alpha", 0, "alpha beta gamma " * 5),
                    ("Old", 0, "#REDIRECT [[Alpha]]"),
                    ("Talk:Alpha", 1, "chatter"),
                    ("Beta", 0, "[[Gamma|delta]] epsilon")])
    path = tmp_path / "dump.xml.bz2"
    path.write_bytes(bz2.compress(xml.encode()))
    stats = tc.new_stats()
    chunks = list(tc.read_wikipedia(str(path), max_tokens=4, stats=stats))
    assert [c.doc for c in chunks] == ["Alpha"] * 4 + ["Beta"]
    assert [c.index for c in chunks] == [0, 1, 2, 3, 0]
    assert all(len(c.tokens) <= 4 for c in chunks)
    assert chunks[-1].tokens == ["delta", "epsilon"]
    assert stats["skipped_redirects"] == 1 and stats["skipped_non_articles"] == 1
    assert stats["tokens"] == 17 and stats["pages"] == 2


def test_embedded_wikipedia_excerpt(tmp_path):
    folder = datasets.embedded_wiki(str(tmp_path))
    assert tc.detect_format(folder) == "wikipedia"
    stats = tc.new_stats()
    n = sum(1 for _ in tc.token_stream(folder, stats=stats))
    assert n == stats["tokens"] > 400_000  # ~0.5M tokens of real article text
    assert stats["pages"] > 100 and stats["skipped_redirects"] > 50


def test_text8_stream_chunks_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(tc, "_BLOCK", 7)  # tokens straddle read blocks
    words = [f"w{i}" for i in range(25)]
    path = tmp_path / "text8"
    path.write_text(" " + " ".join(words))
    chunks = list(tc.read_text8(str(path), max_tokens=10))
    assert [len(c.tokens) for c in chunks] == [10, 10, 5]
    assert sum((c.tokens for c in chunks), []) == words
    zpath = tmp_path / "text8.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("text8", " ".join(words))
    assert sum((c.tokens for c in tc.read_text8(str(zpath), 10)), []) == words
    # Unzipped next to its zip: the corpus is read once, from the plain file.
    assert tc.corpus_files(str(tmp_path), tc.TEXT8_PATTERN, "text8") == [str(path)]
    assert sum(1 for _ in tc.token_stream(str(tmp_path))) == 25


def test_ptb_layout_one_sentence_per_line(tmp_path):
    (tmp_path / "ptb.train.txt").write_text(" the cat sat <unk> \n\n a dog N \n")
    (tmp_path / "ptb.valid.txt").write_text(" valid line \n")
    (tmp_path / "ptb.test.txt").write_text(" test line \n")
    assert tc.detect_format(str(tmp_path)) == "ptb"
    assert tc.file_patterns("ptb") == {"train": "ptb.train.txt", "eval": "ptb.valid.txt",
                                       "test": "ptb.test.txt"}
    chunks = list(tc.read_corpus(str(tmp_path), split="train"))
    assert [c.tokens for c in chunks] == [["the", "cat", "sat", "<unk>"], ["a", "dog", "N"]]
    assert {c.doc for c in chunks} == {"ptb.train.txt"}


def test_plaintext_paragraphs_and_normalisation(tmp_path):
    (tmp_path / "a.txt").write_text("Hello, World!\nSecond line 2.\n\nNew paragraph.\n")
    chunks = list(tc.read_corpus(str(tmp_path)))
    assert [c.tokens for c in chunks] == [["hello", "world", "second", "line", "two"],
                                          ["new", "paragraph"]]


def test_non_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine line\nbad \xff\xfe bytes\n")
    with pytest.raises(tc.TextCorpusError, match=r"bad\.txt: not UTF-8 text at line 2"):
        list(tc.read_corpus(str(tmp_path)))
    t8 = tmp_path / "sub"
    t8.mkdir()
    (t8 / "text8").write_bytes(b"abc def \xc3\x28 ghi")
    with pytest.raises(tc.TextCorpusError, match=r"text8: not UTF-8 text at byte 8"):
        list(tc.read_corpus(str(t8)))


def test_overlong_line_is_an_error(tmp_path):
    (tmp_path / "ptb.train.txt").write_text("word " * 50 + "\n")
    with pytest.raises(tc.TextCorpusError, match=r"ptb\.train\.txt: line 1 is longer than 100"):
        list(tc.read_lines(str(tmp_path / "ptb.train.txt"), max_line_bytes=100))


def test_a_token_stream_in_a_txt_file_is_pointed_at_the_text8_layout(tmp_path):
    (tmp_path / "corpus.txt").write_text("word " * 300_000)  # one 1.5 MB line
    with pytest.raises(tc.TextCorpusError) as raised:
        list(tc.read_corpus(str(tmp_path)))
    assert str(raised.value) == (
        f"{tmp_path}/corpus.txt: line 1 is longer than 1048576 bytes, so this is not a text "
        f"of lines; a single-line token stream is the text8 layout: name the file text8 (or "
        f"text8.zip) and it is read as one")
    # And so it is.
    (tmp_path / "corpus.txt").rename(tmp_path / "text8")
    assert sum(len(c.tokens) for c in tc.read_corpus(str(tmp_path))) == 300_000


def test_overlong_token_in_a_stream_is_an_error(tmp_path):
    (tmp_path / "text8").write_text("a" * (tc.MAX_TOKEN_CHARS + 1))
    with pytest.raises(tc.TextCorpusError, match=r"text8: .*token"):
        list(tc.read_corpus(str(tmp_path)))


def test_empty_corpus_is_an_error(tmp_path):
    (tmp_path / "blank.txt").write_text("\n  \n...\n")
    with pytest.raises(tc.TextCorpusError, match="empty corpus"):
        list(tc.read_corpus(str(tmp_path)))
    empty = tmp_path / "e"
    empty.mkdir()
    (empty / "text8").write_bytes(b"")
    with pytest.raises(tc.TextCorpusError, match=r"text8: file is empty"):
        list(tc.read_corpus(str(empty)))


def test_xml_without_pages_and_broken_xml(tmp_path):
    (tmp_path / "nopages.xml").write_text("<mediawiki><siteinfo/></mediawiki>")
    with pytest.raises(tc.TextCorpusError, match=r"nopages\.xml: XML has no <page>"):
        list(tc.read_wikipedia(str(tmp_path / "nopages.xml")))
    (tmp_path / "broken.xml").write_bytes(b"<mediawiki><page><title>\xff</title>")
    with pytest.raises(tc.TextCorpusError, match=r"broken\.xml: not a well-formed"):
        list(tc.read_wikipedia(str(tmp_path / "broken.xml")))


def test_corrupt_bz2_is_an_error(tmp_path):
    good = bz2.compress(wiki_xml([("A", 0, "some words here " * 2000)]).encode())
    (tmp_path / "cut.xml.bz2").write_bytes(good[: len(good) // 2])
    with pytest.raises(tc.TextCorpusError, match=r"cut\.xml\.bz2: "):
        list(tc.read_corpus(str(tmp_path)))
    (tmp_path / "cut.xml.bz2").write_bytes(b"not bz2 at all")
    with pytest.raises(tc.TextCorpusError, match=r"cut\.xml\.bz2: not a bzip2 file"):
        list(tc.read_corpus(str(tmp_path)))


def test_corrupt_gzip_stream_names_the_file(tmp_path):
    # Right magic bytes, broken deflate data: zlib.error, not an OSError, on read.
    import gzip
    good = gzip.compress(wiki_xml([("A", 0, "some words here " * 200)]).encode())
    broken = good[:10] + b"\x00garbage" * 50
    (tmp_path / "dump.xml.gz").write_bytes(broken)
    with pytest.raises(tc.TextCorpusError, match=r"dump\.xml\.gz: corrupt or truncated"):
        list(tc.read_corpus(str(tmp_path)))
    lines = tmp_path / "lines"
    lines.mkdir()
    (lines / "ptb.train.txt.gz").write_bytes(broken)
    with pytest.raises(tc.TextCorpusError, match=r"ptb\.train\.txt\.gz: corrupt or truncated"):
        list(tc.read_lines(str(lines / "ptb.train.txt.gz")))
