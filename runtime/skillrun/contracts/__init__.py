"""Pydantic models for every contract on disk; no I/O here."""
