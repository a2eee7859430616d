"""The fixtures of the pytest plugin (``js_target``, ``js_connect``, ``js_sender`` ...) and the
plugin's ``config.stash`` keys.

Registered by :mod:`jetstream_qa.pytest_plugin` (which keeps options and hooks, STYLE 7);
what the fixtures do lives in :mod:`.harness`, which never imports pytest. Under
pytest-xdist every worker runs its own session, so the session-scoped ``js_target`` of each
worker starts its own embedded pair (see :mod:`.concurrency`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jetstream_qa.binding import Binding, Operations, binding_for
from jetstream_qa.conformance_core import harness as impl
from jetstream_qa.conformance_core.cases import CaseSpec
from jetstream_qa.conformance_core.expectations import Expectations
from jetstream_qa.conformance_core.failures import NotApplicableCase
from jetstream_qa.conformance_core.session import CaseState, RunState
from jetstream_qa.conformance_core.settings import Settings
from jetstream_qa.conformance_core.summary import Environment
from jetstream_qa.errors import ConfigurationError

__all__ = ["CASE", "EXPECTATIONS", "RUN", "SETTINGS", "STATE"]

SETTINGS = pytest.StashKey[Settings]()
EXPECTATIONS = pytest.StashKey[Expectations | None]()
RUN = pytest.StashKey[RunState]()
CASE = pytest.StashKey[CaseSpec]()
STATE = pytest.StashKey[CaseState]()


# --- fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def js_session_settings(pytestconfig: pytest.Config) -> Settings:
    """The run's settings (CLI > env > ini > default), without per-case markers."""
    return pytestconfig.stash[SETTINGS]


@pytest.fixture
def js_settings(request: pytest.FixtureRequest, js_session_settings: Settings) -> Settings:
    """This case's settings: ``@pytest.mark.js_settings(timeout=2)`` on top of the run's."""
    marker = request.node.get_closest_marker("js_settings")
    if marker is None:
        return js_session_settings
    try:
        return js_session_settings.with_overrides(
            marker.kwargs, source=f"marker js_settings on {request.node.nodeid}")
    except ConfigurationError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture
def js_case_state(request: pytest.FixtureRequest) -> CaseState:
    """Per-case record: API objects (for evidence) and ``js_info`` observations."""
    state: CaseState = request.node.stash.setdefault(STATE, CaseState())
    return state


@pytest.fixture(scope="session")
def js_client(js_session_settings: Settings) -> impl.ClientChoice:
    """The client of the run (vendor ``jetstream`` or bundled) and its constants module."""
    return impl.client_choice(js_session_settings)


@pytest.fixture(scope="session")
def js_binding(js_client: impl.ClientChoice, js_session_settings: Settings) -> Binding:
    """The binding of the run's client: the bundled client's names, or the vendor package by
    introspection plus ``--js-binding FILE`` (docs/staging.md)."""
    return binding_for(js_client.kind.value, js_client.constants, js_session_settings.binding)


@pytest.fixture
def js_ops(js_binding: Binding) -> Callable[[Any], Operations]:
    """Factory: ``js_ops(api)`` -> :class:`~jetstream_qa.binding.Operations` over ``api``,
    the suites' only way to make calls (an unbound operation is NOT_APPLICABLE)."""
    return lambda api: Operations(js_binding, api)


@pytest.fixture(scope="session")
def js_constants(js_client: impl.ClientChoice) -> impl.ServerConstants:
    """Constants of the client in use (vendor package values when using the vendor)."""
    return impl.ServerConstants.from_module(js_client.constants)


