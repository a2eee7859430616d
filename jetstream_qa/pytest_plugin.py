"""pytest plugin for jetstream-qa conformance suites (being written; placeholder)."""
