"""Pure-Python readers and cleaners for the text corpora of the word2vec pipeline.

Four layouts, each read by a generator that yields `Chunk`s of at most `max_tokens`
tokens (so no tf.Example is ever unbounded, whatever the input):

- `text8`: a single whitespace-separated token stream (Matt Mahoney's `text8`, one
  100 MB line; also read straight out of `text8.zip`). Streamed in 1 MiB blocks.
- `ptb`: a folder with `ptb.train.txt`, `ptb.valid.txt`, `ptb.test.txt`, one
  pre-tokenised sentence per line (kept verbatim: `<unk>`, `N`, `$` stay tokens).
- `wikipedia`: a MediaWiki XML dump (`.xml` or `.xml.bz2`), article text cleaned the way
  `text8` was made (Mahoney's wikifil.pl: markup stripped, lower case, letters only,
  digits spelled out); redirects and non-article namespaces are skipped and counted.
- `plaintext`: a folder of `.txt` files, normalised text8-style; blank lines end a chunk.

Bad input never turns into a silent empty corpus: non-UTF-8 bytes, a line longer than
`max_line_bytes`, a token longer than `MAX_TOKEN_CHARS`, XML that does not parse or has
no <page>, a corrupt .bz2/.zip, and a corpus without a single token all raise
`TextCorpusError` naming the file (and line/offset where there is one). Corpora may be
local, gs:// or s3://: files are listed and read through components/filesystem.py.
"""
from __future__ import annotations

import bz2
import codecs
import collections
import dataclasses
import gzip
import os
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from typing import BinaryIO, Callable, Dict, Iterable, Iterator, List, Optional

from components import filesystem as fs
from components.input_errors import InputFileError

DEFAULT_MAX_TOKENS = 1000  # tokens per emitted chunk (word2vec.c's MAX_SENTENCE_LENGTH)
DEFAULT_MAX_LINE_BYTES = 1 << 20  # one line of a line-oriented corpus, before decoding
MAX_TOKEN_CHARS = 1000  # no real word is longer; a longer "token" means a wrong format
_BLOCK = 1 << 20

FORMATS = ("text8", "ptb", "wikipedia", "plaintext")
PTB_FILES = {"train": "ptb.train.txt", "eval": "ptb.valid.txt", "test": "ptb.test.txt"}
WIKI_PATTERN = "*.xml*"  # .xml, .xml.bz2, .xml.gz
TEXT8_PATTERN = "text8*"  # text8, text8.zip
PLAINTEXT_PATTERN = "*.txt"


class TextCorpusError(InputFileError):
    """Bad corpus input; the message starts with the file it is about."""


@dataclasses.dataclass(frozen=True)
class Chunk:
    doc: str  # document: a file name, or a Wikipedia page title
    index: int  # position of this chunk within its document (0, 1, ...)
    tokens: List[str]


Stats = Dict[str, int]  # counters a reader updates: chunks, tokens, skipped_pages, ...


def new_stats() -> Stats:
    return collections.Counter()


# --------------------------------------------------------------------------- cleaning

_DIGITS = {ord(d): f" {w} " for d, w in zip(
    "0123456789", "zero one two three four five six seven eight nine".split())}
_NON_LETTERS = re.compile(r"[^a-z]+")


def text8_tokens(text: str) -> List[str]:
    """text8 normalisation: lower case, digits spelled out, every non-letter a space."""
    return _NON_LETTERS.sub(" ", text.lower().translate(_DIGITS)).split()


_REF = re.compile(r"<ref[^<]*</ref>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>", re.S)
_URL = re.compile(r"\[https?:[^\] ]*", re.I)
_IMAGE_OPTS = re.compile(r"\|(?:thumb|left|right|\d+px)", re.I)
_IMAGE = re.compile(r"\[\[(?:image|file):[^\[\]]*\|", re.I)
_CATEGORY = re.compile(r"\[\[category:([^|\]]*)[^\]]*\]\]", re.I)
_INTERWIKI = re.compile(r"\[\[[a-z\-]*:[^\]]*\]\]")
_LINK_TARGET = re.compile(r"\[\[[^|\]]*\|")
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_BRACES = re.compile(r"\{[^{}]*\}")
_ENTITY = re.compile(r"&[^;\s]{1,10};")


