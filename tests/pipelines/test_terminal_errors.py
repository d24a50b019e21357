"""Bad input on the terminal: every input-error kind the readers detect, for every corpus it
applies to, ends a `classics run` with one `error:` line naming the file and the problem
as the last line of the terminal (the process's real stderr, not the run's log file), no
traceback, and a non-zero exit; in every Beam mode.

What costs time is a process start (TensorFlow, TFX and Beam imports: 15-30 s on a busy
2-core machine), not the failing run (4-12 s: the ExampleGen fails first). So one process
runs every case one after another through `cli.main`, each with its own workspace and
`--beam-mode`, fd 2 being the pipe the test reads, and the test cuts the terminal text at
markers written straight to the file descriptors between cases. The matrix:

- in_memory: every kind for every corpus.
- multi_threading: the first kind of each text corpus, and MNIST. The text readers are
  the ones that fail inside Beam's workers, and Beam's worker threads print a failing
  bundle's traceback to stderr themselves; the image ExampleGens check every file in the
  executor before any worker starts, so the mode changes nothing for them (MNIST stands
  for them: multi_threading is its mode when none is chosen).
- multi_processing: the plain-text long line. The worker process inherits fd 2 and prints
  there, and the error reaches the runner only as text; each such run starts worker
  processes that import TensorFlow again (20-40 s), hence one case.

27 cases, about 5 minutes on a 2-core machine shared with other work.
"""
import bz2
import json
import os
import subprocess
import sys
from typing import Dict, List, NamedTuple

import pytest

from tests.image_fixtures import write_cifar, write_png_folder
from tests.mnist_fixtures import synthetic_digits, write_mnist
from tests.paths import REPO

pytestmark = pytest.mark.e2e

_CASE = "@@case "
_RC = "@@rc "


class Case(NamedTuple):
    name: str  # corpus/kind
    argv: List[str]  # after `classics run`
    path: str  # the file or folder the message must name
    problem: str  # words the message must hold after the path
    rc: int  # 1: a component failed; 2: refused while the pipeline was built


def _long_line() -> bytes:
    return b"word " * 250_000 + b"\nsecond line\n"  # line 1 is 1.25 MB


def _text(root: str, corpus: str, kind: str) -> Case:
    folder = os.path.join(root, f"{corpus}-{kind}")
    os.makedirs(folder)
    files: Dict[str, bytes]
    if corpus == "text8":
        files = {"not-utf8": {"text8": b"anarchism originated \xff\xfe as a term "},
                 "long-token": {"text8": b"anarchism " + b"a" * 5000 + b" term"},
                 "empty": {"text8": b""},
                 "corrupt": {"text8.zip": b"PK\x03\x04 not really a zip archive"}}[kind]
        name = next(iter(files))
        problem = {"not-utf8": "not UTF-8 text at byte 21",
                   "long-token": "near byte 5015: a token of 5000 characters (limit 1000)",
                   "empty": "file is empty", "corrupt": "not a zip file"}[kind]
        rc = 2 if kind in ("empty", "corrupt") else 1  # checked while the graph is built
    elif corpus == "ptb":
        rest = {"ptb.valid.txt": b"a b c\n", "ptb.test.txt": b"a b c\n"}
        name = "ptb.train.txt"
        files = dict(rest, **{name: {"long-line": _long_line(),
                                     "not-utf8": b"a b c\nd \xff e\n",
                                     "empty": b"\n \n\t\n"}[kind]})
        problem = {"long-line": "line 1 is longer than 1048576 bytes, so this is not a "
                                "text of lines; a single-line token stream is the text8 "
                                "layout: name the file text8 (or text8.zip)",
                   "not-utf8": "not UTF-8 text at line 2",
                   "empty": "empty corpus: no tokens in any file"}[kind]
        rc = 1
    elif corpus == "plaintext":
        name = "corpus.txt"
        files = {name: {"long-line": _long_line(),
                        "not-utf8": b"plain words here\nthen \xff\xfe bytes\n",
                        "empty": b"...\n\n-- !! --\n"}[kind]}
        problem = {"long-line": "line 1 is longer than 1048576 bytes, so this is not a "
                                "text of lines; a single-line token stream is the text8 "
                                "layout: name the file text8 (or text8.zip)",
                   "not-utf8": "not UTF-8 text at line 2",
                   "empty": "empty corpus: no tokens in any file"}[kind]
        rc = 1
    else:  # wikipedia
        page = b"<mediawiki><page><title>A</title><text>" + b"words " * 500 + \
            b"</text></page></mediawiki>"
        name = "dump.xml.bz2" if kind == "corrupt" else "dump.xml"
        files = {name: {"corrupt": bz2.compress(page)[:10] + b"garbage" * 50,
                        "not-xml": page[:-30],
                        "no-pages": b"<mediawiki><siteinfo/></mediawiki>"}[kind]}
        problem = {"corrupt": "corrupt or truncated compressed data",
                   "not-xml": "not a well-formed UTF-8 XML dump",
                   "no-pages": "XML has no <page> elements"}[kind]
        rc = 1
    for file_name, data in files.items():
        with open(os.path.join(folder, file_name), "wb") as f:
            f.write(data)
    path = os.path.join(folder, name)
    if problem.startswith("empty corpus"):  # the split's pattern: no one file is to blame
        path = os.path.join(folder, name if corpus == "ptb" else "*.txt")
    return Case(f"{corpus}/{kind}", ["text", "--models", "skipgram", "--data", folder],
                path, problem, rc)


