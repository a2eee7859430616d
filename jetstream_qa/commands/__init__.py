"""Subcommands of the ``jetstream-qa`` console script (see :mod:`jetstream_qa.cli`)."""

__all__: list[str] = []
