"""The embedded default corpus: English prose every CPython installation carries, so a fresh
machine trains without network.

What it holds: the Python reference manual that ships with CPython as `pydoc_data.topics`
(79 topics, 464,891 characters; one document per topic) plus the docstrings of a fixed list of
pure-Python standard-library modules (one document per module: the module docstring followed
by the docstrings of its public classes, functions and methods, in name order; 97 modules,
662,616 characters on CPython 3.11.7). In all 176 documents, 1.13 M characters, about 306 k
tokens with the unigram vocabulary of 2048. With `data.validation_fraction` 0.05, 167 documents
train and 9 validate. It is read in memory (no TFDS), so it works on machines without
tensorflow-datasets.

The text depends on the CPython version (the GPU machine's CPython 3.12.3 gives 176 documents of
1.17 M characters), so batches are reproducible across machines only with the same CPython;
`corpus_fingerprint()` names the exact content and keys the tokenizer cache.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect

# Pure-Python modules present in every CPython build (no optional C extensions such as ssl,
# sqlite3, tkinter, readline); ordered so the corpus is identical on every machine.
STDLIB_MODULES = (
    "abc", "argparse", "ast", "asyncio.events", "asyncio.tasks", "base64", "bisect", "calendar", "cmd",
    "codecs", "collections", "concurrent.futures._base", "configparser", "contextlib", "copy", "csv",
    "dataclasses", "datetime", "decimal", "difflib", "doctest", "email.message", "enum", "fnmatch",
    "fractions", "ftplib", "functools", "getopt", "gettext", "glob", "gzip", "heapq", "hmac",
    "html.parser", "http.client", "http.server", "imaplib", "inspect", "ipaddress", "json", "locale",
    "logging", "logging.handlers", "mailbox", "multiprocessing.pool", "numbers", "operator", "optparse",
    "os", "pathlib", "pdb", "pickle", "pickletools", "pkgutil", "platform", "plistlib", "poplib",
    "pprint", "queue", "quopri", "random", "re", "reprlib", "sched", "secrets", "selectors", "shelve",
    "shlex", "shutil", "smtplib", "socket", "socketserver", "statistics", "string", "subprocess",
    "tarfile", "tempfile", "textwrap", "threading", "timeit", "tokenize", "trace", "traceback",
    "types", "typing", "unittest.case", "unittest.mock", "urllib.parse", "urllib.request", "uuid",
    "warnings", "wave", "weakref", "xml.dom.minidom", "xml.etree.ElementTree", "zipfile", "zipimport",
)


def _module_document(name: str) -> str:
    """The module docstring followed by its public members' docstrings (methods included)."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        return ""
    parts = [inspect.getdoc(module) or ""]
    for attr in sorted(vars(module)):
        value = getattr(module, attr)
        if attr.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(value) or inspect.isfunction(value):
            parts.append(inspect.getdoc(value) or "")
        if inspect.isclass(value):
            for method in sorted(vars(value)):
                member = vars(value)[method]
                if not method.startswith("_") and inspect.isfunction(member):
                    parts.append(inspect.getdoc(member) or "")
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


@functools.cache
def embedded_documents() -> tuple[str, ...]:
    """All documents of the embedded corpus, reference-manual topics first, then module docs."""
    from pydoc_data.topics import topics

    docs = [topics[key].strip() for key in sorted(topics)]
    docs += [_module_document(name) for name in STDLIB_MODULES]
    return tuple(d for d in docs if d)


@functools.cache
def corpus_fingerprint() -> str:
    """A short hash of the corpus text (changes with the CPython docstrings)."""
    digest = hashlib.sha256()
    for doc in embedded_documents():
        digest.update(doc.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]
