"""Privacy operations across every store: find a data subject, export what is held, erase it.

A subject is found by any identifier (or customer id); the identity graph gives every identifier
and every earlier customer id merged into theirs, and the transaction log, event log and campaign
store are searched or erased under all of those keys in one transaction, with an audit entry that
records who, why and how many rows, never the identifiers themselves.
"""

from omnicore.privacy._erase import ErasureBatch, SubjectErasure, erase_subject, erase_subjects
from omnicore.privacy._export import SubjectExport, export_subject
from omnicore.privacy._subjects import LOGS, Subject, SubjectRef, find_subject, find_subjects

__all__ = [
    "LOGS",
    "ErasureBatch",
    "Subject",
    "SubjectErasure",
    "SubjectExport",
    "SubjectRef",
    "erase_subject",
    "erase_subjects",
    "export_subject",
    "find_subject",
    "find_subjects",
]