def clean_wiki_markup(text: str) -> str:
    """Visible text of one article's wikitext (Matt Mahoney's wikifil.pl rules; nested
    templates are removed innermost-first rather than leaving their tails behind)."""
    text = _REF.sub("", text)
    text = _TAG.sub("", text)
    text = _URL.sub("[", text)
    text = _IMAGE_OPTS.sub("", text)
    text = _IMAGE.sub("", text)
    text = _CATEGORY.sub(r"[[\1]]", text)
    text = _INTERWIKI.sub("", text)
    text = _LINK_TARGET.sub("[[", text)
    for pattern in (_TEMPLATE, _BRACES):
        while True:
            text, n = pattern.subn("", text)
            if not n:
                break
    text = text.replace("[", "").replace("]", "")
    return _ENTITY.sub(" ", text)


def wiki_tokens(wikitext: str) -> List[str]:
    return text8_tokens(clean_wiki_markup(wikitext))


# --------------------------------------------------------------------------- helpers

def _chunks(doc: str, tokens: Iterable[str], max_tokens: int, start: int = 0
            ) -> Iterator[Chunk]:
    buf: List[str] = []
    index = start
    for tok in tokens:
        buf.append(tok)
        if len(buf) >= max_tokens:
            yield Chunk(doc, index, buf)
            index, buf = index + 1, []
    if buf:
        yield Chunk(doc, index, buf)


def _open_binary(path: str) -> BinaryIO:
    """Opens a file (local, gs:// or s3://), transparently decompressing .bz2 / .gz and
    the one member of a .zip."""
    if not fs.isfile(path):  # gfile opens lazily: say it here, not at the first read
        raise TextCorpusError(path, "cannot open: no such file")
    raw = fs.open_binary(path)
    try:
        if path.endswith(".bz2"):
            return fs.OwningReader(bz2.BZ2File(raw, "rb"), raw)  # type: ignore[return-value]
        if path.endswith(".gz"):
            return fs.OwningReader(gzip.GzipFile(fileobj=raw, mode="rb"), raw)  # type: ignore
        if path.endswith(".zip"):
            zf = zipfile.ZipFile(raw)
            members = [m for m in zf.infolist() if not m.is_dir()]
            if len(members) != 1:
                zf.close()
                raise TextCorpusError(path, f"expected one file in the zip archive, found "
                                            f"{[m.filename for m in members]}")
            return fs.OwningReader(zf.open(members[0]), zf, raw)  # type: ignore
        return raw
    except BaseException as e:
        raw.close()
        if isinstance(e, (OSError, zipfile.BadZipFile)):
            raise TextCorpusError(path, f"cannot open: {e}") from e
        raise


def _read_blocks(path: str, f: BinaryIO) -> Iterator[bytes]:
    while True:
        try:
            block = f.read(_BLOCK)
        except (OSError, EOFError, zipfile.BadZipFile, ValueError, zlib.error) as e:
            # bz2/gzip/zip integrity errors surface on read, not on open; a corrupt
            # deflate stream (gzip or zip) raises zlib.error, which is not an OSError.
            raise TextCorpusError(path, f"corrupt or truncated compressed data: {e}") from e
        if not block:
            return
        yield block


def _decode_error(path: str, err: UnicodeDecodeError, offset: int, line: Optional[int] = None
                  ) -> TextCorpusError:
    where = f"line {line}" if line is not None else f"byte {offset + err.start}"
    return TextCorpusError(path, f"not UTF-8 text at {where}: bytes "
                                 f"{err.object[err.start:err.end]!r} ({err.reason})")


def _long_line(path: str, line_no: int, max_line_bytes: int) -> TextCorpusError:
    # Usually a token stream in a file the layout detection took for lines of text:
    # say which layout reads it, and how detect_format picks that layout.
    return TextCorpusError(path, f"line {line_no} is longer than {max_line_bytes} bytes, so "
                                 f"this is not a text of lines; a single-line token stream "
                                 f"is the text8 layout: name the file text8 (or text8.zip) "
                                 f"and it is read as one")


