"""How an agent finishes: the candidate output (a text reply, or the ``final_output`` tool's
arguments), the verifier, and its budget of distinct rejected candidates."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from factorial_aws.agents.agent import FINAL_OUTPUT_TOOL, Agent
from factorial_aws.core import ids
from factorial_aws.core.records import ToolDefinition
from factorial_aws.errors import VerificationRejected


@dataclass(frozen=True)
class Verdict:
    """``accepted`` with the output to store, or a rejection the model sees."""

    accepted: bool
    output: Any = None
    reason: str = ""
    exhausted: bool = False


def final_output_tool(agent: Agent) -> ToolDefinition | None:
    """The ``final_output`` tool offered to agents with an ``output_type``."""
    if agent.output_type is None:
        return None
    schema = agent.output_type.model_json_schema()
    return ToolDefinition(
        name=FINAL_OUTPUT_TOOL,
        description="Finish the task: call this once, with the final answer as arguments.",
        parameters=schema,
    )


def parse_final(agent: Agent, raw: str) -> BaseModel:
    """Validate the ``final_output`` arguments into the agent's output type.

    Raises:
        ValueError: the arguments are not valid JSON or do not validate (message for the model).
    """
    assert agent.output_type is not None
    try:
        return agent.output_type.model_validate_json(raw or "{}")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"final_output arguments do not validate: {problems}") from exc


def _fingerprint(candidate: Any) -> str:
    if isinstance(candidate, BaseModel):
        candidate = candidate.model_dump(mode="json")
    return ids.content_hash(json.dumps(candidate, sort_keys=True, default=str))


async def verify(agent: Agent, candidate: Any, rejected: list[str]) -> Verdict:
    """Run the verifier on a candidate. A rejection is counted once per distinct candidate.

    ``rejected`` (the context's list of rejected fingerprints) is updated in place.
    """
    output = candidate
    if agent.verifier is not None:
        try:
            replaced = agent.verifier(candidate)
            if inspect.isawaitable(replaced):
                replaced = await replaced
        except VerificationRejected as rej:
            fp = _fingerprint(candidate)
            if fp not in rejected:
                rejected.append(fp)
            return Verdict(
                accepted=False,
                reason=rej.message,
                exhausted=len(rejected) > agent.verifier_budget,
            )
        if replaced is not None:
            output = replaced
    if isinstance(output, BaseModel):
        output = output.model_dump(mode="json")
    return Verdict(accepted=True, output=output)
