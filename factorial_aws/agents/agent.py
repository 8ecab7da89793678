"""``Agent`` (a model plus typed tools) and ``App`` (the registry the handlers load)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from factorial_aws.agents.hooks import hook_type_code, recursive_union
from factorial_aws.agents.tools import Tool
from factorial_aws.core import ids
from factorial_aws.core.records import ModelSettings
from factorial_aws.errors import (
    AgentDefinitionError,
    NotAToolError,
    UnknownAgentError,
    UnknownWebhookSourceError,
)
from factorial_aws.webhooks.source import WebhookSource

if TYPE_CHECKING:
    from pydantic import BaseModel

    from factorial_aws.agents.hooks import Hook

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FINAL_OUTPUT_TOOL = "final_output"

Verifier = Callable[[Any], Any]


@dataclass(frozen=True, eq=False)
class Agent:
    """An agent: instructions, a model name, tools and how it finishes.

    Args:
        name: unique in its App; used in the HTTP API and in keys.
        instructions: the system prompt.
        model: the model name passed to the model provider.
        tools: tools built with ``@tool``.
        output_type: a pydantic model; the agent finishes by calling the ``final_output`` tool
            with arguments of this type. Without it, the agent finishes with a plain text reply.
        verifier: called with each candidate output; raise ``VerificationRejected`` to send the
            model back to work (the reason becomes the tool result it sees). May return a
            replacement output.
        verifier_budget: distinct rejected candidates allowed before the task fails.
        max_turns: hard stop on the number of model calls.
        max_model_retries: consecutive transient model failures before the task fails.
        model_settings: sampling settings.
    """

    name: str
    instructions: str
    model: str
    tools: Sequence[Tool] = ()
    output_type: type[BaseModel] | None = None
    verifier: Verifier | None = None
    verifier_budget: int = 3
    max_turns: int = 50
    max_model_retries: int = 5
    model_settings: ModelSettings = field(default_factory=ModelSettings)

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise AgentDefinitionError(
                f"agent name {self.name!r} must be 1-64 characters of letters, digits, - and _"
            )
        if self.max_turns < 1:
            raise AgentDefinitionError(f"agent {self.name!r}: max_turns must be >= 1")
        if self.verifier_budget < 0 or self.max_model_retries < 0:
            raise AgentDefinitionError(f"agent {self.name!r}: budgets must not be negative")
        object.__setattr__(self, "tools", tuple(self.tools))
        for i, t in enumerate(self.tools):
            if not isinstance(t, Tool):
                raise NotAToolError(
                    f"agent {self.name!r}: tools[{i}] ({_describe(t)}) is not a tool; "
                    "decorate it with @tool"
                )
        names = [t.name for t in self.tools]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise AgentDefinitionError(f"agent {self.name!r}: duplicate tool names {dupes}")
        if self.output_type is not None and FINAL_OUTPUT_TOOL in names:
            raise AgentDefinitionError(
                f"agent {self.name!r}: the tool name {FINAL_OUTPUT_TOOL!r} is reserved "
                "when output_type is set"
            )

    def tool(self, name: str) -> Tool | None:
        """The tool called ``name``, if this agent has it."""
        return next((t for t in self.tools if t.name == name), None)


def _describe(obj: object) -> str:
    """How an object given as a tool is named in the error: a function by its qualified name."""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if isinstance(name, str):
        kind = "class" if isinstance(obj, type) else "callable"
        return f"the {kind} {getattr(obj, '__module__', '?')}.{name}"
    return f"{type(obj).__name__} {obj!r:.80}"


class App:
    """The agent registry: the one object the Lambda handlers and the dev server load."""

    def __init__(self, agents: Iterable[Agent], webhooks: Iterable[WebhookSource] = ()) -> None:
        self._webhooks: dict[str, WebhookSource] = {}
        for source in webhooks:
            if not isinstance(source, WebhookSource):
                raise AgentDefinitionError(
                    f"webhooks= takes webhook sources (webhooks.github(), ...), not {source!r}"
                )
            if source.name in self._webhooks:
                raise AgentDefinitionError(f"two webhook sources are named {source.name!r}")
            self._webhooks[source.name] = source
        self._agents: dict[str, Agent] = {}
        for agent in agents:
            if agent.name in self._agents:
                raise AgentDefinitionError(f"two agents are named {agent.name!r}")
            self._agents[agent.name] = agent
        if not self._agents:
            raise AgentDefinitionError("an App needs at least one agent")
        self._hook_types = _hook_types(self._agents.values())

    @property
    def agents(self) -> dict[str, Agent]:
        """Agents by name (a copy)."""
        return dict(self._agents)

    def agent(self, name: str) -> Agent:
        """The agent called ``name``.

        Raises:
            UnknownAgentError: no agent has that name.
        """
        try:
            return self._agents[name]
        except KeyError:
            known = ", ".join(sorted(self._agents))
            raise UnknownAgentError(f"unknown agent {name!r}; this app has: {known}") from None

    @property
    def webhooks(self) -> dict[str, WebhookSource]:
        """Webhook sources by name (a copy): each is served at ``POST /webhooks/{name}``."""
        return dict(self._webhooks)

    def webhook(self, name: str) -> WebhookSource:
        """The webhook source called ``name``.

        Raises:
            UnknownWebhookSourceError: the app declares no such source (404 ``unknown_source``).
        """
        source = self._webhooks.get(name)
        if source is None:
            raise UnknownWebhookSourceError(f"this app has no webhook source {name!r}")
        return source

    def hook_type(self, hook_id: str) -> type[Hook] | None:
        """The payload type of a hook, from the type code its id ends with; None for an id that
        is not a hook id, or a code no hook parameter of this app has (a type since removed)."""
        code = ids.type_code_of(hook_id)
        return self._hook_types.get(code) if code is not None else None


def _hook_types(agents: Iterable[Agent]) -> dict[str, type[Hook]]:
    """Every hook type of every tool of every agent, by type code."""
    found: dict[str, type[Hook]] = {}
    for agent in agents:
        for t in agent.tools:
            for node in t.hook_plan.nodes.values():
                code = hook_type_code(node.hook_type)
                if code not in found and (where := recursive_union(node.hook_type)) is not None:
                    raise AgentDefinitionError(
                        f"hook type {node.hook_type.__name__} (tool {t.name!r}): the union at "
                        f"{where} is not discriminated and its members nest into it again, so "
                        "validating a payload takes time exponential in its depth; give it a "
                        "discriminator, e.g. Annotated[A | B, Field(discriminator='kind')]"
                    )
                other = found.setdefault(code, node.hook_type)
                if other is not node.hook_type:
                    raise AgentDefinitionError(
                        f"hook types {other!r} and {node.hook_type!r} have the same code {code} "
                        "(the same module and qualified name?): rename one"
                    )
    return found
