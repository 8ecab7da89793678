"""Shared fixtures: real Valkey servers (standalone and a one-node cluster) for store tests, and
how the suite is split for a parallel run.

Servers are session-scoped: one pair per test process, so under pytest-xdist each worker has its
own (tests call ``FLUSHALL``, a shared server would not do). They start only when the collected
tests ask for them, in the background as soon as the collection is done: a cluster is not
``cluster_state:ok`` until about 2 s after its process started (Valkey's fixed writable delay
for a primary that comes up), and that wait then overlaps the first tests instead of blocking
one. ``redis_client`` runs each test on both kinds, flushed first. A missing server binary fails
the tests (never skips them): CI must not silently drop store coverage.

Markers (registered in pyproject.toml): ``slow`` tests run first, so a parallel run does not end
waiting on one of them, and get a longer timeout; ``make test`` runs ``serial`` tests on their
own after the parallel run (``-m "not serial"``, then ``-m serial``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from factorial_aws.testing.valkey import EmbeddedValkey, find_server_binary

#: Fixtures whose tests use the session's servers (``redis_client`` and the fixtures built on
#: it reach them through ``getfixturevalue``, so the closure names one of these).
SERVER_FIXTURES = frozenset({"redis_client", "valkey_standalone", "valkey_cluster"})


class _Servers:
    """This process's two session servers, each started once on a background thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: dict[bool, threading.Thread] = {}
        self._started: dict[bool, EmbeddedValkey | BaseException] = {}

    def prestart(self, *, cluster: bool) -> None:
        """Begin starting the server of this kind, unless that has begun already."""
        with self._lock:
            if cluster in self._threads:
                return
            thread = threading.Thread(
                target=self._start, args=(cluster,), name=f"valkey-start-{cluster}", daemon=True
            )
            self._threads[cluster] = thread
            thread.start()

    def _start(self, cluster: bool) -> None:
        server = EmbeddedValkey(cluster=cluster)
        try:
            server.start()
        except BaseException as exc:  # reported by get(), in the test that needs the server
            self._started[cluster] = exc
        else:
            self._started[cluster] = server

    def get(self, *, cluster: bool) -> EmbeddedValkey:
        """The started server (waits for its start); raises what the start raised."""
        self.prestart(cluster=cluster)
        self._threads[cluster].join()
        started = self._started[cluster]
        if isinstance(started, BaseException):
            raise started
        return started

    def stop(self) -> None:
        """Stop every server started (or starting) in this process."""
        for cluster, thread in list(self._threads.items()):
            thread.join()
            started = self._started.get(cluster)
            if isinstance(started, EmbeddedValkey):
                started.stop()


_SERVERS = _Servers()


#: pytest-timeout for ``slow`` tests (the default, 60 s, is in pyproject.toml): they run
#: subprocesses that import half the dependencies, which a loaded 2-core machine stretches a lot.
SLOW_TIMEOUT_S = 240


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``slow`` tests first (a stable sort: modules stay together), with a longer timeout."""
    for item in items:
        if item.get_closest_marker("slow") is not None and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Append the files of deselected ``serial`` tests to ``$FACTORIAL_SERIAL_TESTS`` (set by
    ``make unit``): its serial run then collects those files only, and none if there are none."""
    listing = os.environ.get("FACTORIAL_SERIAL_TESTS")
    files = {str(i.path) for i in items if i.get_closest_marker("serial") is not None}
    if listing and files:
        with Path(listing).open("a") as out:  # every xdist worker appends the same lines
            out.write("".join(f"{name}\n" for name in sorted(files)))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the servers in the background if any collected test will use them."""
    if session.config.option.collectonly:
        return
    if any(SERVER_FIXTURES.intersection(getattr(i, "fixturenames", ())) for i in session.items):
        _SERVERS.prestart(cluster=True)
        _SERVERS.prestart(cluster=False)


def pytest_sessionfinish() -> None:
    _SERVERS.stop()


def _serve(*, cluster: bool) -> Iterator[EmbeddedValkey]:
    try:
        find_server_binary()
    except RuntimeError as exc:
        pytest.fail(f"store tests need a Valkey/Redis server: {exc}", pytrace=False)
    server = _SERVERS.get(cluster=cluster)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def valkey_standalone() -> Iterator[EmbeddedValkey]:
    """A standalone Valkey server for the whole session."""
    yield from _serve(cluster=False)


@pytest.fixture(scope="session")
def valkey_cluster() -> Iterator[EmbeddedValkey]:
    """A one-node Valkey cluster owning all slots (like ElastiCache Serverless)."""
    yield from _serve(cluster=True)


@pytest.fixture(params=["standalone", "cluster"], ids=["standalone", "cluster"])
def redis_client(request: pytest.FixtureRequest) -> Iterator[redis.Redis | RedisCluster]:
    """A fresh client on an emptied server; every test using it runs on both server kinds."""
    server: EmbeddedValkey = request.getfixturevalue(f"valkey_{request.param}")
    server.flush()
    client = server.client()
    try:
        yield client
    finally:
        client.close()
