"""What repository functions raise when a request cannot be carried out; the API maps them to 404/409/422."""

from __future__ import annotations


class NotFoundError(LookupError):
    """No such row, or none the caller may see (the two are not told apart, so nothing leaks)."""


class ConflictError(Exception):
    """The change clashes with what is stored (duplicate key, already decided, still referenced)."""


class InvalidError(ValueError):
    """The change is well-formed but not acceptable; ``problems`` names every fault."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))