def _iter_lines(path: str, max_line_bytes: int) -> Iterator[tuple]:
    """(line_number, text) for each line of a (possibly compressed) UTF-8 file, without
    ever holding more than `max_line_bytes` of one line in memory."""
    with _open_binary(path) as f:
        pending = b""
        line_no = 0
        for block in _read_blocks(path, f):
            pending += block
            lines = pending.split(b"\n")
            pending = lines.pop()
            for raw in lines:
                line_no += 1
                yield line_no, _decode_line(path, raw, line_no, max_line_bytes)
            if len(pending) > max_line_bytes:
                raise _long_line(path, line_no + 1, max_line_bytes)
        if pending:
            line_no += 1
            yield line_no, _decode_line(path, pending, line_no, max_line_bytes)


def _decode_line(path: str, raw: bytes, line_no: int, max_line_bytes: int) -> str:
    if len(raw) > max_line_bytes:
        raise _long_line(path, line_no, max_line_bytes)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _decode_error(path, e, 0, line_no) from e


def _check_token_lengths(path: str, tokens: List[str], where: str) -> None:
    for tok in tokens:
        if len(tok) > MAX_TOKEN_CHARS:
            raise TextCorpusError(path, f"{where}: a token of {len(tok)} characters (limit "
                                        f"{MAX_TOKEN_CHARS}): {tok[:40]!r}...")


# --------------------------------------------------------------------------- readers

def read_text8(path: str, max_tokens: int = DEFAULT_MAX_TOKENS,
               stats: Optional[Stats] = None) -> Iterator[Chunk]:
    """A single whitespace-separated token stream (e.g. `text8` or `text8.zip`), streamed
    in 1 MiB blocks and cut into chunks of `max_tokens` tokens. Tokens are kept as they
    are (text8 is already normalised)."""
    stats = stats if stats is not None else new_stats()
    doc = os.path.basename(path)
    decoder = codecs.getincrementaldecoder("utf-8")("strict")

    def tokens() -> Iterator[str]:
        carry = ""
        offset = 0
        with _open_binary(path) as f:
            for block in _read_blocks(path, f):
                try:
                    text = carry + decoder.decode(block)
                except UnicodeDecodeError as e:
                    raise _decode_error(path, e, offset) from e
                offset += len(block)
                parts = text.split()
                # The last token may continue in the next block, unless followed by space.
                carry = "" if (not parts or text[-1].isspace()) else parts.pop()
                if len(carry) > MAX_TOKEN_CHARS:
                    raise TextCorpusError(path, f"near byte {offset}: a token longer than "
                                                f"{MAX_TOKEN_CHARS} characters (not a "
                                                f"whitespace-separated token stream?)")
                _check_token_lengths(path, parts, f"near byte {offset}")
                yield from parts
            try:
                carry += decoder.decode(b"", final=True)
            except UnicodeDecodeError as e:
                raise _decode_error(path, e, offset) from e
            if carry:
                yield carry

    for chunk in _chunks(doc, tokens(), max_tokens):
        stats["chunks"] += 1
        stats["tokens"] += len(chunk.tokens)
        yield chunk


def read_lines(path: str, max_tokens: int = DEFAULT_MAX_TOKENS,
               max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
               stats: Optional[Stats] = None) -> Iterator[Chunk]:
    """One pre-tokenised sentence per line (the PTB files): one chunk per non-empty line
    (a line of more than `max_tokens` tokens becomes several chunks). Tokens verbatim."""
    stats = stats if stats is not None else new_stats()
    doc = os.path.basename(path)
    index = 0
    for line_no, line in _iter_lines(path, max_line_bytes):
        toks = line.split()
        if not toks:
            stats["empty_lines"] += 1
            continue
        _check_token_lengths(path, toks, f"line {line_no}")
        for chunk in _chunks(doc, toks, max_tokens, start=index):
            index = chunk.index + 1
            stats["chunks"] += 1
            stats["tokens"] += len(chunk.tokens)
            yield chunk


