"""Secret detection and masking."""

from __future__ import annotations

from skillrun.record.secrets import MASK, Redactor, is_secret_name, secret_values


def test_secret_names() -> None:
    for name in ("HF_TOKEN", "MY_API_KEY", "AWS_REGION", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "SKILLRUN_KEY", "ngc_api_key"):
        assert is_secret_name(name), name
    for name in ("PATH", "HOME", "SKILLRUN_HOME", "KEYBOARD", "TOKENIZERS_PARALLELISM"):
        assert not is_secret_name(name), name


def test_aws_settings_are_not_recorded_but_only_credentials_are_masked_in_text() -> None:
    env = {"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE1",
           "AWS_SECRET_ACCESS_KEY": "wJalrEXAMPLE", "AWS_SESSION_TOKEN": "FwoGEXAMPLE"}
    assert all(is_secret_name(k) for k in env)  # none of them is written into job.json
    assert sorted(secret_values(env)) == ["AKIAEXAMPLE1", "FwoGEXAMPLE", "wJalrEXAMPLE"]
    assert Redactor(secret_values(env)).text("ok: true in us-east-1 with AKIAEXAMPLE1") == f"ok: true in us-east-1 with {MASK}"


def test_values_come_from_secret_names_only_and_longest_first() -> None:
    env = {"HF_TOKEN": "abcd1234", "X_KEY": "abcd1234efgh", "HOME": "/root", "SHORT_KEY": "ab"}
    assert secret_values(env) == ["abcd1234efgh", "abcd1234"]


def test_redactor_masks_text_bytes_nested_data_and_env() -> None:
    r = Redactor(["s3cr3t-value", "k3y"])
    assert r.text("token=s3cr3t-value!") == f"token={MASK}!"
    assert r.bytes(b"k3y and s3cr3t-value") == f"{MASK} and {MASK}".encode()
    assert r.data({"a": ["x s3cr3t-value"], "s3cr3t-value": 1, "n": 3}) == {"a": [f"x {MASK}"], MASK: 1, "n": 3}
    assert r.env({"HF_TOKEN": "s3cr3t-value", "NOTE": "has s3cr3t-value", "PATH": "/bin"}) == {"NOTE": f"has {MASK}", "PATH": "/bin"}
