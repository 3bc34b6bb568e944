"""The ``aaiti`` command: settings are read here, once, and passed down."""

from aaiti.cli.app import app, main

__all__ = ["app", "main"]
