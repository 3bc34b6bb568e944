"""Keep secrets out of third-party logs: a filter that rewrites records that contain one.

Logging filters apply per logger (not to its children), so callers name the loggers their
library writes with. One filter per logger, its set of secrets growing: calling again adds
secrets instead of stacking filters.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable


class SecretRedactor(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(x in message for x in self.secrets):
            for x in self.secrets:
                message = message.replace(x, "***")
            record.msg, record.args = message, ()
        return True


def redact_in_logs(secrets: Iterable[str], loggers: Iterable[str]) -> None:
    values = {s for s in secrets if s}
    for name in loggers:
        logger = logging.getLogger(name)
        redactor = next((f for f in logger.filters if isinstance(f, SecretRedactor)), None)
        if redactor is None:
            redactor = SecretRedactor()
            logger.addFilter(redactor)
        redactor.secrets |= values
