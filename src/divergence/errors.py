"""The one error tree.

Every error divergence raises derives from :class:`DivergenceError`. Each leaf carries
an ``http_status`` (what the API answers) and a ``retryable`` flag (whether trying again
can help). Foreign exceptions (duckdb, websockets, pydantic) are translated at the
boundary where they occur, so callers only ever catch this tree.
"""

from __future__ import annotations


class DivergenceError(Exception):
    """Root of every divergence error."""

    http_status: int = 500
    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(DivergenceError):
    """Settings or catalog content is invalid; raised at start-up, names the key."""

    http_status = 500

    def __init__(self, message: str, *, key: str, source: str) -> None:
        super().__init__(f"{source}: {key}: {message}")
        self.key = key
        self.source = source


class QuarantineError(DivergenceError):
    """A frame or event was rejected; it goes to the quarantine table with ``reason``."""

    http_status = 422

    def __init__(self, reason: str, *, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class StoreError(DivergenceError):
    """DuckDB refused an operation (lock held, bad SQL, disk)."""

    http_status = 503
    retryable = True


class BadRequestError(DivergenceError):
    """The caller sent a parameter we cannot use; the message names it."""

    http_status = 400


class NotFoundError(DivergenceError):
    """A named thing (underlying, dashboard, query) does not exist."""

    http_status = 404


class FeedError(DivergenceError):
    """A feed could not connect or was refused by its venue."""

    http_status = 502
    retryable = True


class VenueRejectedError(FeedError):
    """The venue refused the session itself, so reconnecting at once cannot help.

    An adapter raises it from ``parse`` for an error reply about the session (Alpaca 402
    auth failed, 406 connection limit; Massive ``auth_failed``). ``code`` is the venue's
    own code. ``fatal`` stops the feed (wrong credentials stay wrong); otherwise the
    session waits at least ``retry_after_s`` before the next attempt, so a feed held by
    another session does not turn into a retry storm.
    """

    def __init__(
        self, message: str, *, code: str, fatal: bool = False, retry_after_s: float = 0.0
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.fatal = fatal
        self.retry_after_s = retry_after_s
        self.retryable = not fatal
