"""The README and docs only point at things that exist: repository paths and `.md` files cited in
docs, docstrings and comments, and the `jaxlm` commands they show."""

from __future__ import annotations

import pathlib
import re

import pytest

from jaxlm.cli import COMMANDS

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SOURCES = [*DOCS, *sorted((ROOT / "jaxlm").rglob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py")),
           *sorted((ROOT / "notebooks").glob("*.ipynb"))]
REPO_PATH = re.compile(r"(?<![\w/.-])(?:jaxlm|docs|benchmarks|notebooks|tests)/[\w./*-]*")
MARKDOWN_FILE = re.compile(r"(?<![\w/.-])([A-Z][A-Z_]+\.md)\b")
CODE = re.compile(r"```[a-z]*\n(.*?)```|`([^`\n]+)`", re.S)
MARKDOWN_NAMES = {path.name for folder in ("docs", "jaxlm", "benchmarks", "notebooks", "tests")
                  for path in (ROOT / folder).rglob("*.md")} | {path.name for path in ROOT.glob("*.md")}


def cited(pattern: re.Pattern, source: pathlib.Path) -> set[str]:
    return {match.group(match.lastindex or 0).rstrip(".") for match in pattern.finditer(source.read_text())}


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_cited_repository_paths_exist(source):
    missing = [path for path in cited(REPO_PATH, source)
               if not (list(ROOT.glob(path.rstrip("/"))) if "*" in path else (ROOT / path).exists())]
    missing += [name for name in cited(MARKDOWN_FILE, source) if name not in MARKDOWN_NAMES]
    assert not missing, f"{source.relative_to(ROOT)} cites files that are not in the repository: {missing}"


def shown_commands(text: str) -> set[str]:
    """Subcommands of every `jaxlm ...` line in code blocks and code spans (`jaxlm a | b` lists several)."""
    commands = set()
    for match in CODE.finditer(text):
        for line in (match.group(1) or match.group(2)).splitlines():
            line = re.sub(r"^(\$ |[A-Z_]+=\S+ )+", "", line.strip())
            for code in [line, *re.findall(r"`([^`]+)`", line)]:
                if code.startswith("jaxlm "):
                    words = code.removeprefix("jaxlm ").split(" | ") if " | " in code else [code.split()[1]]
                    commands.update(word.split()[0] for word in words)
    return commands


@pytest.mark.parametrize("source", DOCS, ids=lambda path: path.name)
def test_docs_show_only_commands_that_exist(source):
    shown = shown_commands(source.read_text())
    assert shown - {*COMMANDS, "--version"} == set()


def test_the_command_scanner_finds_commands_in_blocks_and_spans():
    text = ("```bash\njaxlm train x   # y\nXLA_FLAGS=--f jaxlm eval z\njaxlm/cli/  `jaxlm convert | bench`\n```\n"
            "see `jaxlm info | generate` and `jaxlm presets`")
    assert shown_commands(text) == {"train", "eval", "convert", "bench", "info", "generate", "presets"}
