"""A fan-out: a lead agent spawns one researcher child per topic and waits for all of them.

``subagents.spawn(researcher, ..., key=topic)`` gives each child a deterministic id (parent +
key), so a replayed turn never spawns twice; ``wait.children(refs, join="all")`` parks the lead
until every child has finished, and the wake hands it the children's outputs as the tool result.
The children share the lead's store hash tag, so "child finished -> join satisfied -> lead
runnable" is one atomic step.
"""

from __future__ import annotations

import re

from factorial_aws import Agent, App, subagents, tool, wait

#: What the simulated search knows (a real tool would call a search API).
FACTS: dict[str, list[str]] = {
    "valkey": [
        "Valkey is a BSD-licensed fork of Redis 7.2, run by the Linux Foundation",
        "ElastiCache Serverless offers it with cluster mode and TLS",
    ],
    "sqs": [
        "SQS delivers at least once and can delay a message by up to 15 minutes",
        "a Lambda event source mapping reports partial batch failures",
    ],
    "eventbridge scheduler": [
        "EventBridge Scheduler runs one-shot at() and cron() schedules with one-minute precision",
        "a one-shot schedule can delete itself after it fires",
    ],
}


def _slug(topic: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", topic.lower()).strip("-") or "topic"


@tool
def search_notes(topic: str) -> list[str]:
    """Look ``topic`` up in the knowledge base (simulated)."""
    return FACTS.get(topic.strip().lower(), [f"no notes on {topic} yet"])


researcher = Agent(
    name="researcher",
    instructions="You research one topic: call search_notes, then write two sentences of notes.",
    model="gpt-4.1-mini",
    tools=[search_notes],
)


@tool
def research(topics: list[str]) -> object:
    """Research each topic in parallel (one researcher per topic) and wait for all of them."""
    refs = [subagents.spawn(researcher, f"Research: {t}", key=_slug(t)) for t in topics]
    return wait.children(refs, join="all", data={"topics": topics})


lead = Agent(
    name="lead",
    instructions="You plan research: split the question into topics, call research once, "
    "then summarise the researchers' notes.",
    model="gpt-4.1-mini",
    tools=[research],
)

app = App(agents=[lead, researcher])
