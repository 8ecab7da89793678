"""The soak (tests/integration/soak.py) at a size that fits ``make test``: every task reaches a
terminal state or is deliberately parked, no tool call runs twice, no request gets a 5xx, and each
answer is about its own request. ``benchmarks/soak.py`` runs the same soak larger."""

from __future__ import annotations

import pytest

from tests.integration.soak import run_soak, summary


@pytest.mark.parametrize(
    ("cluster", "tasks"), [(False, 60), (True, 30)], ids=["standalone", "cluster"]
)
def test_soak_loses_nothing_and_applies_nothing_twice(cluster: bool, tasks: int) -> None:
    report = run_soak(tasks, seed=7, workers=16, deadline_s=50, cluster=cluster)
    text = "\n".join(f"{k}: {v}" for k, v in summary(report))
    text += f"\nlost: {report.lost}\napplied twice: {report.applied_twice}"
    assert report.problems() == [], text
    # the soak did what it says: every kind of event happened at least once
    for what in (
        "hooks resolved",
        "hook pairs resolved at once",
        "hooks expired",
        "cancelled",
        "tasks left parked",
        "create replayed",
    ):
        assert report.events[what] > 0, f"no {what!r} in this run:\n{text}"
    assert any(k.startswith("second resolve: ") for k in report.events), text
    joins = {k for k in report.events if k.startswith("children (")}
    assert joins == {"children (join all)", "children (join any)", "children (join N)"}, text
    assert sum(report.executions.values()) > len(report.plans) // 2, text
