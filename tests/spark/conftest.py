"""A local Spark session for the tests (two cores, no UI); skipped without pyspark or Java, except in CI."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import pytest


def spark_or_skip() -> None:
    missing = []
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing.append("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing.append("Java")
    if missing:
        message = f"Spark tests need {' and '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {message}: .ci/run installs the test extra, which has pyspark")
        pytest.skip(message)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    spark_or_skip()
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("omnicore-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
