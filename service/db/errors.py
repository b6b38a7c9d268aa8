"""What repository functions raise when a request cannot be carried out; the API maps them to 404/409/422."""

from __future__ import annotations

import logging


class NotFoundError(LookupError):
    """No such row, or none the caller may see (the two are not told apart, so nothing leaks)."""


class ConflictError(Exception):
    """The change clashes with what is stored (duplicate key, already decided, still referenced)."""


class InvalidError(ValueError):
    """The change is well-formed but not acceptable; ``problems`` names every fault."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


def is_unreachable(error: BaseException) -> bool:
    """Errors that mean "try again later": no connection, a dropped one, a locked or full SQLite file."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    if isinstance(error, (OperationalError, InterfaceError, PoolTimeoutError)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


class OutageLog:
    """For background loops: a database outage is logged once when it starts and once when it ends, not with a
    traceback every pass; any other error is logged in full every time (it is a bug)."""

    def __init__(self, logger: logging.Logger, what: str):
        self.logger, self.what = logger, what
        self.down = False

    def failed(self, error: BaseException) -> None:
        if not is_unreachable(error):
            self.logger.exception("%s failed", self.what)
        elif not self.down:
            self.down = True
            self.logger.warning("%s: database unreachable (%s); retrying", self.what, str(error).splitlines()[0][:200])

    def ok(self) -> None:
        if self.down:
            self.down = False
            self.logger.warning("%s: database reachable again", self.what)
