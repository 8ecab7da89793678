"""``FakeClock``: a Clock that moves only when a test advances it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """A manually advanced clock (aware UTC)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._mono = 0.0

    def now(self) -> datetime:
        """The fake current time."""
        return self._now

    def monotonic(self) -> float:
        """Seconds advanced so far."""
        return self._mono

    def advance(self, seconds: float = 0, **delta: float) -> datetime:
        """Move time forward by ``seconds`` plus any ``timedelta`` keywords; return the new now."""
        step = timedelta(seconds=seconds, **delta)
        if step < timedelta(0):
            raise ValueError("time only moves forward")
        self._now += step
        self._mono += step.total_seconds()
        return self._now
