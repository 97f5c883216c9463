"""Tests of the job store and secret redaction."""
