"""Backend tests: the shared conformance suite (``conformance.py``) and one ``test_<backend>.py`` per backend."""
