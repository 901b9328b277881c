import numpy as np
import pyarrow as pa
import pytest

import omnicore
from omnicore import ValidationError, ltv
from omnicore.datasets import synthetic_transactions
from omnicore.spark import SUMMARY_COLUMNS, fit_spark, score_spark, summarize_spark

pytestmark = [pytest.mark.spark, pytest.mark.filterwarnings("ignore::DeprecationWarning:pyspark")]

END = "2024-09-30T18:00:00"  # the log runs to the end of 2024: later rows must be left out


@pytest.fixture(scope="module")
def log() -> omnicore.Transactions:
    data = synthetic_transactions(n_customers=1500, seed=11).transactions
    amount = data.amount.copy()  # a few returns
    amount[::97] = -amount[::97] / 2
    return omnicore.Transactions(
        customer_id=data.customer_id, timestamp=data.timestamp, amount=amount, allow_returns=True
    )


def _frame(spark, tx: omnicore.Transactions, *, ids=None, aware: bool = True):
    """The log as a Spark DataFrame: instants (TimestampType) or UTC wall times (TimestampNTZ)."""
    from pyspark.sql import functions

    times = tx.timestamp.astype(str).tolist()
    table = pa.table(
        {
            "cust": pa.array(tx.customer_id if ids is None else ids),
            "ts": pa.array(tx.timestamp, pa.timestamp("us", tz="UTC")) if aware else pa.array(times),
            "value": pa.array(tx.amount, pa.float64()),
        }
    )
    df = spark.createDataFrame(table)
    # Parsing text into TimestampNTZ does not depend on the session time zone.
    return df if aware else df.withColumn("ts", functions.to_timestamp_ntz("ts"))


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by("cust")


def _assert_equal(spark_summary, local: omnicore.CustomerSummary) -> None:
    got = _sorted(spark_summary.toArrow())
    assert got.num_rows == len(local)
    np.testing.assert_array_equal(got.column("cust").to_numpy(zero_copy_only=False), local.customer_id)
    for name, kind in SUMMARY_COLUMNS:
        values = got.column(name)
        if kind == "timestamp":
            values = values.cast(pa.timestamp("us"))
        expected = np.asarray(getattr(local, name))
        np.testing.assert_array_equal(values.to_numpy(zero_copy_only=False), expected, err_msg=name)


@pytest.mark.parametrize("period", ["D", "W"])
def test_summary_equals_omnicore_summarize(spark, log, period) -> None:
    df = _frame(spark, log)
    got = summarize_spark(
        df,
        observation_end=END,
        period=period,
        customer_id="cust",
        timestamp="ts",
        amount="value",
        allow_returns=True,
    )
    _assert_equal(got, omnicore.summarize(log, observation_end=END, period=period))


def test_session_time_zone_and_naive_timestamps_do_not_change_the_result(spark, log) -> None:
    local = omnicore.summarize(log, observation_end=END, period="D")
    spark.conf.set("spark.sql.session.timeZone", "Asia/Shanghai")
    try:
        for aware in (True, False):
            got = summarize_spark(
                _frame(spark, log, aware=aware),
                observation_end=END,
                customer_id="cust",
                timestamp="ts",
                amount="value",
                allow_returns=True,
                buckets=3,
            )
            _assert_equal(got, local)
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")


def test_text_ids_and_the_default_observation_end(spark, log) -> None:
    ids = np.char.add("C", log.customer_id.astype(str))
    text_log = omnicore.Transactions(
        customer_id=ids, timestamp=log.timestamp, amount=log.amount, allow_returns=True
    )
    got = summarize_spark(
        _frame(spark, log, ids=ids.tolist()),
        customer_id="cust",
        timestamp="ts",
        amount="value",
        allow_returns=True,
    )
    _assert_equal(got, omnicore.summarize(text_log))


def test_bad_columns_are_named(spark, log) -> None:
    df = _frame(spark, log)
    with pytest.raises(ValidationError) as raised:
        summarize_spark(df, customer_id="cust", timestamp="when", amount="value")
    assert raised.value.field == "timestamp"
    with pytest.raises(ValidationError) as raised:
        summarize_spark(df, customer_id="value", timestamp="ts", amount="value")
    assert raised.value.field == "customer_id"
    with pytest.raises(ValidationError) as raised:
        summarize_spark(df, customer_id="cust", timestamp="ts", amount="value", period="M")
    assert raised.value.field == "period"


def test_fits_and_scores_equal_the_local_models(spark, log) -> None:
    local_summary = omnicore.summarize(log, observation_end=END, period="W")
    summary = summarize_spark(
        _frame(spark, log),
        observation_end=END,
        period="W",
        customer_id="cust",
        timestamp="ts",
        amount="value",
        allow_returns=True,
    ).cache()
    bg = fit_spark(ltv.BetaGeo, summary, period="W")
    local_bg = ltv.BetaGeo.fit(local_summary)
    np.testing.assert_allclose(bg.params.to_array(), local_bg.params.to_array(), rtol=1e-6)
    gg = fit_spark(ltv.GammaGamma, summary)
    local_gg = ltv.GammaGamma.fit(local_summary)
    np.testing.assert_allclose(gg.params.to_array(), local_gg.params.to_array(), rtol=1e-6)
    with pytest.raises(ValidationError):
        fit_spark(ltv.ShiftedBetaGeometric, summary)

    scored = _sorted(score_spark(summary, bg, horizon=13, spend_model=gg).toArrow())
    np.testing.assert_allclose(scored.column("p_alive").to_numpy(), bg.p_alive(local_summary), rtol=1e-12)
    np.testing.assert_allclose(
        scored.column("expected_purchases").to_numpy(), bg.expected_purchases(13, local_summary), rtol=1e-12
    )
    spend = gg.expected_average_spend(local_summary)
    np.testing.assert_allclose(scored.column("expected_spend").to_numpy(), spend, rtol=1e-12)
    clv = ltv.customer_lifetime_value(bg, local_summary, spend=spend)
    np.testing.assert_allclose(scored.column("clv").to_numpy(), clv, rtol=1e-12)