def read_plaintext(path: str, max_tokens: int = DEFAULT_MAX_TOKENS,
                   max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                   stats: Optional[Stats] = None) -> Iterator[Chunk]:
    """A plain UTF-8 text file, normalised text8-style. Paragraphs (blank-line separated)
    are kept apart: a chunk ends at a paragraph break or after `max_tokens` tokens."""
    stats = stats if stats is not None else new_stats()
    doc = os.path.basename(path)
    buf: List[str] = []
    index = 0

    def flush():
        nonlocal buf, index
        for chunk in _chunks(doc, buf, max_tokens, start=index):
            index = chunk.index + 1
            stats["chunks"] += 1
            stats["tokens"] += len(chunk.tokens)
            yield chunk
        buf = []

    for line_no, line in _iter_lines(path, max_line_bytes):
        if not line.strip():
            yield from flush()
            continue
        toks = text8_tokens(line)
        _check_token_lengths(path, toks, f"line {line_no}")
        buf.extend(toks)
        if len(buf) >= max_tokens:
            full = len(buf) - len(buf) % max_tokens
            rest = buf[full:]
            buf = buf[:full]
            yield from flush()
            buf = rest
    yield from flush()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_wikipedia(path: str, max_tokens: int = DEFAULT_MAX_TOKENS,
                   stats: Optional[Stats] = None, article_namespaces=("0",)
                   ) -> Iterator[Chunk]:
    """Article text of a MediaWiki XML dump (`.xml` / `.xml.bz2`), cleaned text8-style.
    One document per page (doc = page title). Redirects and pages outside
    `article_namespaces` are skipped and counted in `stats`."""
    stats = stats if stats is not None else new_stats()
    pages = 0
    with _open_binary(path) as f:
        try:
            context = ET.iterparse(f, events=("start", "end"))
            root = None
            for event, elem in context:
                if root is None:
                    root = elem
                if event != "end" or _local(elem.tag) != "page":
                    continue
                pages += 1
                title = ns = text = ""
                redirect = False
                for child in elem.iter():
                    name = _local(child.tag)
                    if name == "title":
                        title = child.text or ""
                    elif name == "ns":
                        ns = (child.text or "").strip()
                    elif name == "redirect":
                        redirect = True
                    elif name == "text":
                        text = child.text or ""
                elem.clear()
                root.clear()  # keep memory flat over a multi-GB dump
                if redirect or text.lstrip()[:9].lower() == "#redirect":
                    stats["skipped_redirects"] += 1
                    continue
                if ns and ns not in article_namespaces:
                    stats["skipped_non_articles"] += 1
                    continue
                toks = wiki_tokens(text)
                if not toks:
                    stats["empty_pages"] += 1
                    continue
                stats["pages"] += 1
                for chunk in _chunks(title or f"page-{pages}", toks, max_tokens):
                    stats["chunks"] += 1
                    stats["tokens"] += len(chunk.tokens)
                    yield chunk
        except ET.ParseError as e:
            raise TextCorpusError(path, f"not a well-formed UTF-8 XML dump: {e}") from e
        except (OSError, EOFError, zlib.error) as e:
            raise TextCorpusError(path, f"corrupt or truncated compressed data: {e}") from e
    if pages == 0:
        raise TextCorpusError(path, "XML has no <page> elements (not a MediaWiki dump?)")


# --------------------------------------------------------------------------- layouts

def _glob(input_base: str, pattern: str) -> List[str]:
    return fs.glob_files(input_base, pattern)


def detect_format(input_base: str) -> str:
    """Which layout a folder holds: ptb > wikipedia > text8 > plaintext."""
    if not fs.isdir(input_base):
        raise TextCorpusError(input_base, "corpus folder does not exist")
    if fs.exists(fs.join(input_base, PTB_FILES["train"])):
        return "ptb"
    if _glob(input_base, WIKI_PATTERN):
        return "wikipedia"
    if _glob(input_base, TEXT8_PATTERN):
        return "text8"
    if _glob(input_base, PLAINTEXT_PATTERN):
        return "plaintext"
    raise TextCorpusError(input_base, "no corpus found: expected ptb.train.txt, *.xml[.bz2], "
                                      "text8[.zip] or *.txt files")


