"""The jobs' leader (service.leader) on the real PostgreSQL: one leads, a leader whose database session is ended
stops its jobs at once and seeks the lock again, the other takes over; on SQLite the single process leads."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from faultkit import wait_until
from service.db.session import make_engine
from service.leader import LOCK_KEY, Leadership

pytest_plugins = ["faultkit"]


class Node:
    """One process's leadership, recording when its jobs run."""

    def __init__(self, engine, name: str):
        self.name = name
        self.leadership = Leadership(engine, retry_s=0.2, check_s=0.2)
        self.leading = threading.Event()
        self.terms = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.leadership.run_forever, args=(self.stop, self._jobs), daemon=True)

    def _jobs(self, lost: threading.Event) -> None:
        self.terms += 1
        self.leading.set()
        lost.wait()
        self.leading.clear()

    def start(self) -> Node:
        self.thread.start()
        return self

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.mark.postgres
def test_one_leads_a_lost_session_hands_over_and_the_lock_is_sought_again(fresh_pg_url):
    engine = make_engine(fresh_pg_url)
    a, b = Node(engine, "a").start(), Node(engine, "b").start()
    try:
        wait_until(lambda: a.leading.is_set() or b.leading.is_set(), 10, 0.05, "a leader")
        leader, follower = (a, b) if a.leading.is_set() else (b, a)
        assert not follower.leading.wait(1.0), "one leader only"
        with engine.connect() as connection:  # the leader's session ends (a restart, a network cut, an admin)
            ended = connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND ((classid::bigint << 32) | objid::bigint) = :key"), {"key": LOCK_KEY}).scalars().all()
            connection.commit()
        assert ended == [True]
        wait_until(lambda: follower.leading.is_set() and not leader.leading.is_set(), 10, 0.05, "the hand-over")
        follower.halt()  # the new leader stops cleanly: the first one leads again
        wait_until(lambda: leader.leading.is_set(), 10, 0.05, "the lock sought again")
        assert (leader.terms, follower.terms) == (2, 1)
    finally:
        a.halt()
        b.halt()
        engine.dispose()


def test_on_sqlite_the_single_process_leads(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'firelane.db'}")
    node = Node(engine, "only").start()
    try:
        assert node.leading.wait(5) and node.leadership.is_leader
    finally:
        node.halt()
        engine.dispose()
    assert not node.leading.is_set() and not node.leadership.is_leader
