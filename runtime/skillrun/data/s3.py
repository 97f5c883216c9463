"""S3 access for data sources and result uploads, through boto3 (imported only when used).

Credentials come from the environment only: boto3's own chain (``AWS_*``
variables first, then ``AWS_PROFILE``/shared files, then an instance role);
skillrun never takes them from a spec or an option and never writes them. The
endpoint is boto3's too (``AWS_ENDPOINT_URL_S3``, then ``AWS_ENDPOINT_URL``).
With a custom endpoint the client uses path-style addressing, and checksums are
only sent or checked when an operation requires them, so MinIO, Ceph and other
S3-compatible servers accept the requests (PITFALLS §6). Every boto3 failure
becomes a SkillrunError that names the URI and says what to check.
"""

from __future__ import annotations

import os
import posixpath
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from skillrun.errors import SkillrunError, UsageError

if TYPE_CHECKING:
    from collections.abc import Iterable

SCHEME = "s3://"
ENDPOINT_VARS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
_CRED_HINT = (
    "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the shell that runs skillrun; "
    "credentials are read from the environment only and never written to the job folder"
)
_MISSING = {"404", "NoSuchKey", "NotFound"}
_DENIED = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AllAccessDisabled"}


def is_s3(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SCHEME)


@dataclass(frozen=True)
class S3Uri:
    """``s3://bucket/key``; ``key`` may be empty (the bucket) or end with ``/`` (a prefix)."""

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    @property
    def name(self) -> str:
        return posixpath.basename(self.key.rstrip("/"))

    def child(self, rel: str) -> S3Uri:
        base = self.key.rstrip("/")
        return S3Uri(self.bucket, f"{base}/{rel}" if base else rel)


def parse(uri: str, *, what: str = "S3 URI") -> S3Uri:
    """Parse ``s3://bucket/key``; a malformed URI is a UsageError naming it."""
    if not is_s3(uri):
        msg = f"{what} {uri!r} is not an s3:// URI"
        raise UsageError(msg, hint="write it as s3://bucket/prefix")
    bucket, _, key = uri[len(SCHEME) :].partition("/")
    if not bucket or not all(c.isalnum() or c in "-._" for c in bucket) or "//" in key:
        msg = f"{what} {uri!r}: bad bucket name or empty path segment"
        raise UsageError(msg, hint="write it as s3://bucket/prefix (bucket: letters, digits, '-', '.', '_'; no '//')")
    return S3Uri(bucket, key)


def endpoint() -> str | None:
    """The custom endpoint boto3 will use, if any (for messages and addressing style)."""
    return next((os.environ[v] for v in ENDPOINT_VARS if os.environ.get(v)), None)


def client(uri: S3Uri | str | None = None) -> Any:
    """A boto3 S3 client configured for AWS and S3-compatible servers; errors (naming ``uri``) if boto3 or credentials are missing."""
    needed = f" (needed for {uri})" if uri else ""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        msg = f"s3:// data sources and --upload need boto3, which is not installed{needed}"
        raise UsageError(msg, hint="pip install 'skillrun[s3]'") from None
    session = boto3.session.Session()
    if session.get_credentials() is None:
        msg = f"no AWS credentials found in the environment{needed}"
        raise UsageError(msg, hint=_CRED_HINT)
    config = Config(
        s3={"addressing_style": "path" if endpoint() else "auto"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=10,
        read_timeout=120,
    )
    return session.client("s3", config=config)


def explain(exc: BaseException, uri: S3Uri | str, verb: str, s3: Any = None) -> SkillrunError:
    """A boto3/botocore failure as a SkillrunError naming ``uri``, with a hint; never a traceback."""
    from botocore import exceptions as bx

    where = endpoint() or "AWS S3"
    if isinstance(exc, SkillrunError):
        return exc
    inner = exc.__cause__ or exc.__context__  # boto3's S3UploadFailedError wraps the ClientError that says why
    if type(exc).__name__ == "S3UploadFailedError" and isinstance(inner, bx.ClientError):
        return explain(inner, uri, verb, s3)
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return UsageError(f"cannot {verb} {uri}: no usable AWS credentials in the environment", hint=_CRED_HINT, data={"uri": str(uri)})
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError)):
        return SkillrunError(f"cannot {verb} {uri}: the S3 endpoint {where} did not answer ({exc})", hint="check the network and AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL", data={"uri": str(uri)})
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "")) or str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        data = {"uri": str(uri), "code": code}
        if code == "NoSuchBucket":
            bucket = parse(str(uri)).bucket
            return UsageError(f"cannot {verb} {uri}: bucket {bucket!r} does not exist at {where}", hint="check the bucket name, and AWS_ENDPOINT_URL_S3 for an S3-compatible server", data=data)
        if code in _MISSING:
            hint = _neighbours(uri, s3)
            what = f"bucket {parse(str(uri)).bucket!r} does not exist at {where}" if hint is None else "no such object"
            return UsageError(f"cannot {verb} {uri}: {what}", hint=hint or "check the bucket name, and AWS_ENDPOINT_URL_S3 for an S3-compatible server", data=data)
        if code in _DENIED:
            return UsageError(f"cannot {verb} {uri}: access denied ({code})", hint="check the credentials in the environment and the bucket's policy", data=data)
        return SkillrunError(f"cannot {verb} {uri}: {code}: {err.get('Message', exc)}", hint=f"S3 endpoint: {where}", data=data)
    if isinstance(exc, bx.BotoCoreError):
        return SkillrunError(f"cannot {verb} {uri}: {exc}", hint=f"S3 endpoint: {where}", data={"uri": str(uri)})
    if isinstance(exc, OSError):
        return SkillrunError(f"cannot {verb} {uri}: {exc.strerror or exc}", hint="check free disk space and permissions of the job folder", data={"uri": str(uri)})
    return SkillrunError(f"cannot {verb} {uri}: {type(exc).__name__}: {exc}", data={"uri": str(uri)})


