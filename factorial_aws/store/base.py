"""``StoreContext``: what every store module shares (client, scripts, clock, limits)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from factorial_aws.core.clock import Clock, SystemClock
from factorial_aws.store.scripts import Scripts

if TYPE_CHECKING:
    from datetime import datetime

    from factorial_aws.store.client import RedisClient


_SYSTEM_CLOCK = SystemClock()


@dataclass(frozen=True)
class StoreSettings:
    """Limits and lifetimes.

    Args:
        lease_ms: how long a claimed turn owns its task before another claim (or the
            maintenance sweep) may take it over. The default fits a runtime that renews it
            (``lease_renew_ms``); on Lambda it is the function timeout + a margin, not renewed.
        lease_renew_ms: how often a running turn renews its lease (a heartbeat; 0: never, the
            lease then has to outlast the longest turn). Well under ``lease_ms``.
        tree_ttl_s: how long a finished task tree stays readable before Redis removes it.
        max_payload_bytes: the largest hook payload accepted (encoded JSON).
        max_context_bytes: the largest encoded task context accepted.
        dispatch_grace_ms: how long after a turn message should have been consumed the
            maintenance sweep re-sends it.
        early_resolve_ttl_s: how long a resolve that came before its hook was registered is
            kept for the commit that registers it (at least two leases, so a turn retried after
            a crash still finds it).
    """

    lease_ms: int = 30 * 1000
    lease_renew_ms: int = 10 * 1000
    tree_ttl_s: int = 7 * 24 * 3600
    max_payload_bytes: int = 64 * 1024
    max_context_bytes: int = 4 * 1024 * 1024
    dispatch_grace_ms: int = 60 * 1000
    early_resolve_ttl_s: int = 3600


def to_ms(when: datetime) -> int:
    """An aware datetime as epoch milliseconds."""
    return int(when.timestamp() * 1000)


@dataclass
class StoreContext:
    """The client, its registered scripts, the optional clock and the settings.

    With ``clock=None`` (production) scripts read the server's ``TIME``; tests pass a fake clock,
    whose time is then sent as each script's ``now_ms``.
    """

    client: RedisClient
    clock: Clock | None = None
    settings: StoreSettings = field(default_factory=StoreSettings)
    scripts: Scripts = field(init=False)

    def __post_init__(self) -> None:
        self.scripts = Scripts(self.client)

    def now_ms(self) -> int:
        """The local time for index scores (a safety net: small clock skew does not matter)."""
        return to_ms((self.clock or _SYSTEM_CLOCK).now())

    def now_arg(self) -> str:
        """ARGV[1] of every script: "" (server TIME) or the fake clock's time in ms."""
        return "" if self.clock is None else str(to_ms(self.clock.now()))
