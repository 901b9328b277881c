"""The README's quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_quickstart_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    match = re.search(r"## Quickstart\n\n```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert match is not None, "README has no Quickstart code block"
    monkeypatch.chdir(tmp_path)
    exec(compile(match.group(1), str(README), "exec"), {})
    assert (tmp_path / "shop.db").exists()


def test_readme_test_command_is_what_ci_runs() -> None:
    commands = re.findall(r"^(pip install .*)$", README.read_text(encoding="utf-8"), re.M)
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in ci.splitlines()
