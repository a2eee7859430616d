"""jetstream-qa: conformance and load testing for JetStream file-transfer servers."""

__all__ = ["__version__"]

__version__ = "0.1.0"
