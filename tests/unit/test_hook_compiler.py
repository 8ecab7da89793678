"""The hook compiler: dependency inference, staging, builder resolution and its errors."""

import importlib.util
import sys
from collections.abc import Awaitable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import pytest

from factorial_aws.agents.context import ToolContext
from factorial_aws.agents.hook_plan import BuilderArg, HookPlan, compile_hook_plan
from factorial_aws.agents.hooks import Hook, HookRequestContext, PendingHook, hook
from factorial_aws.agents.tools import tool
from factorial_aws.core.records import HookMode
from factorial_aws.errors import (
    HookCompilationError,
    HookDependencyCycleError,
    HookDependencyResolutionError,
    HookTypeMismatchError,
)


class Approval(Hook):
    approved: bool


class Review(Hook):
    ok: bool


class Budget(Hook):
    limit_cents: int


class Signoff(Hook):
    name: str


def _never() -> Any:
    raise AssertionError("builders are never called by the compiler")


def ask(ctx: HookRequestContext) -> PendingHook[Any]:
    return _never()


def ask_approval(ctx: HookRequestContext) -> PendingHook[Approval]:
    return _never()


def _compile_error(exc_type: type[Exception], func: Any, *fragments: str) -> str:
    """Compile ``func``, expect ``exc_type`` and check the message names the tool and more."""
    with pytest.raises(exc_type) as info:
        compile_hook_plan(func)
    message = str(info.value)
    for fragment in (f"'{func.__name__}'", *fragments):
        assert fragment in message, (fragment, message)
    return message


# --- plans ----------------------------------------------------------------------------------------


def test_dependencies_are_inferred_and_staged_in_kahn_order() -> None:
    def need_a(ctx: HookRequestContext, a: Approval) -> PendingHook[Review]:
        return _never()

    def need_b(b: Review) -> PendingHook[Budget]:
        return _never()

    def tool_fn(
        c: Annotated[Budget, hook.requires(need_b)],
        a: Annotated[Approval, hook.requires(ask_approval)],
        d: Annotated[Signoff, hook.awaits(ask)],
        b: Annotated[Review, hook.requires(need_a)],
    ) -> None: ...

    plan = compile_hook_plan(tool_fn)

    assert plan.stages == (("a", "d"), ("b",), ("c",))
    assert list(plan.nodes) == ["c", "a", "d", "b"]
    assert plan.nodes["c"].depends_on == ("b",)
    assert plan.nodes["b"].depends_on == ("a",)
    assert plan.nodes["a"].depends_on == ()
    assert plan.nodes["d"].depends_on == ()
    assert plan.params == frozenset("abcd")


def test_independent_hooks_share_one_stage_in_signature_order() -> None:
    def tool_fn(
        zeta: Annotated[Review, hook.requires(ask)],
        alpha: Annotated[Approval, hook.requires(ask_approval)],
        mid: Annotated[Budget, hook.awaits(ask)],
    ) -> None: ...

    assert compile_hook_plan(tool_fn).stages == (("zeta", "alpha", "mid"),)


def test_builder_args_come_from_ctx_tool_args_and_hook_payloads() -> None:
    async def build(
        request: HookRequestContext,
        amount_cents: int,
        approval: Approval,
        iban: str,
        note: str = "n/a",
    ) -> PendingHook[Budget]:
        return _never()

    def send_wire(
        amount_cents: int,
        iban: str,
        tool_ctx: ToolContext,
        approval: Annotated[Approval, hook.requires(ask_approval)],
        budget: Annotated[Budget, hook.requires(build)],
    ) -> None: ...

    node = compile_hook_plan(send_wire, tool_name="wire").nodes["budget"]

    assert node.builder_args == (
        BuilderArg("request", "ctx"),
        BuilderArg("amount_cents", "tool_arg", "amount_cents"),
        BuilderArg("approval", "hook", "approval"),
        BuilderArg("iban", "tool_arg", "iban"),
    )
    assert node.depends_on == ("approval",)
    assert node.builder is build
    assert node.builder_is_async is True
    assert node.hook_type is Budget
    assert node.mode is HookMode.REQUIRES


