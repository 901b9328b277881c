"""Per-customer purchase summaries shared by RFM segmentation and LTV models."""

from omnicore.summary._customer_summary import CustomerSummary
from omnicore.summary._holdout import CalibrationHoldout, calibration_holdout
from omnicore.summary._period import Period, period_index
from omnicore.summary._summarize import summarize

__all__ = [
    "CalibrationHoldout",
    "CustomerSummary",
    "Period",
    "calibration_holdout",
    "period_index",
    "summarize",
]