@pytest.fixture(scope="session")
def js_target(pytestconfig: pytest.Config, js_session_settings: Settings,
              js_client: impl.ClientChoice, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[impl.Target]:
    """The servers under test: the given target, or the embedded pair (started once).

    Probed once before any case uses it (fingerprint and :class:`Contact`): whether the
    server had answered decides if a later stall or loss is its FAIL.
    """
    with impl.target_context(js_session_settings, tmp_path_factory) as target:
        run = pytestconfig.stash[RUN]
        run.environment, run.contact = impl.probe(target, js_client, js_session_settings)
        yield target


@pytest.fixture(scope="session")
def js_environment(pytestconfig: pytest.Config, js_target: impl.Target) -> Environment:
    """Fingerprint of the sender (``getServerInfo``), recorded for every report."""
    env = pytestconfig.stash[RUN].environment
    assert env is not None  # set by js_target
    return env


@pytest.fixture
def js_connect(request: pytest.FixtureRequest, js_target: impl.Target,
               js_client: impl.ClientChoice, js_settings: Settings,
               js_case_state: CaseState, js_environment: Environment
               ) -> Iterator[Callable[..., Any]]:
    """Factory: ``js_connect(side='sender', login='user', api_version=None, timeout=None,
    address=None, credentials=None)`` -> connected API object, closed after the case.
    ``login`` is 'user', 'user2', 'superuser' or None (no auth); ``credentials`` overrides
    it (e.g. ``own.user`` of ``js_own_server``); ``timeout='client-default'`` leaves the
    client's own default. Registered for failure evidence."""
    opened: list[Any] = []
    contact = request.config.stash[RUN].contact
    yield impl.connector(js_target, js_client, js_settings, js_case_state, opened,
                         contact=contact)
    impl.close_all(opened)


@pytest.fixture
def js_own_server(js_target: impl.Target) -> Iterator[Callable[..., Any]]:
    """Factory: ``js_own_server(extra_args=())`` starts a reference server owned by this case
    (restartable: ``.restart()``, ``.address``, ``.user``); NOT_APPLICABLE unless the suite
    controls the servers (no target given). Stopped after the case."""
    if not js_target.embedded:
        raise NotApplicableCase("the suite does not control the server under test "
                                "(a target was given)")
    from jetstream_qa.conformance_core.embedded_target import OwnServer
    started: list[OwnServer] = []

    def start(*, extra_args: tuple[str, ...] = ()) -> OwnServer:
        server = OwnServer(extra_args=extra_args)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def js_sender(js_connect: Callable[..., Any]) -> Any:
    """Connected, authenticated API object of the sending server (the main user)."""
    return js_connect("sender")


@pytest.fixture
def js_receiver(js_connect: Callable[..., Any]) -> Any:
    """Connected, authenticated API object of the receiving server (the main user)."""
    return js_connect("receiver")


@pytest.fixture
def js_sender_user2(js_connect: Callable[..., Any]) -> Any:
    """The sender as a second ordinary user (NOT_APPLICABLE when none is configured)."""
    return js_connect("sender", login="user2")


@pytest.fixture
def js_superuser(js_connect: Callable[..., Any]) -> Any:
    """The sender as a superuser, ``superuser()`` already called (NOT_APPLICABLE if none)."""
    api = js_connect("sender", login="superuser")
    api.server.superuser()
    return api


@pytest.fixture
def js_scratch(js_target: impl.Target, request: pytest.FixtureRequest
               ) -> Iterator[impl.Scratch]:
    """Per-case scratch: a source dir on the sender and a destination-relative path on the
    receiver; both removed after the case."""
    scratch = impl.make_scratch(js_target, request.node.nodeid)
    yield scratch
    scratch.cleanup()


@pytest.fixture
def js_fileset(js_scratch: impl.Scratch) -> Callable[..., Any]:
    """Factory: ``js_fileset('mixed')`` builds ``fixtures/filesets/mixed.json`` in the
    scratch source dir and returns a BuiltFileSet (sizes, hashes, manifest mappings)."""
    return impl.fileset_factory(js_scratch)


@pytest.fixture
def js_info(js_case_state: CaseState) -> Callable[[str], None]:
    """``js_info(observed)`` records behaviour the docs leave open; the verdict is INFO."""
    return js_case_state.observations.append


@pytest.fixture
def js_not_applicable() -> Callable[[str], None]:
    """``js_not_applicable(reason)`` ends the case with verdict NOT_APPLICABLE."""
    def not_applicable(reason: str) -> None:
        __tracebackhide__ = True
        pytest.skip(reason)
    return not_applicable