def _mnist(root: str, kind: str) -> Case:
    x, y = synthetic_digits(30)
    folder = write_mnist(os.path.join(root, f"mnist-{kind}"), x, y, "train")
    write_mnist(folder, x[:10], y[:10], "t10k")
    images = os.path.join(folder, "train-images-idx3-ubyte")
    with open(images, "rb") as f:
        data = f.read()
    data, problem = {"bad-magic": (b"\x12\x34" + data[2:], "not an IDX file: bad magic"),
                     "truncated": (data[:-100], "truncated"),
                     "empty": (b"", "truncated: expected 4 bytes of header, found 0")}[kind]
    with open(images, "wb") as f:
        f.write(data)
    return Case(f"mnist/{kind}", ["mnist", "--models", "softmax", "--data", folder],
                images, problem, 1)


def _cifar(root: str, kind: str) -> Case:
    folder = write_cifar(os.path.join(root, f"cifar-{kind}"), 20, 10)
    batch = os.path.join(folder, "data_batch_1.bin")
    with open(batch, "rb") as f:
        data = f.read()
    data, problem = {"wrong-length": (data[:-7], "wrong-length record"),
                     "bad-label": (b"\x0c" + data[1:], "record 0 (byte offset 0) has label "
                                                       "byte 12, expected 0..9"),
                     "empty": (b"", "empty file: no records")}[kind]
    with open(batch, "wb") as f:
        f.write(data)
    return Case(f"cifar10/{kind}", ["cifar10", "--models", "softmax", "--data", folder],
                batch, problem, 1)


