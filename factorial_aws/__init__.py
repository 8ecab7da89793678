"""factorial_aws: durable AI agents on AWS serverless parts.

The authoring API. Importing this package is cheap: it pulls in pydantic and the standard library,
never boto3, botocore, openai, redis or Powertools (a test checks it in a fresh interpreter).
"""

from factorial_aws import webhooks as webhooks
from factorial_aws.agents.agent import Agent as Agent
from factorial_aws.agents.agent import App as App
from factorial_aws.agents.context import ToolContext as ToolContext
from factorial_aws.agents.hook_plan import HookPlan as HookPlan
from factorial_aws.agents.hook_plan import compile_hook_plan as compile_hook_plan
from factorial_aws.agents.hooks import Hook as Hook
from factorial_aws.agents.hooks import HookRequestContext as HookRequestContext
from factorial_aws.agents.hooks import PendingHook as PendingHook
from factorial_aws.agents.hooks import hook as hook
from factorial_aws.agents.results import Hidden as Hidden
from factorial_aws.agents.results import ToolResult as ToolResult
from factorial_aws.agents.subagents import ChildRef as ChildRef
from factorial_aws.agents.subagents import subagents as subagents
from factorial_aws.agents.tools import Tool as Tool
from factorial_aws.agents.tools import tool as tool
from factorial_aws.agents.waits import wait as wait
from factorial_aws.core.records import ModelSettings as ModelSettings
from factorial_aws.errors import FactorialError as FactorialError
from factorial_aws.errors import HookCompilationError as HookCompilationError
from factorial_aws.errors import HookDependencyCycleError as HookDependencyCycleError
from factorial_aws.errors import HookDependencyResolutionError as HookDependencyResolutionError
from factorial_aws.errors import HookTypeMismatchError as HookTypeMismatchError
from factorial_aws.errors import VerificationRejected as VerificationRejected

__all__ = [
    # agents and the app registry
    "Agent",
    "App",
    # waits and children
    "ChildRef",
    # errors users catch or raise
    "FactorialError",
    # tools
    "Hidden",
    # hooks
    "Hook",
    "HookCompilationError",
    "HookDependencyCycleError",
    "HookDependencyResolutionError",
    "HookPlan",
    "HookRequestContext",
    "HookTypeMismatchError",
    "ModelSettings",
    "PendingHook",
    "Tool",
    "ToolContext",
    "ToolResult",
    "VerificationRejected",
    "compile_hook_plan",
    "hook",
    "subagents",
    "tool",
    "wait",
    "webhooks",
]