def _neighbours(uri: S3Uri | str, s3: Any) -> str | None:
    """What is next to a missing key, so a typo is easy to spot; None when the bucket itself is missing."""
    loc = parse(str(uri))
    parent = posixpath.dirname(loc.key.rstrip("/"))
    prefix = f"{parent}/" if parent else ""
    base = f"s3://{loc.bucket}/{prefix}"
    if s3 is None:
        return f"check the key under {base}"
    try:
        page = s3.list_objects_v2(Bucket=loc.bucket, Prefix=prefix, Delimiter="/", MaxKeys=12)
    except Exception as exc:  # the hint is best effort; the error itself is already clear
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        return None if code == "NoSuchBucket" else f"check the key under {base}"
    names = [p["Prefix"][len(prefix) :] for p in page.get("CommonPrefixes", [])] + [o["Key"][len(prefix) :] for o in page.get("Contents", [])]
    return f"{base} holds: {', '.join(sorted(names)[:12]) or 'nothing'}"


def _call(uri: S3Uri, verb: str, s3: Any, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:
        raise explain(exc, uri, verb, s3) from None


def download_file(s3: Any, uri: S3Uri, dest: Path) -> int:
    """Download one object to ``dest`` (via a temp name, so ``dest`` is complete or absent); returns bytes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        _call(uri, "download", s3, lambda: s3.download_file(uri.bucket, uri.key, str(tmp)))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest.stat().st_size


def list_prefix(s3: Any, uri: S3Uri) -> list[tuple[str, int]]:
    """``(key, size)`` of every object under the prefix ``uri`` (folder markers left out)."""
    prefix = uri.key.rstrip("/") + "/" if uri.key else ""

    def run() -> list[tuple[str, int]]:
        out = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=prefix):
            out += [(o["Key"], int(o["Size"])) for o in page.get("Contents", []) if not o["Key"].endswith("/")]
        return out

    return _call(uri, "list", s3, run)


def download_prefix(s3: Any, uri: S3Uri, dest: Path, *, workers: int = 8) -> tuple[int, int]:
    """Download every object under ``uri`` into the new folder ``dest``; returns (files, bytes).

    Keys are checked like archive members: one that would land outside ``dest``
    (``..``, an absolute path) refuses the whole prefix before anything is written.
    """
    from skillrun.data.archive import UnsafeArchive, check_name

    objects = list_prefix(s3, uri)
    if not objects:
        msg = f"cannot download {uri}: no objects under this prefix"
        raise UsageError(msg, hint=_neighbours(uri, s3) or "check the prefix", data={"uri": str(uri)})
    prefix = uri.key.rstrip("/") + "/" if uri.key else ""
    plan = []
    for key, size in objects:
        try:
            rel = check_name(str(uri), key[len(prefix) :])
        except UnsafeArchive as exc:
            msg = f"{uri}: refusing to download key {key!r}: it would land outside {dest}"
            raise UsageError(msg, hint="rename the object; keys under a source prefix must be plain relative paths", data={"uri": str(uri), "key": key}) from exc
        plan.append((S3Uri(uri.bucket, key), rel, size))
    tmp = dest.with_name(f".{dest.name}.partial")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda item: download_file(s3, item[0], tmp / item[1]), plan))
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return len(plan), sum(size for _, _, size in plan)


def head_bucket(s3: Any, uri: S3Uri) -> None:
    """Fail early on a missing bucket or unreachable endpoint; a 403 is let through (put may still be allowed)."""
    try:
        s3.head_bucket(Bucket=uri.bucket)
    except Exception as exc:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError) and str(exc.response.get("Error", {}).get("Code")) in ("403", "AccessDenied"):
            return
        if isinstance(exc, ClientError) and str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchBucket"):
            msg = f"cannot upload to {uri}: bucket {uri.bucket!r} does not exist at {endpoint() or 'AWS S3'}"
            raise UsageError(msg, hint="create the bucket first, or fix the name in --upload", data={"uri": str(uri)}) from None
        raise explain(exc, uri, "upload to", s3) from None


def upload_files(s3: Any, files: Iterable[tuple[Path, str]], base: S3Uri, *, workers: int = 4) -> list[str]:
    """Upload ``(local file, relative key)`` pairs under ``base``; returns the keys written."""
    items = [(path, base.child(rel)) for path, rel in files]

    def one(item: tuple[Path, S3Uri]) -> str:
        path, target = item
        _call(target, "upload to", s3, lambda: s3.upload_file(str(path), target.bucket, target.key))
        return target.key

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, items))