def test_defaulted_builder_parameters_are_skipped_unless_nameable() -> None:
    def build(
        ctx: HookRequestContext,
        urgency: str = "normal",
        reviewer: str | None = None,
        amount_cents: int = 0,
    ) -> PendingHook[Approval]:
        return _never()

    def tool_fn(amount_cents: int, approval: Annotated[Approval, hook.requires(build)]) -> None: ...

    node = compile_hook_plan(tool_fn).nodes["approval"]

    assert [a.name for a in node.builder_args] == ["ctx", "amount_cents"]
    assert node.builder_args[1].source == "tool_arg"


def test_no_hooks_gives_an_empty_falsy_plan() -> None:
    def plain(x: int, ctx: ToolContext) -> int:
        return x

    plan = compile_hook_plan(plain, tool_name="renamed")

    assert plan == HookPlan(tool_name="renamed", nodes={}, stages=())
    assert not plan


def test_plan_nodes_are_immutable() -> None:
    def tool_fn(approval: Annotated[Approval, hook.requires(ask_approval)]) -> None: ...

    plan = compile_hook_plan(tool_fn)

    with pytest.raises(TypeError):
        plan.nodes["other"] = plan.nodes["approval"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("annotation", "mode", "optional"),
    [
        (Annotated[Approval | None, hook.awaits(ask_approval)], HookMode.AWAITS, True),
        (Annotated[Approval, hook.awaits(ask_approval)], HookMode.AWAITS, False),
        (Annotated[Approval | None, hook.requires(ask_approval)], HookMode.REQUIRES, False),
    ],
)
def test_optional_only_for_awaits_with_optional_type(
    annotation: Any, mode: HookMode, optional: bool
) -> None:
    def tool_fn(approval: Any = None) -> None: ...

    tool_fn.__annotations__["approval"] = annotation

    node = compile_hook_plan(tool_fn).nodes["approval"]

    assert (node.hook_type, node.mode, node.optional) == (Approval, mode, optional)


def test_future_annotations_module_compiles() -> None:
    path = Path(__file__).with_name("_future_hooks.py")
    spec = importlib.util.spec_from_file_location("_future_hooks_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        plan = compile_hook_plan(module.send_wire)
    finally:
        del sys.modules[spec.name]

    assert plan.stages == (("budget",), ("approval",))
    assert plan.nodes["budget"].optional is True
    assert plan.nodes["budget"].hook_type is module.Budget
    assert plan.nodes["approval"].builder_is_async is True
    assert [a.source for a in plan.nodes["approval"].builder_args] == ["ctx", "hook", "tool_arg"]


# --- builder resolution errors -------------------------------------------------------------------


def test_unresolved_builder_parameter_is_rejected() -> None:
    def build(ctx: HookRequestContext, tool_ctx: ToolContext) -> PendingHook[Approval]:
        return _never()

    def pay(tool_ctx: ToolContext, approval: Annotated[Approval, hook.requires(build)]) -> None: ...

    _compile_error(HookDependencyResolutionError, pay, "'approval'", "build()", "'tool_ctx'")


def test_reference_by_type_only_is_rejected_with_a_hint() -> None:
    def build(ctx: HookRequestContext, manager_ok: Approval) -> PendingHook[Budget]:
        return _never()

    def pay(
        approval: Annotated[Approval, hook.requires(ask_approval)],
        budget: Annotated[Budget, hook.requires(build)],
    ) -> None: ...

    message = _compile_error(HookDependencyResolutionError, pay, "'budget'", "'manager_ok'")
    assert "by parameter name ('approval'), not by type" in message


@pytest.mark.parametrize("accepted", [Approval, Approval | None, Hook, Any])
def test_hook_reference_annotation_may_be_the_type_optional_or_a_base(accepted: Any) -> None:
    def build(approval: Any) -> PendingHook[Budget]:
        return _never()

    build.__annotations__["approval"] = accepted

    def pay(
        approval: Annotated[Approval, hook.requires(ask_approval)],
        budget: Annotated[Budget, hook.requires(build)],
    ) -> None: ...

    assert compile_hook_plan(pay).nodes["budget"].depends_on == ("approval",)


def test_hook_reference_type_mismatch_is_rejected() -> None:
    def build(approval: Review) -> PendingHook[Budget]:
        return _never()

    def pay(
        approval: Annotated[Approval, hook.requires(ask_approval)],
        budget: Annotated[Budget, hook.requires(build)],
    ) -> None: ...

    _compile_error(HookTypeMismatchError, pay, "'budget'", "'approval'", "Review", "Approval")


def test_tool_argument_type_mismatch_is_rejected_but_numbers_promote() -> None:
    def build(amount: str) -> PendingHook[Approval]:
        return _never()

    def build_float(amount: float | None) -> PendingHook[Approval]:
        return _never()

    def pay(amount: int, approval: Annotated[Approval, hook.requires(build)]) -> None: ...

    def pay_ok(amount: int, approval: Annotated[Approval, hook.requires(build_float)]) -> None: ...

    _compile_error(HookTypeMismatchError, pay, "'approval'", "'amount'", "str", "int")
    assert compile_hook_plan(pay_ok).nodes["approval"].builder_args[0].source == "tool_arg"


def test_variadic_builder_parameters_are_rejected() -> None:
    def build(ctx: HookRequestContext, **extra: Any) -> PendingHook[Approval]:
        return _never()

    def pay(approval: Annotated[Approval, hook.requires(build)]) -> None: ...

    _compile_error(HookCompilationError, pay, "'approval'", "'extra'")


# --- builder return types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "returns",
    [
        PendingHook[Review],
        Awaitable[PendingHook[Review]],
        Coroutine[Any, Any, PendingHook[Review]],
        str,
    ],
)
def test_builder_return_type_mismatch_is_rejected(returns: Any) -> None:
    def build(ctx: HookRequestContext) -> Any:
        return _never()

    build.__annotations__["return"] = returns

    def pay(approval: Annotated[Approval, hook.requires(build)]) -> None: ...

    _compile_error(HookTypeMismatchError, pay, "'approval'", "build()", "PendingHook[Approval]")


