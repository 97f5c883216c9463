"""Launching jobs: prepare (compose → resolve → validate → policy → launch command), submit, and the Job handle."""
