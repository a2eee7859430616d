"""Which conformance cases must catch each fault of the reference server, and how.

The tests own these expectations (the server only owns the defects,
``jetstream_qa/refserver/faults.py``). For every fault, :data:`FAULT_CATCHERS` names the case
ids (globs allowed) that must report the verdict when the server under test runs with that
fault: FAIL for a broken MUST, NON_STRICT for a broken SHOULD. ``test_mutation.py`` runs
exactly those cases (quick profile) against a faulty pair and against a clean pair.

Rules:

- each entry of ``cases`` must be satisfied on its own: at least one case matching it has the
  expected verdict with the fault on, and every case matching it is PASS on the clean pair;
- ids are exact where one case suffices; a glob only where several cases equally catch it;
- ``options`` are extra ``--js-*`` options of that fault's run only (e.g. a short timeout
  so a server that never answers costs seconds, not the 10 s default, per connection);
- :data:`KNOWN_GAPS` lists faults the suites do not catch yet, with the case that is
  missing; their tests are strict xfails, so adding the case turns them into failures that
  ask for the gap to be removed here. Never weaken a fault to get it caught.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAULT_CATCHERS", "KNOWN_GAPS", "VERDICTS", "Catcher"]

VERDICTS = ("FAIL", "NON_STRICT")


@dataclass(frozen=True, slots=True)
class Catcher:
    """The cases that must catch one fault, the verdict they must give, extra options."""

    cases: tuple[str, ...]
    verdict: str = "FAIL"
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.cases:
            raise ValueError("a catcher names at least one case id")
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {self.verdict!r}")
        for case in self.cases:
            if "/" not in case or case != case.strip():
                raise ValueError(f"not a case id or glob: {case!r}")


_M = "flags/matrix/"
"""Matrix ids read FLAGS-OVERWRITE-CIPHER-SYMLINK-PRESTATE (``matrix.planning``)."""

FAULT_CATCHERS: dict[str, Catcher] = {
    # handshake
    "wrong-api-version": Catcher(("handshake/api-version/equals-expected",)),
    "hang-before-hello": Catcher(("handshake/hello/answered-within-connect-timeout",),
                                 options=("--js-timeout", "3")),
    "server-info-missing-fields": Catcher(("handshake/server-info/identity-fields-typed",)),
    # timeouts
    "request-status-blocks": Catcher(("timeouts/request-status/never-blocks",)),
    "no-handshake-deadline": Catcher(("timeouts/idle/server-drops-silent-client",),
                                     verdict="NON_STRICT"),
    # auth and ownership
    "accept-any-password": Catcher(("auth/password/wrong-password-refused",)),
    "no-auth-required": Catcher(("auth/session/unauthenticated-calls-refused",)),
    "leak-transfers": Catcher(("auth/ownership/transfers-hidden-from-other-users",)),
    "leak-manifests": Catcher(("auth/ownership/manifests-hidden-from-other-users",)),
    "superuser-for-all": Catcher(("auth/superuser/ordinary-user-refused",)),
    "token-never-expires": Catcher(("auth/tokens/expired-token-refused",),
                                   verdict="NON_STRICT"),  # docs bound: "within two hours"
    "leak-password": Catcher(("auth/secrets/password-never-returned",)),
    # manifests
    "manifest-wrong-size": Catcher(("manifests/file-mapping/metadata",)),
    "manifest-no-exec-bit": Catcher(("manifests/file-mapping/metadata",)),
    "manifest-skip-empty-dirs": Catcher(("manifests/empty-dir/listed-as-empty-dir",)),
    "manifest-missing-ok": Catcher(("manifests/missing-source/ends-in-error",)),
    "pending-manifest-usable": Catcher(("manifests/pending/create-transfer-refused",)),
    # flags and storage (the flag matrix, judged by the oracle)
    "ignore-flag-read": Catcher((f"{_M}write-always-none-ignore-absent",)),
    "ignore-flag-write": Catcher((f"{_M}read-always-none-follow-absent",)),
    "ignore-write-mtime": Catcher(
        (f"{_M}read_write+write_mtime-always-encrypted_256-follow-absent",)),
    "mtime-off-by-one": Catcher(
        (f"{_M}read_write+write_mtime-always-encrypted_256-follow-absent",)),
    "only-newer-inverted": Catcher(
        (f"{_M}read_write+write_only_newer-always-encrypted_128-follow-same_size_older",
         f"{_M}read_write+write_only_newer-always-encrypted_128-follow-same_size_newer")),
    "same-size-overwrites-any": Catcher(
        (f"{_M}read_write-in_place_same_size-none-follow-other_size_older",)),
    "never-overwrites": Catcher((f"{_M}read_write-never-unencrypted-follow-same_size_older",)),
    "no-partfile": Catcher((f"{_M}read_write-never-unencrypted-follow-same_size_older",)),
    "no-jetbak": Catcher((f"{_M}read_write-versioned-encrypted_256-ignore-same_size_older",)),
    "follow-symlinks-under-ignore": Catcher(
        ("manifests/symlink/ignore-leaves-links-out",
         f"{_M}read_write-versioned-encrypted_256-ignore-absent")),
    # the server's own decision code (engine/decide.py, finish.py, storage.py; manifests.py)
    "none-flag-writes": Catcher((f"{_M}none-always-encrypted_128-follow-absent",)),
    "only-newer-without-flag": Catcher(
        (f"{_M}read_write-always-encrypted_128-follow-same_size_newer",)),
    "only-newer-ignored-in-place": Catcher(
        (f"{_M}read_write+write_only_newer-in_place_same_size-none-follow-same_size_newer",)),
    "mtime-set-before-data": Catcher(
        (f"{_M}read_write+write_mtime-always-encrypted_256-follow-absent",)),
    "same-size-refuses-empty": Catcher((f"{_M}read_write-in_place_same_size-none-follow-empty",)),
    "never-writes-in-place": Catcher(
        (f"{_M}read_write-never-unencrypted-follow-same_size_older",)),
    "always-keeps-original": Catcher(
        (f"{_M}read_write-always-encrypted_128-follow-same_size_older",)),
    "versioned-backup-is-new": Catcher(
        (f"{_M}read_write-versioned-encrypted_256-ignore-same_size_older",)),
    "follow-uses-lstat": Catcher(("manifests/symlink/follow-copies-target",
                                  f"{_M}read_write-always-encrypted_128-follow-absent")),
    "write-outside-root": Catcher(("transfers/paths/dotdot-destination-path-refused",
                                   "transfers/paths/absolute-escape-refused")),
    # transfers
    "counters-lie": Catcher(("transfers/counters/blocks-acked-never-exceeds-blocks-sent",)),
    "retransmits-not-counted": Catcher(
        ("transfers/counters/blocks-retransmitted-rise-under-loss",)),
    "ignore-priority": Catcher(("transfers/priority/lower-value-goes-first",),
                               verdict="NON_STRICT"),
    "corrupt-block": Catcher(("transfers/files/content-byte-identical",)),
    "executable-bit-dropped": Catcher(("transfers/files/executable-bit-preserved",)),
    "zero-byte-not-created": Catcher(("transfers/files/zero-byte-file-arrives",)),
    "empty-dir-not-created": Catcher(("transfers/files/empty-directory-arrives",)),
    "exit-on-create-transfer": Catcher(("transfers/files/content-byte-identical",)),
    # packets
    "plaintext-when-encrypted": Catcher(("packets/plaintext/never-on-wire-at-encrypted_128",
                                         "packets/plaintext/never-on-wire-at-encrypted_256")),
    "accept-forged": Catcher(("packets/tamper/forged-rejected-at-encrypted_128",
                              "packets/tamper/bit-flipped-rejected-at-unencrypted")),
    "cipher-ignores-transfer-min": Catcher(("packets/plaintext/never-on-wire-at-encrypted_128",)),
    "unencrypted-means-none": Catcher(("packets/tamper/bit-flipped-rejected-at-unencrypted",)),
    # robustness
    "crash-on-malformed-frame": Catcher(
        ("robustness/control-frames/malformed-frame-refused-server-keeps-serving",)),
}

KNOWN_GAPS: dict[str, str] = {}
"""Fault -> the case the suites lack (see the module docstring); empty when all are caught."""
