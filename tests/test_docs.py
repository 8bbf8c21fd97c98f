"""The code blocks of the user guides run (each guide's ```python blocks in order, in one namespace)."""
import os
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
GUIDES = sorted(p.name for p in DOCS.glob("from-*.md"))


def _blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("guide", GUIDES)
def test_guide_code_runs(guide, tmp_path, monkeypatch):
    blocks = _blocks(DOCS / guide)
    assert blocks, f"{guide} has no python code block"
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"guide_{guide}"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{guide}[block {i + 1}]", "exec"), namespace)  # noqa: S102
        except ModuleNotFoundError as exc:
            pytest.skip(f"{guide} needs {exc.name}")


def test_readme_sampler_example_runs(tmp_path, monkeypatch):
    readme = DOCS.parent / "README.md"
    block = next(b for b in _blocks(readme) if "NegativeSampler" in b)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})  # noqa: S102
