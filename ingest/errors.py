"""What the ingest raises when it cannot produce a usable span."""

from __future__ import annotations


class IngestError(RuntimeError):
    """The ingest cannot produce a usable span."""


class BadRecordsError(IngestError):
    """Too many (or all, or no) log lines were quarantined; the message names the worst reasons."""


class AccountingError(IngestError):
    """Lines were read that are neither an example nor a quarantined record on disk (lost on the way)."""
