"""The `omnicore` command: the demo runs end to end and prints every section."""

from __future__ import annotations

import subprocess
import sys

import pytest

from omnicore._demo._runner import CAPABILITY_STEPS
from omnicore.cli import main


def test_demo_prints_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["demo", "--customers", "600", "--store", "memory://", "--seed", "3", "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0
    for title in ("Synthetic retailer", "Store", "Customer summary"):
        assert f"== {title} (" in out
    assert out.count("\n== ") + out.startswith("== ") >= 3 + len(CAPABILITY_STEPS)
    assert "wrote " in out


def test_demo_on_sqlite_file(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/demo.db"
    assert main(["demo", "--customers", "300", "--store", url, "--no-progress"]) == 0
    assert url in capsys.readouterr().out


def test_bad_arguments_are_reported(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--customers", "5"]) == 2
    assert "--customers" in capsys.readouterr().err
    assert main(["demo", "--customers", "300", "--store", "nosuch://x", "--no-progress"]) == 1
    assert "unknown store URL scheme" in capsys.readouterr().err


def test_module_entry_point_reports_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "omnicore", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("omnicore ")


@pytest.mark.spark
def test_demo_spark_step(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.spark.conftest import spark_or_skip

    spark_or_skip()
    status = main(["demo", "--customers", "300", "--store", "memory://", "--no-progress", "--spark"])
    out = capsys.readouterr().out
    assert status == 0
    assert "equal to omnicore.summarize: True" in out
