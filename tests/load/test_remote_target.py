"""Targeting servers by Locust habits: ``--host jetstream://...``, ``--js-receiver``,
``--js-user`` and the password from JETSTREAM_API_PASSWORD (never on the command line)."""

from __future__ import annotations

from pathlib import Path

from load_helpers import load_report, locust_cmd, locust_env, run_bounded

from jetstream_qa.refserver.embedded import EmbeddedPair


def test_named_servers_with_password_from_the_environment(tmp_path: Path) -> None:
    with EmbeddedPair() as pair:
        env = locust_env()
        env["JETSTREAM_API_PASSWORD"] = pair.user.password
        proc = run_bounded(
            locust_cmd("--headless", "-u", "2", "-r", "2", "-t", "5s",
                       "--host", f"jetstream://127.0.0.1:{pair.sender.api_port}",
                       "--js-receiver", f"jetstream://127.0.0.1:{pair.receiver.api_port}",
                       "--js-user", pair.user.name, "--js-source-dir", str(tmp_path / "src"),
                       "--js-scale", "0.01", "--stop-timeout", "20", "--js-report", "load.json",
                       "SmallFilesUser"),
            cwd=tmp_path, env=env, timeout=90)
        received = sum(p.stat().st_size
                       for p in pair.receiver.storage_root.rglob("small-files-*.bin"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = load_report(tmp_path / "load.json")
    env_info = report["environment"]
    assert env_info["embedded"] is False
    assert env_info["sender"] == f"jetstream://127.0.0.1:{pair.sender.api_port}"
    assert env_info["data"] == f"127.0.0.1:{pair.receiver.recv_port}"  # from getServerInfo
    assert report["goodput"]["totalBytes"] == received > 0
    assert pair.user.password not in (tmp_path / "load.json").read_text()
    assert pair.user.password not in proc.stderr + proc.stdout
    assert not list((tmp_path / "src").iterdir())  # generated sources removed at the end


def test_wrong_password_fails_the_calls_and_the_run(tmp_path: Path) -> None:
    """Every call refused: the run completed no request, which fails it (exit 4, issue 10)
    whatever the thresholds say; the server answered, so it is not called silent."""
    with EmbeddedPair() as pair:
        env = locust_env()
        env["JETSTREAM_API_PASSWORD"] = "wrong"
        proc = run_bounded(
            locust_cmd("--headless", "-u", "1", "-r", "1", "-t", "3s",
                       "--host", f"127.0.0.1:{pair.sender.api_port}",
                       "--js-user", pair.user.name, "--js-report", "load.json",
                       "--js-check", "fail_ratio < 0.5", "ApiStormUser"),
            cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 4, proc.stderr[-3000:]
    assert "FAILED: the run completed no request" in proc.stderr
    assert "AuthenticationFailed" in proc.stderr
    assert "stopped answering" not in proc.stderr
    report = load_report(tmp_path / "load.json")
    assert report["latency"]["API connect"]["failures"] >= 1
    assert any(e["error"].startswith("AuthenticationFailed") for e in report["errors"])
    assert "fail_ratio < 0.5: FAILED" in proc.stderr
