"""Job records on disk: the store (atomic writes, per-job locks) and secret redaction."""