@pytest.mark.parametrize(
    "returns",
    [
        PendingHook[Approval],
        Awaitable[PendingHook[Approval]],
        Coroutine[Any, Any, PendingHook[Approval]],
    ],
)
def test_sync_builder_return_forms_are_accepted(returns: Any) -> None:
    def build(ctx: HookRequestContext) -> Any:
        return _never()

    build.__annotations__["return"] = returns

    def pay(approval: Annotated[Approval | None, hook.awaits(build)]) -> None: ...

    assert compile_hook_plan(pay).nodes["approval"].builder_is_async is False


def test_async_builder_returns_pending_hook_directly() -> None:
    async def build(ctx: HookRequestContext) -> PendingHook[Approval]:
        return _never()

    async def build_wrapped(ctx: HookRequestContext) -> Awaitable[PendingHook[Approval]]:
        return _never()

    def pay(approval: Annotated[Approval, hook.requires(build)]) -> None: ...

    def pay_wrapped(approval: Annotated[Approval, hook.requires(build_wrapped)]) -> None: ...

    assert compile_hook_plan(pay).nodes["approval"].builder_is_async is True
    _compile_error(HookTypeMismatchError, pay_wrapped, "'approval'", "build_wrapped()")


# --- cycles --------------------------------------------------------------------------------------


def needs_a(a: Approval) -> PendingHook[Any]:
    return _never()


def needs_b(b: Review) -> PendingHook[Any]:
    return _never()


def needs_c(c: Budget) -> PendingHook[Any]:
    return _never()


def test_two_node_cycle_is_rejected() -> None:
    def pay(
        a: Annotated[Approval, hook.requires(needs_b)],
        b: Annotated[Review, hook.requires(needs_a)],
    ) -> None: ...

    _compile_error(HookDependencyCycleError, pay, "parameter 'a'", "a -> b -> a")


def test_three_node_cycle_is_reported_without_bystanders() -> None:
    def pay(
        d: Annotated[Signoff, hook.requires(needs_b)],
        c: Annotated[Budget, hook.requires(needs_a)],
        a: Annotated[Approval, hook.requires(needs_b)],
        b: Annotated[Review, hook.requires(needs_c)],
    ) -> None: ...

    message = _compile_error(HookDependencyCycleError, pay, "parameter 'c'", "c -> a -> b -> c")
    assert "'d'" not in message


