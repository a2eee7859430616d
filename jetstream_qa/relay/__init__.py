"""UDP impairment relay: a sans-IO decision core (`model`) and a socket shell (`forwarder`)."""

from jetstream_qa.relay.forwarder import Relay, RelaySettings, format_hostport, parse_hostport
from jetstream_qa.relay.model import Decision, DirectionStats, Impairment, ImpairmentModel

__all__ = [
    "Decision",
    "DirectionStats",
    "Impairment",
    "ImpairmentModel",
    "Relay",
    "RelaySettings",
    "format_hostport",
    "parse_hostport",
]
