"""Sans-IO protocol code shared by the bundled client, the reference server and fuzz tests.

Nothing in this package opens a socket, reads a clock or starts a thread.
"""

__all__: list[str] = []
