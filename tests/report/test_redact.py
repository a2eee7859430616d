"""Secret redaction: by key, and by value wherever a secret is echoed."""

from __future__ import annotations

from jetstream_qa.report.redact import REDACTED, is_secret_key, redact


def test_secret_keys() -> None:
    for key in ("password", "tokenPassword", "api_key", "apiKey", "secret", "clientSecret",
                "token", "Authorization", "superuser_password", "passphrase"):
        assert is_secret_key(key), key
    for key in ("PASS", "passed", "tokenCount", "passwordRequired", "hasApiTokens", "counts",
                "serverId", "user", "auth/password/3", "api getToken"):
        assert not is_secret_key(key), key


def test_values_of_secret_keys_are_replaced_and_scrubbed_elsewhere() -> None:
    doc = {
        "settings": {"user": "qa", "password": "s3cr3t-pw", "nested": [{"token": "tok-123456"}]},
        "cases": [{"actual": "login as qa with s3cr3t-pw failed; token tok-123456 expired"}],
        "counts": {"PASS": 3},
    }
    out = redact(doc)
    assert out["settings"]["password"] == REDACTED
    assert out["settings"]["nested"][0]["token"] == REDACTED
    assert "s3cr3t-pw" not in str(out) and "tok-123456" not in str(out)
    assert out["counts"] == {"PASS": 3}
    assert out["settings"]["user"] == "qa"
    assert doc["settings"]["password"] == "s3cr3t-pw"  # input untouched


def test_extra_secrets_are_scrubbed_from_keys_and_values() -> None:
    out = redact({"log": ["env JETSTREAM_API_PASSWORD=hunter2hunter2"],
                  "hunter2hunter2": 1}, secrets=["hunter2hunter2", None, ""])
    assert "hunter2hunter2" not in str(out)


def test_case_ids_as_keys_are_data() -> None:
    verdicts = {"auth/password/29": "PASS", "auth/token-rights/7": "FAIL", "x/1": "PASS"}
    assert redact({"verdicts": verdicts}) == {"verdicts": verdicts}


def test_short_values_under_secret_keys_do_not_erase_words() -> None:
    out = redact({"token": "none", "note": "none of these"})
    assert out == {"token": REDACTED, "note": "none of these"}


def test_empty_secret_values_are_left_alone() -> None:
    assert redact({"password": ""}) == {"password": ""}
    assert redact({"password": None}) == {"password": None}
