"""Reports against a real server: pytest-html (self-contained, environment, matrix,
evidence), JUnit and JSON, and no password anywhere in them; the vendor path through the strict
stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

INNER = ("-p", "no:cacheprovider", "-p", "no:locust")
VENDOR_STANDIN = Path(__file__).resolve().parents[1] / "vendor_standin"

CASES = '''
import pytest
from jetstream_qa import expect

@pytest.mark.js_case("secrets/evidence/failing-case", source="vendor/page.html")
def test_fail(js_connect, js_target):
    """A failing case whose evidence lists the calls, including a login."""
    api = js_connect("sender", login=None)
    api.server.auth(js_target.user.user, js_target.user.password.reveal())
    info = api.server.getServerInfo()
    print("settings shown:", js_target)
    expect.equal("deliberately wrong expectation", "no-such-version", info["version"], api=api)

@pytest.mark.js_case("secrets/own-server/not-ours", source="vendor/page.html")
def test_own(js_own_server):
    """Needs a server the suite controls."""

@pytest.mark.js_case("secrets/matrix/point", source="vendor/page.html")
@pytest.mark.js_matrix(flags=3, overwrite=4, cipher=0, symlink=1, preState="absent")
def test_matrix(js_sender):
    """A matrix point that holds."""
    js_sender.send.getManifests()
'''


@pytest.fixture
def target_env(ref_pair, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Point inner runs at the session pair; passwords only through the environment."""
    monkeypatch.setenv("JETSTREAM_API_PASSWORD", ref_pair.user.password)
    monkeypatch.setenv("JETSTREAM_API_PASSWORD2", ref_pair.other_user.password)
    monkeypatch.setenv("JETSTREAM_API_SUPERUSER_PASSWORD", ref_pair.superuser.password)
    return [f"--js-sender=127.0.0.1:{ref_pair.sender.api_port}",
            f"--js-receiver=127.0.0.1:{ref_pair.receiver.api_port}",
            f"--js-user={ref_pair.user.name}", f"--js-user2={ref_pair.other_user.name}",
            f"--js-superuser={ref_pair.superuser.name}"]


def test_reports_carry_evidence_and_no_password(pytester: pytest.Pytester, ref_pair,
                                                target_env: list[str]) -> None:
    pytester.makepyfile(test_cases=CASES)
    result = pytester.runpytest(*INNER, *target_env, "-rA", "-s", "--showlocals",
                                "--html=out/report.html", "--junitxml=out/junit.xml")
    assert result.ret == 1
    passwords = [u.password for u in ref_pair.users]
    html = (pytester.path / "out" / "report.html").read_text()
    junit = (pytester.path / "out" / "junit.xml").read_text()
    report = (pytester.path / "reports" / "conformance.json").read_text()
    for name, text in (("html", html), ("junit", junit), ("json", report),
                       ("terminal", result.stdout.str() + result.stderr.str())):
        for password in passwords:
            assert password not in text, f"a password leaked into the {name} output"
    doc = json.loads(report)
    failing = next(c for c in doc["cases"] if c["id"] == "secrets/evidence/failing-case")
    assert failing["verdict"] == "FAIL"
    verdicts = {c["id"]: c["verdict"] for c in doc["cases"]}
    assert verdicts["secrets/own-server/not-ours"] == "NOT_APPLICABLE"
    assert verdicts["secrets/matrix/point"] == "PASS"
    assert any(call.startswith("auth(") and "'***'" in call for call in failing["calls"])
    assert doc["environment"]["serverVersion"] == "2.9.2-ref"
    assert doc["environment"]["clientKind"] == "bundled"
    assert not (pytester.path / "out" / "assets").exists(), "report must be self-contained"
    assert "JetStream Server version" in html and "2.9.2-ref" in html
    assert "Conformance matrix" in html and "deliberately wrong expectation" in html
    assert '<property name="verdict" value="FAIL"' in junit


def test_vendor_standin_client_is_used(pytester: pytest.Pytester,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """``--js-client vendor`` drives the strict stand-in (``tests/vendor_standin``, on
    PYTHONPATH) through its own package, names the package picked, and the environment table
    says so; no target given, so the embedded pair starts."""
    pytester.makepyfile(test_vendor='''
        import pytest
        from jetstream_qa import expect

        @pytest.mark.js_case("vendor/handshake/works", source="examples.html")
        def test_works(js_sender, js_client):
            """The vendor client connects, authenticates and calls through."""
            assert type(js_sender.__jsqa_wrapped__).__module__ == "jetstream.api"
            assert js_client.origin.startswith("jetstream 2.9.2+standin at ")
            info = js_sender.server.getServerInfo()
            expect.equal("apiVersion", 40, info["apiVersion"], api=js_sender)
            assert any(line.startswith("getServerInfo(") for line in js_sender.call_log.lines())

        @pytest.mark.js_case("vendor/handshake/no-version-knob", source="examples.html")
        def test_mismatch(js_client, js_not_applicable):
            """The vendor api() takes no api_version."""
            if not js_client.accepts("api_version"):
                js_not_applicable("vendor client has no api_version")
    ''')
    monkeypatch.setenv("PYTHONPATH", str(VENDOR_STANDIN))
    result = pytester.runpytest_subprocess(*INNER, "--js-client=vendor", "--html=r.html",
                                           timeout=180)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*client vendor (jetstream 2.9.2+standin at *)*"])
    doc = json.loads((pytester.path / "reports" / "conformance.json").read_text())
    assert doc["environment"]["clientKind"] == "vendor"
    assert doc["environment"]["clientPackage"].startswith("jetstream 2.9.2+standin at ")
    assert {c["id"]: c["verdict"] for c in doc["cases"]} == {
        "vendor/handshake/works": "PASS", "vendor/handshake/no-version-knob": "NOT_APPLICABLE"}
    html = (pytester.path / "r.html").read_text()
    assert "<th>Client kind</th><td>vendor</td>" in html  # our environment table
    assert "JetStream Client kind&#34;: &#34;vendor" in html  # pytest-html's Environment


def test_auto_ignores_a_jetstream_package_that_is_not_the_vendors(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The index holds an unrelated ``jetstream`` (a CloudFormation tool): ``auto`` falls
    back to the bundled client, ``vendor`` refuses it naming the package found."""
    impostor = pytester.path / "impostor" / "jetstream"
    impostor.mkdir(parents=True)
    (impostor / "__init__.py").write_text('"""CloudFormation templates."""\n')
    pytester.makepyfile(test_x='''
        import pytest
        @pytest.mark.js_case("vendor/auto/x", source="x")
        def test_x(js_client):
            """the client is the bundled one"""
            assert js_client.kind.value == "bundled"
    ''')
    monkeypatch.setenv("PYTHONPATH", str(impostor.parent))
    auto = pytester.runpytest_subprocess(*INNER, "--js-client=auto", "--js-sender=127.0.0.1:9",
                                         timeout=120)
    assert auto.ret == 0, auto.stdout.str()
    vendor = pytester.runpytest_subprocess(*INNER, "--js-client=vendor",
                                           "--js-sender=127.0.0.1:9", timeout=120)
    assert vendor.ret != 0
    assert "not the JetStream vendor package" in vendor.stdout.str() + vendor.stderr.str()


def test_vendor_requested_but_missing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x='''
        import pytest
        @pytest.mark.js_case("vendor/missing/x", source="x")
        def test_x(js_sender):
            """needs a client"""
    ''')
    result = pytester.runpytest(*INNER, "--js-client=vendor", "--js-sender=127.0.0.1:1")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*'jetstream' is not importable*"])