def _folder(root: str, kind: str) -> Case:
    folder = write_png_folder(os.path.join(root, f"folder-{kind}"), ["cat", "dog"], 3)
    if kind == "not-an-image":
        bad = os.path.join(folder, "dog", "broken.png")
        with open(bad, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n then nothing an image needs")
        return Case("folder/not-an-image", ["folder", "--models", "softmax", "--data", folder,
                                            "--on-bad-file", "error"],
                    bad, "bad file: not a PNG or JPEG image", 1)
    empty = os.path.join(folder, "bird")
    os.makedirs(empty)
    return Case("folder/empty", ["folder", "--models", "softmax", "--data", folder],
                empty, "empty class folder: every class needs at least one image", 2)


KINDS = {"text8": ["not-utf8", "long-token", "empty", "corrupt"],
         "ptb": ["long-line", "not-utf8", "empty"],
         "plaintext": ["long-line", "not-utf8", "empty"],
         "wikipedia": ["corrupt", "not-xml", "no-pages"],
         "mnist": ["bad-magic", "truncated", "empty"],
         "cifar10": ["wrong-length", "bad-label", "empty"],
         "folder": ["not-an-image", "empty"]}


def _case(root: str, corpus: str, kind: str) -> Case:
    if corpus in ("mnist", "cifar10", "folder"):
        return {"mnist": _mnist, "cifar10": _cifar, "folder": _folder}[corpus](root, kind)
    return _text(root, corpus, kind)


def drive(cases_file: str) -> None:
    """Runs each case's `classics run` in this process (see the module docstring)."""
    from pipelines import cli  # pylint: disable=import-outside-toplevel
    with open(cases_file) as f:
        cases = json.load(f)
    for name, argv in cases:
        for fd in (1, 2):
            os.write(fd, f"{_CASE}{name}\n".encode())
        try:
            rc = cli.main(["run"] + argv)
        except SystemExit as e:
            rc = e.code
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(2, f"{_RC}{rc}\n".encode())


def _terminal(text: str) -> Dict[str, List[str]]:
    """Each case's terminal lines, by case name."""
    out: Dict[str, List[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith(_CASE):
            current = out.setdefault(line[len(_CASE):], [])
        elif current is not None:
            current.append(line)
    return out


# The cases of each Beam mode (module docstring): every kind of every corpus in memory; in
# multi_threading the text corpora (their readers fail in Beam's worker threads) and MNIST
# (whose ExampleGen runs multi_threading when no mode is chosen); in multi_processing the
# plain-text long line.
MODES = {"in_memory": [(c, k) for c, kinds in KINDS.items() for k in kinds],
         "multi_threading": [(c, KINDS[c][0]) for c in ("text8", "ptb", "plaintext",
                                                       "wikipedia", "mnist")],
         "multi_processing": [("plaintext", "long-line")]}


@pytest.fixture(scope="module")
def terminal(tmp_path_factory):
    """mode -> [(case, its stderr lines, its stdout lines)] of one process running them all."""
    tmp = tmp_path_factory.mktemp("terminal")
    cases = {mode: [_case(str(tmp / mode), c, k) for c, k in pairs]
             for mode, pairs in MODES.items()}
    cases_file = tmp / "cases.json"
    cases_file.write_text(json.dumps(
        [(f"{mode}:{c.name}", c.argv + ["--beam-mode", mode, "--workspace",
                                         str(tmp / "ws" / mode / c.name.replace("/", "-"))])
         for mode, mode_cases in cases.items() for c in mode_cases]))
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from tests.pipelines import test_terminal_errors "
                               "as t; t.drive(sys.argv[1])", str(cases_file)],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO),
        capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    errs, outs = _terminal(proc.stderr), _terminal(proc.stdout)
    return {mode: [(c, errs.get(f"{mode}:{c.name}", []), outs.get(f"{mode}:{c.name}", []))
                   for c in mode_cases] for mode, mode_cases in cases.items()}


def _check(results) -> None:
    failures = []
    for case, err, out in results:
        shown = "\n".join(err + out)
        expected_start = f"error: {'component ' if case.rc == 1 else ''}"
        last = err[-2] if len(err) >= 2 else ""
        problems = []
        if err[-1:] != [f"{_RC}{case.rc}"]:
            problems.append(f"exit {err[-1:]}, expected {case.rc}")
        if not (last.startswith(expected_start) and f"{case.path}: {case.problem}" in last):
            problems.append(f"last line {last!r}")
        if "Traceback" in shown or sum(l.startswith("error:") for l in err) != 1:
            problems.append("more than one clear message")
        if problems:
            failures.append(f"{case.name}: {'; '.join(problems)}\n{shown}")
    assert not failures, "\n\n".join(failures)


def test_every_input_error_of_every_corpus_in_memory(terminal):
    _check(terminal["in_memory"])


def test_input_errors_from_worker_threads(terminal):
    _check(terminal["multi_threading"])


def test_an_input_error_from_a_worker_process(terminal):
    _check(terminal["multi_processing"])
