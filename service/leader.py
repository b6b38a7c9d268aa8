"""One leader in the cluster for the jobs that must run once, whichever `firelane serve` processes are up: the alert
dispatchers, the escalation clock and the weekly reports.

On PostgreSQL the leader is the process that holds a session-level advisory lock on a dedicated connection (not
from the pool, with TCP keepalives both ways). The lock lives exactly as long as that database session: a leader
killed with ``kill -9`` or cut off loses it when PostgreSQL sees the session end (at once for a dead process, within
about 15 s of keepalives for a lost network), and a follower polling every ``retry_s`` takes over. A leader checks
its connection every ``check_s`` and stops its jobs as soon as the check fails; it then steps back for
``step_back_s`` before seeking the lock again, so a healthy follower takes over rather than the process whose link
just failed winning the race for the lock it lost.

There can be a short overlap (a leader that has not yet noticed its session is gone while a follower already
leads). The jobs are safe under it: outbox rows are sent under their row lock (``FOR UPDATE SKIP LOCKED``), so two
dispatchers never send the same message; escalation stamps rows in one transaction. On SQLite there is one
process by construction, and it leads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)
LOCK_KEY = int.from_bytes(b"firelane", "big") & 0x7FFF_FFFF_FFFF_FFFF  # bigint advisory key, fixed per product
# libpq keepalives (the leader notices a dead link) and the server's (PostgreSQL ends the session of a lost leader)
_KEEPALIVES = {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
               "keepalives_count": 3, "tcp_user_timeout": 10000,
               "options": "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3 "
                          "-c tcp_user_timeout=10000"}


class Leadership:
    """``run_forever(stop, lead)``: whenever this process holds the lock, ``lead(lost)`` runs on a thread until
    ``lost`` is set (lock lost, or ``stop``); then the lock is released and sought again."""

    def __init__(self, engine: Engine, key: int = LOCK_KEY, retry_s: float = 2.0, check_s: float = 2.0,
                 step_back_s: float | None = None):
        self.key = key
        self.retry_s = retry_s
        self.check_s = check_s
        self.step_back_s = 5 * retry_s if step_back_s is None else step_back_s  # a follower polls several times
        self.is_leader = False
        self._postgres = engine.dialect.name == "postgresql"
        self._engine = create_engine(engine.url, poolclass=NullPool, connect_args=_KEEPALIVES) \
            if self._postgres else None

    def _acquire(self) -> Connection | None:
        assert self._engine is not None
        try:
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except Exception as error:  # noqa: BLE001 - the database is down: nobody can lead, try again
            log.debug("leader election: database not reachable: %s", error)
            return None
        try:
            if connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar():
                return connection
        except Exception as error:  # noqa: BLE001
            log.debug("leader election failed: %s", error)
        connection.invalidate()
        connection.close()
        return None

    @staticmethod
    def _alive(connection: Connection) -> bool:
        try:
            connection.execute(text("SELECT 1"))
            return True
        except Exception as error:  # noqa: BLE001
            log.warning("leader: the lock's database session is gone (%s)", str(error).splitlines()[0][:200])
            return False

    def run_forever(self, stop: threading.Event, lead: Callable[[threading.Event], None]) -> None:
        while not stop.is_set():
            connection = self._acquire() if self._postgres else None
            if self._postgres and connection is None:
                stop.wait(self.retry_s)
                continue
            lost = threading.Event()
            runner = threading.Thread(target=lead, args=(lost,), name="leader-jobs", daemon=True)
            self.is_leader = True
            log.info("leader: this process runs the cluster's jobs (alert delivery, escalations, weekly reports, "
                     "relayed MQTT zone states)")
            runner.start()
            while not stop.wait(self.check_s):
                if connection is not None and not self._alive(connection):
                    break
            lost.set()
            runner.join(timeout=60)
            self.is_leader = False
            if connection is not None:
                connection.invalidate()  # closes the session: the lock is free for the next leader
                connection.close()
            if not stop.is_set():
                log.warning("leader: no longer leading; jobs stopped, seeking the lock again in %.0f s",
                            self.step_back_s)
                stop.wait(self.step_back_s)
        if self._engine is not None:
            self._engine.dispose()