def test_self_reference_is_a_cycle() -> None:
    def pay(a: Annotated[Approval, hook.requires(needs_a)]) -> None: ...

    _compile_error(HookDependencyCycleError, pay, "parameter 'a'", "needs_a()", "own hook")


# --- hook parameter declarations -----------------------------------------------------------------


def test_more_than_one_marker_is_rejected() -> None:
    def pay(approval: Annotated[Approval, hook.requires(ask), hook.awaits(ask)]) -> None: ...

    _compile_error(HookCompilationError, pay, "'approval'", "more than one hook marker")


@pytest.mark.parametrize("bad", [str, Approval | Review, list[Approval], PendingHook[Approval]])
def test_hook_parameter_must_be_a_hook_subclass(bad: Any) -> None:
    def pay(approval: Any) -> None: ...

    pay.__annotations__["approval"] = Annotated[bad, hook.requires(ask)]

    _compile_error(HookTypeMismatchError, pay, "'approval'", "Hook subclass")


def test_marker_hidden_inside_optional_is_rejected() -> None:
    def pay(approval: Annotated[Approval, hook.awaits(ask)] | None = None) -> None: ...

    _compile_error(HookCompilationError, pay, "'approval'", "outermost")


def test_tool_name_override_is_used_in_errors() -> None:
    def pay(approval: Annotated[str, hook.requires(ask)]) -> None: ...

    with pytest.raises(HookTypeMismatchError, match=r"tool 'send_wire', parameter 'approval'"):
        compile_hook_plan(pay, tool_name="send_wire")


# --- through @tool -------------------------------------------------------------------------------


def ask_manager(ctx: HookRequestContext, amount_cents: int) -> PendingHook[Approval]:
    return Approval.pending(ctx=ctx, title=f"Approve {amount_cents / 100:.2f} USD")


@tool
def send_wire(
    amount_cents: int, iban: str, approval: Annotated[Approval, hook.requires(ask_manager)]
) -> str:
    """Send a wire transfer once a manager approves it."""
    return f"sent {amount_cents} to {iban}: {approval.approved}"


def test_tool_decorator_carries_the_plan_and_fails_at_decoration() -> None:
    plan = send_wire.hook_plan

    assert plan.tool_name == "send_wire"
    assert plan.stages == (("approval",),)
    assert plan.nodes["approval"].builder_args == (
        BuilderArg("ctx", "ctx"),
        BuilderArg("amount_cents", "tool_arg", "amount_cents"),
    )
    assert send_wire.tool_params == ("amount_cents", "iban")
    with pytest.raises(HookTypeMismatchError, match=r"tool 'bad_wire', parameter 'approval'"):

        @tool(name="bad_wire")
        def wire(approval: Annotated[str, hook.requires(ask_manager)]) -> None: ...


def _tool_with_a_local_hook_type(name: str) -> Any:
    class Same(Hook):  # the same module and qualified name each time: the same type code
        x: int

    def ask(ctx: HookRequestContext) -> PendingHook[Same]:
        return Same.pending(ctx=ctx, title="x")

    def body(v: Annotated[Same, hook.requires(ask)]) -> str:
        return "ok"

    body.__name__ = name
    body.__doc__ = "A tool."
    return tool(body)


def test_an_app_maps_each_hook_type_code_to_one_type() -> None:
    from factorial_aws import Agent, App
    from factorial_aws.agents.hooks import hook_type_code
    from factorial_aws.errors import AgentDefinitionError

    first, second = _tool_with_a_local_hook_type("a"), _tool_with_a_local_hook_type("b")
    one = App([Agent(name="one", instructions="i", model="m", tools=[first])])
    (node,) = first.hook_plan.nodes.values()
    code = hook_type_code(node.hook_type)
    assert one.hook_type(f"t-{'a' * 26}.h{'0' * 16}{code}") is node.hook_type
    assert one.hook_type(f"t-{'a' * 26}.h{'0' * 16}00000000") is None
    assert one.hook_type(f"t-{'a' * 26}") is None
    with pytest.raises(AgentDefinitionError, match="have the same code"):
        App([Agent(name="two", instructions="i", model="m", tools=[first, second])])
