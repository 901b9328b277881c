"""Apache Spark for logs that outgrow one machine: summaries, LTV fits and scores over Spark DataFrames.

Each function takes a ``pyspark.sql.DataFrame`` and runs omnicore's own numpy and compiled code in
the Spark Python workers through Arrow, so the results equal the single-machine functions. pyspark is
an optional dependency: ``pip install 'omnicore[spark]'`` (Java 17 or newer on the machine).
"""

from omnicore.spark._ltv import fit_spark, score_spark
from omnicore.spark._summarize import SUMMARY_COLUMNS, summarize_spark

__all__ = ["SUMMARY_COLUMNS", "fit_spark", "score_spark", "summarize_spark"]
