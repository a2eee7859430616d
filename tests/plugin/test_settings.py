"""Settings: one precedence (marker > CLI > env > ini > default) and errors naming the value
and its source, through a real inner pytest run."""

from __future__ import annotations

import pytest

from jetstream_qa.conformance_core.setting_values import HostPort, Secret, StorageRoot
from jetstream_qa.conformance_core.settings import resolve
from jetstream_qa.errors import ConfigurationError

INNER = ("-p", "no:cacheprovider", "-p", "no:locust")
"""Inner runs skip Locust's own pytest plugin (it imports gevent) and the cache."""

SHOW_TIMEOUT = """
import pytest

def test_show(js_session_settings, js_settings):
    print("SESSION", js_session_settings.timeout, js_session_settings.sources.get("timeout"))
    print("CASE", js_settings.timeout, js_settings.sources.get("timeout"))

@pytest.mark.js_settings(timeout="2.5")
def test_marker(js_settings):
    print("MARKED", js_settings.timeout, js_settings.sources.get("timeout"))
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_show=SHOW_TIMEOUT)
    return pytester.runpytest("-s", *INNER, *args)


@pytest.mark.parametrize(("ini", "env", "cli", "expected", "source"), [
    (None, None, None, "10.0", "None"),
    ("5", None, None, "5.0", "ini js_timeout"),
    ("5", "7", None, "7.0", "JETSTREAM_TIMEOUT"),
    ("5", "7", "9", "9.0", "--js-timeout"),
])
def test_precedence(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                    ini: str | None, env: str | None, cli: str | None, expected: str,
                    source: str) -> None:
    if ini:
        pytester.makeini(f"[pytest]\njs_timeout = {ini}\n")
    if env:
        monkeypatch.setenv("JETSTREAM_TIMEOUT", env)
    else:
        monkeypatch.delenv("JETSTREAM_TIMEOUT", raising=False)
    result = _run(pytester, *([f"--js-timeout={cli}"] if cli else []))
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"*SESSION {expected} {source}", f"*CASE {expected} {source}",
                                 "*MARKED 2.5 marker js_settings on *test_marker"])


@pytest.mark.parametrize(("where", "fragment"), [
    ("cli", "invalid --js-timeout 'abc' from --js-timeout"),
    ("env", "invalid --js-timeout 'abc' from JETSTREAM_TIMEOUT"),
    ("ini", "invalid --js-timeout 'abc' from ini js_timeout"),
])
def test_bad_value_names_value_and_source(pytester: pytest.Pytester,
                                          monkeypatch: pytest.MonkeyPatch, where: str,
                                          fragment: str) -> None:
    monkeypatch.delenv("JETSTREAM_TIMEOUT", raising=False)
    args: list[str] = []
    if where == "cli":
        args.append("--js-timeout=abc")
    elif where == "env":
        monkeypatch.setenv("JETSTREAM_TIMEOUT", "abc")
    else:
        pytester.makeini("[pytest]\njs_timeout = abc\n")
    result = _run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{fragment}*"])


def test_bad_marker_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        @pytest.mark.js_settings(timeout="-1")
        def test_x(js_settings):
            pass
    """)
    result = pytester.runpytest(*INNER)
    result.stdout.fnmatch_lines(["*invalid --js-timeout '-1' from marker js_settings on*"])
    assert result.ret != 0


def test_resolve_model() -> None:
    settings = resolve({"sender": "staging.example:9000", "case_globs": ["a/*", "b/*,c/*"]},
                       {"JETSTREAM_API_PASSWORD": "pw-1", "JETSTREAM_RECEIVER": "[::1]"},
                       {"js_profile": "full", "js_sender_root": "/mnt/a=/data"})
    assert settings.sender == HostPort("staging.example", 9000)
    assert settings.receiver == HostPort("::1", 8886)
    assert settings.case_globs == ("a/*", "b/*", "c/*")
    assert settings.profile == "full" and settings.sources["profile"] == "ini js_profile"
    assert settings.sender_root == StorageRoot.parse("/mnt/a=/data")
    assert isinstance(settings.password, Secret) and settings.password.reveal() == "pw-1"
    assert "pw-1" not in repr(settings) and "pw-1" not in str(settings.describe())
    assert not settings.embedded


def test_password_never_from_a_flag_or_ini() -> None:
    with pytest.raises(ConfigurationError, match="invalid --js-client 'nope' from ini"):
        resolve({}, {}, {"js_client": "nope"})
    settings = resolve({}, {}, {"js_password": "x"})
    assert settings.password is None and settings.embedded
