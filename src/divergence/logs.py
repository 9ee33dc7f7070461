"""The one place that configures logging handlers (called by the CLI only)."""

from __future__ import annotations

import logging
import sys

_SKIP = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class _ExtraFormatter(logging.Formatter):
    """``time level logger: message key=value ...`` with the record's ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _SKIP}
        if not extras:
            return base
        return base + " " + " ".join(f"{k}={v}" for k, v in sorted(extras.items()))


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ExtraFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "websockets.server", "websockets.client"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
