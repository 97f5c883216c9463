"""Which values are secret, and how they are kept out of records, spec files and logs.

Secrets reach a job only through its environment: variables named ``*_TOKEN``,
``*_KEY``, ``*_KEY_ID``, ``*_SECRET`` or ``*_PASSWORD``, and the value of the ``key``
spec param (passed as ``$SKILLRUN_KEY``). Their values are masked wherever they
appear in what is written to disk (:class:`Redactor`). ``AWS_*`` variables are
never recorded either, but only credential values are masked in text: masking
``AWS_REGION=us-east-1`` or ``AWS_EC2_METADATA_DISABLED=true`` would blank every
``true`` and region name in the logs.
"""

from __future__ import annotations

import fnmatch
import os
from typing import Any, Mapping

#: env var the ``key`` resolver hands the encryption key to the job through
KEY_ENV = "SKILLRUN_KEY"
#: what a key-resolved spec field holds on disk; the engine swaps in $SKILLRUN_KEY
KEY_PLACEHOLDER = "${SKILLRUN_KEY}"
MASK = "***"
#: variables whose values are masked wherever they appear
SECRET_VALUE_PATTERNS = ("*_TOKEN", "*_KEY", "*_KEY_ID", "*_SECRET", "*_PASSWORD", KEY_ENV)
#: variables never written down (their values may still be ordinary words)
SECRET_ENV_PATTERNS = (*SECRET_VALUE_PATTERNS, "AWS_*")
_MIN_LEN = 4  # shorter values would mask ordinary words in logs


def is_secret_name(name: str) -> bool:
    """True for an environment variable name whose value must never be written."""
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, p) for p in SECRET_ENV_PATTERNS)


def is_secret_value_name(name: str) -> bool:
    """True for a variable whose value is a credential, to be masked in any text."""
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, p) for p in SECRET_VALUE_PATTERNS)


def secret_values(env: Mapping[str, str] | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    """The values to mask, longest first so a secret containing another is masked whole."""
    env = os.environ if env is None else env
    vals = {v for k, v in env.items() if is_secret_value_name(k) and len(v) >= _MIN_LEN}
    vals.update(v for v in extra if v and len(v) >= _MIN_LEN)
    return sorted(vals, key=len, reverse=True)


class Redactor:
    """Masks every secret value in text, bytes and nested data."""

    def __init__(self, values: list[str] | None = None) -> None:
        self.values = secret_values() if values is None else values
        self._bvalues = [v.encode() for v in self.values]

    def text(self, s: str) -> str:
        for v in self.values:
            if v in s:
                s = s.replace(v, MASK)
        return s

    def bytes(self, b: bytes) -> bytes:
        for v in self._bvalues:
            if v in b:
                b = b.replace(v, MASK.encode())
        return b

    def data(self, obj: Any) -> Any:
        """A copy of nested dicts/lists with every string masked (keys included)."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {self.text(k) if isinstance(k, str) else k: self.data(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.data(v) for v in obj]
        return obj

    def env(self, env: Mapping[str, str]) -> dict[str, str]:
        """Only the variables that may be written down (secret names dropped, values masked)."""
        return {k: self.text(v) for k, v in env.items() if not is_secret_name(k)}