def file_patterns(fmt: str) -> Dict[str, str]:
    """Input split name -> glob (relative to input_base) of its files. PTB comes
    pre-split; the others are one `single` input split that the ExampleGen hash-splits."""
    if fmt == "ptb":
        return dict(PTB_FILES)
    if fmt == "wikipedia":
        return {"single": WIKI_PATTERN}
    if fmt == "text8":
        return {"single": TEXT8_PATTERN}
    if fmt == "plaintext":
        return {"single": PLAINTEXT_PATTERN}
    raise ValueError(f"unknown text format {fmt!r}; known: {', '.join(FORMATS)}")


def reader(fmt: str) -> Callable[..., Iterator[Chunk]]:
    return {"text8": read_text8, "ptb": read_lines, "wikipedia": read_wikipedia,
            "plaintext": read_plaintext}[fmt]


def read_file(fmt: str, path: str, max_tokens: int = DEFAULT_MAX_TOKENS,
              max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
              stats: Optional[Stats] = None) -> Iterator[Chunk]:
    fn = reader(fmt)
    if fmt in ("ptb", "plaintext"):
        return fn(path, max_tokens=max_tokens, max_line_bytes=max_line_bytes, stats=stats)
    return fn(path, max_tokens=max_tokens, stats=stats)


def check_file(fmt: str, path: str) -> None:
    """Cheap structural checks done before any reading (at Beam graph construction)."""
    if not fs.isfile(path):
        raise TextCorpusError(path, "file does not exist")
    if fs.size(path) == 0:
        raise TextCorpusError(path, "file is empty")
    with fs.open_binary(path) as f:
        head = f.read(4)
        is_zip = path.endswith(".zip") and zipfile.is_zipfile(f)
    if path.endswith(".bz2") and not head.startswith(b"BZh"):
        raise TextCorpusError(path, "not a bzip2 file (bad magic bytes)")
    if path.endswith(".gz") and not head.startswith(b"\x1f\x8b"):
        raise TextCorpusError(path, "not a gzip file (bad magic bytes)")
    if path.endswith(".zip") and not is_zip:
        raise TextCorpusError(path, "not a zip file")


def corpus_files(input_base: str, pattern: str, fmt: str) -> List[str]:
    """The files of one input split, each checked (exists, non-empty, right magic)."""
    files = _glob(input_base, pattern)
    if fmt == "text8":  # `text8` unzipped next to its `text8.zip`: read it once
        files = [f for f in files if not (f.endswith(".zip") and f[:-4] in files)]
    if not files:
        raise TextCorpusError(fs.join(input_base, pattern),
                              f"no {fmt} corpus files match")
    for path in files:
        check_file(fmt, path)
    return files


def read_corpus(input_base: str, fmt: str = "auto", split: Optional[str] = None,
                max_tokens: int = DEFAULT_MAX_TOKENS,
                max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                stats: Optional[Stats] = None) -> Iterator[Chunk]:
    """Every chunk of a corpus folder (or of one of its input splits), in file order;
    raises if the whole corpus holds no token at all."""
    fmt = detect_format(input_base) if fmt == "auto" else fmt
    stats = stats if stats is not None else new_stats()
    splits = file_patterns(fmt)
    chosen = [split] if split else list(splits)
    before = stats["tokens"]
    for name in chosen:
        for path in corpus_files(input_base, splits[name], fmt):
            yield from read_file(fmt, path, max_tokens, max_line_bytes, stats)
    if stats["tokens"] == before:
        raise TextCorpusError(input_base, f"empty corpus: no tokens in any {fmt} file")


def token_stream(input_base: str, fmt: str = "auto", split: Optional[str] = None,
                 stats: Optional[Stats] = None) -> Iterator[str]:
    """The corpus as one flat token stream (what the benchmark feeds gensim and us)."""
    for chunk in read_corpus(input_base, fmt, split, stats=stats):
        yield from chunk.tokens


__all__ = ["Chunk", "TextCorpusError", "text8_tokens", "clean_wiki_markup", "wiki_tokens",
           "read_text8", "read_lines", "read_plaintext", "read_wikipedia", "detect_format",
           "file_patterns", "read_file", "read_corpus", "token_stream", "check_file",
           "corpus_files", "new_stats", "FORMATS"]
