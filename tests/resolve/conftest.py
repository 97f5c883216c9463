"""Fixtures shared by the resolver tests: the workspace store and a finished train job."""

from __future__ import annotations

import pytest

from skillrun import settings
from skillrun.contracts.job import JobRecord
from skillrun.record.store import JobStore
from tests.resolve.test_parents import make_job, write_checkpoints


@pytest.fixture
def store() -> JobStore:
    """The workspace the API uses (``$SKILLRUN_HOME``, a fresh tmp dir per test)."""
    return JobStore(settings.workspace())


@pytest.fixture
def trained(store: JobStore) -> JobRecord:
    """A COMPLETE train job, epochs 0-3 checkpointed; val_mAP is best at epoch 1."""
    record = make_job(store)
    write_checkpoints(record, [0.2, 0.7, 0.4, 0.5])
    return record
