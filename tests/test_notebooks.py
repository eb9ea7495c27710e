"""Every notebook runs top to bottom in a real Jupyter kernel (nbclient); any error or failed
`assert` inside a notebook fails its test. One test per notebook, so `pytest -n 2` spreads them.

The kernel gets the environment a user's Jupyter would: no XLA_FLAGS (tests/conftest.py asks for
8 host devices; a notebook that needs several sets them itself before importing jax). Each
notebook runs in its own temporary folder, so nothing lands in the repository.
"""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = pathlib.Path(__file__).parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 600


def read(path: pathlib.Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    client = NotebookClient(
        read(path), timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    for index, cell in enumerate(read(path).cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name} cell {index} has outputs; clear them: jupyter nbconvert --clear-output --inplace {path}"
            )


def test_readme_lists_every_notebook():
    readme = (NOTEBOOK_DIR / "README.md").read_text()
    missing = [path.name for path in NOTEBOOKS if path.name not in readme]
    assert not missing, f"notebooks/README.md does not list {missing}"
