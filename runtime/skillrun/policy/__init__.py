"""Policies applied to a validated spec before launch (AutoML on/off)."""
