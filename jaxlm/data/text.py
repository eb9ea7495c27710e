"""Plain-text helpers: documents from files, sentences from documents, a stable train/validation split."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterator

from jaxlm.errors import JaxlmError

_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+")
_GOLDEN = 0.6180339887498949


def text_files(path: str, key: str = "data.path") -> list[pathlib.Path]:
    """The file at `path`, or every file under the folder `path` (sorted, hidden files skipped); a binary
    file among them is a one-line error naming it."""
    root = pathlib.Path(path).expanduser()
    if root.is_file():
        _check_text(root, key)
        return [root]
    if not root.is_dir():
        raise JaxlmError(f"{key}: '{path}' does not exist; point it at a text file or a folder of text files")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.parts))
    if not files:
        raise JaxlmError(f"{key}: folder '{path}' holds no files")
    for file in files:
        _check_text(file, key)
    return files


def _check_text(file: pathlib.Path, key: str) -> None:
    """A file with a NUL byte in its first 8 KB is binary (git's test), not text to train on."""
    with file.open("rb") as handle:
        if b"\0" in handle.read(8192):
            raise JaxlmError(f"{key}: {file} is a binary file, not text; point {key} at text files only")


def split_documents(text: str) -> list[str]:
    """Blank-line separated documents of `text` (a text without blank lines is one document)."""
    return [doc.strip() for doc in re.split(r"\n\s*\n", text) if doc.strip()]


def file_documents(files: list[pathlib.Path], one_per_file: bool) -> Iterator[str]:
    """Documents of `files`: each file whole, or its blank-line separated parts."""
    for file in files:
        text = file.read_text(encoding="utf-8", errors="replace")
        if one_per_file:
            if text.strip():
                yield text.strip()
        else:
            yield from split_documents(text)


def sentences(document: str) -> list[str]:
    """Sentences of a document: paragraphs (blank-line separated) with wrapped lines joined, then
    split after . ! ? : ; followed by whitespace. Code-like lines stay whole."""
    out = []
    for paragraph in re.split(r"\n\s*\n", document):
        joined = " ".join(line.strip() for line in paragraph.splitlines() if line.strip())
        out.extend(s for s in _SENTENCE_END.split(joined) if s)
    return out


def is_validation(index: int, fraction: float) -> bool:
    """Whether document `index` is held out: a low-discrepancy (golden-ratio) sequence puts
    `fraction` of any prefix of documents into validation, the same on every machine."""
    return (index * _GOLDEN) % 1.0 < fraction
