"""Run the stack's handlers under moto with IAM enforced and only their roles' statements.

What this builds, from the SAM translation of template.yaml (nothing hand-copied):

* the roles' policy statements (inline policies and the customer managed policies they attach),
  with ``Ref``/``Fn::GetAtt``/``Fn::Sub``/``Fn::FindInMap``/... resolved to the ARNs of moto
  resources created for them (:class:`Resolver`; an intrinsic it does not know fails loudly);
* each function's environment, resolved the same way: the handlers read their settings from it.

:func:`simulated_stack` creates the queue, secrets, schedule group and roles in moto (IAM off),
assumes each role through STS, then turns IAM enforcement on: from there every AWS call a handler
makes is signed with its role's session credentials and moto checks it against that role's
policies. A denial is recorded (:attr:`Stack.denials`) whether or not the code swallows it.

Moto enforces IAM in its request dispatcher, but only SQS tells it which resource a request is
for; for every other service it checks the action against ``Resource: "*"``, which a statement
scoped to an ARN never matches. :func:`patch_moto` therefore names the resource for Secrets
Manager (the secret's ARN) and EventBridge Scheduler (``schedule/<group>/<name>``), and adds the
check AWS makes on ``CreateSchedule`` that moto does not: ``iam:PassRole`` on the target's role,
with ``iam:PassedToService = scheduler.amazonaws.com``. Moto evaluates conditions only with the
operator ``StringEquals`` and only for context keys it is given (the PassRole check gives it
``iam:PassedToService``); other conditions count as met.

Not simulated (the test lists them with the reason): what the Lambda service does with a
function's role rather than the code (CloudWatch Logs writes, VPC network interfaces), and
``elasticache:Connect`` (ElastiCache checks the IAM token; locally the functions log in to Valkey
as a password user with the template's ACL, so the cache side is the ACL test's). The cache
connection is the one environment value replaced: ``redis://user:password@127.0.0.1:port``
instead of ``rediss://`` with IAM.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto import mock_aws
from moto.core import disable_iam_authentication, enable_iam_authentication

from tests.infra.template import cfn_template, resources

REGION = "us-east-1"
ACCOUNT = "123456789012"
PARTITION = "aws"
STACK = "fa-sim"
STACK_ID = (
    f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/0a1b2c3d-1111-2222-3333-444455556666"
)
HOOK_SECRET = "simulated-hook-secret-0123456789abcdef"
MODEL_KEY = "sk-simulated-model-key"
#: The GitHub webhook source's secret, as the deployer pastes it into ``<stack>/webhooks/github``
#: (the template's GitHubWebhookSecret, created with ``WebhookGitHub=enabled``).
GITHUB_WEBHOOK_SECRET = "simulated-github-webhook-secret"
API_ENDPOINT = f"https://sim0api.execute-api.{REGION}.amazonaws.com"

#: Function logical id -> its role's logical id.
FUNCTIONS = {
    "ApiFunction": "ApiFunctionRole",
    "TurnFunction": "TurnFunctionRole",
    "MaintenanceFunction": "MaintenanceFunctionRole",
}


# ------------------------------------------------------------------ intrinsics


class UnresolvedError(KeyError):
    """The template names something the simulation did not create (or an unknown intrinsic)."""


class Resolver:
    """Resolves CloudFormation intrinsics against given values.

    Args:
        params: parameter values (the template's defaults, overridden).
        refs: ``Ref`` of resources, by logical id.
        attrs: ``Fn::GetAtt`` values, by ``"LogicalId.Attribute"``.
    """

    def __init__(self, params: dict[str, Any], refs: dict[str, str], attrs: dict[str, str]) -> None:
        self.params = params
        self.refs = refs
        self.attrs = attrs
        self.mappings: dict[str, Any] = cfn_template().get("Mappings", {})
        self.pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK,
            "AWS::StackId": STACK_ID,
            "AWS::URLSuffix": "amazonaws.com",
        }

    def ref(self, name: str) -> Any:
        for table in (self.pseudo, self.params, self.refs):
            if name in table:
                return table[name]
        raise UnresolvedError(f"Ref {name}: not created by the simulation")

    def get_att(self, name: str) -> str:
        if name not in self.attrs:
            raise UnresolvedError(f"Fn::GetAtt {name}: not created by the simulation")
        return self.attrs[name]

    def sub(self, text: str, names: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in names:
                return str(self(names[name]))
            if "." in name and not name.startswith("AWS::"):
                return self.get_att(name)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!][^}]*)\}", one, text)

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Ref", "Fn::")):
            return {k: self(v) for k, v in value.items()}
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return self.ref(arg)
        if fn == "Fn::GetAtt":
            return self.get_att(".".join(arg) if isinstance(arg, list) else arg)
        if fn == "Fn::Sub":
            text, names = (arg, {}) if isinstance(arg, str) else arg
            return self.sub(text, names)
        if fn == "Fn::FindInMap":
            name, key, attr = (str(self(a)) for a in arg)
            return self.mappings[name][key][attr]
        if fn == "Fn::Join":
            return str(self(arg[0])).join(str(self(v)) for v in self(arg[1]))
        if fn == "Fn::Select":
            return self(arg[1])[int(self(arg[0]))]
        if fn == "Fn::Split":
            return str(self(arg[1])).split(str(self(arg[0])))
        raise UnresolvedError(f"{fn}: not an intrinsic the simulation resolves")


# ------------------------------------------------------------------ roles and grants


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Grant:
    """One (action, resource) an Allow statement of a role gives, as written in the template."""

    role: str
    policy: str
    index: int
    action: str
    resource: str

    @property
    def id(self) -> str:
        return f"{self.role}:{self.action}:{self.resource}"


def _resource_text(resource: Any) -> str:
    """A short, stable name of a statement's resource as written (for ids and messages)."""
    if isinstance(resource, str):
        return resource
    ((fn, arg),) = resource.items()
    if fn == "Fn::GetAtt":
        return ".".join(arg) if isinstance(arg, list) else str(arg)
    if fn == "Ref":
        return str(arg)
    if fn == "Fn::Sub":
        text = str(arg if isinstance(arg, str) else arg[0])
        return re.sub(
            r"^arn:\$\{AWS::Partition\}:\w+:\$\{AWS::Region\}:\$\{AWS::AccountId\}:", "", text
        )
    return json.dumps(resource, sort_keys=True)


def role_policies(role: str) -> list[tuple[str, dict[str, Any]]]:
    """``(policy name, document)`` of a role of the translated template: its inline policies,
    the ``AWS::IAM::Policy`` resources naming it, then the customer managed policies it attaches
    (those two named by their logical id)."""
    template = cfn_template()
    props = template["Resources"][role]["Properties"]
    found = [(p["PolicyName"], p["PolicyDocument"]) for p in props.get("Policies", [])]
    for name, policy in resources(template, "AWS::IAM::Policy").items():
        if {"Ref": role} in policy["Properties"].get("Roles", []):
            found.append((name, policy["Properties"]["PolicyDocument"]))
    for arn in props.get("ManagedPolicyArns", []):
        if set(arn) != {"Ref"}:
            raise UnresolvedError(f"{role} attaches a policy outside the template: {arn}")
        document = template["Resources"][arn["Ref"]]["Properties"]["PolicyDocument"]
        found.append((arn["Ref"], document))
    return found


def grants(role: str) -> list[Grant]:
    """Every (action, resource) pair the role's Allow statements give."""
    out = []
    for name, document in role_policies(role):
        for index, statement in enumerate(_as_list(document["Statement"])):
            if statement["Effect"] != "Allow":
                continue
            for action in _as_list(statement["Action"]):
                for resource in _as_list(statement["Resource"]):
                    out.append(Grant(role, name, index, action, _resource_text(resource)))
    return out


def _without(document: dict[str, Any], grant: Grant) -> dict[str, Any]:
    """The policy document minus one (action, resource) pair (its statement split up)."""
    statements = []
    for index, statement in enumerate(_as_list(document["Statement"])):
        if index != grant.index:
            statements.append(statement)
            continue
        for action in _as_list(statement["Action"]):
            for resource in _as_list(statement["Resource"]):
                if (action, _resource_text(resource)) != (grant.action, grant.resource):
                    sid = f"{statement.get('Sid', 'S')}{len(statements)}"  # Sids stay unique
                    statements.append(
                        {**statement, "Sid": sid, "Action": action, "Resource": resource}
                    )
    return {**document, "Statement": statements}


# ------------------------------------------------------------------ moto gaps


def _scheduler_resource(response: Any) -> str:
    path = response.uri.split("?")[0]
    if "/schedules/" not in path:
        return "*"
    name = path.rsplit("/", 1)[-1]
    group = response._get_param("GroupName") or response._get_param("groupName") or "default"
    return f"arn:{PARTITION}:scheduler:{response.region}:{response.current_account}:schedule/{group}/{name}"


def _secret_resource(response: Any) -> str:
    secret_id = response._get_param("SecretId")
    if not isinstance(secret_id, str):
        return "*"
    if secret_id.startswith("arn:"):
        return secret_id
    secret = response.backend.secrets.get(secret_id)
    return str(secret.arn) if secret is not None else "*"


def _check_pass_role(response: Any) -> None:
    """AWS authorizes ``iam:PassRole`` on the target's role for ``CreateSchedule``; moto not."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import AccessDeniedError
    from moto.iam.access_control import IAMPolicy, IAMRequest, PermissionResult

    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        return
    role_arn = (response._get_param("Target") or {}).get("RoleArn", "")
    request = IAMRequest(
        account_id=response.current_account,
        method=response.method,
        path=response.raw_path,
        data=response.data,
        body=response.raw_body,
        headers=response.headers,
        action="PassRole",
    )
    key = request._access_key
    permitted = False
    for policy in key.collect_policies():
        result = IAMPolicy(policy).is_action_permitted(
            "iam:PassRole",
            role_arn,
            incoming_condition_values={"iam:PassedToService": "scheduler.amazonaws.com"},
        )
        if result == PermissionResult.DENIED:
            permitted = False
            break
        permitted = permitted or result == PermissionResult.PERMITTED
    if not permitted:
        raise AccessDeniedError(user_arn=key.arn, action="iam:PassRole")


@functools.cache
def _shared_loader(data_path: str | None) -> Any:
    from botocore.loaders import create_loader

    return create_loader(data_path)


def share_botocore_loader(monkeypatch: Any) -> None:
    """Every boto3 session of the test reads botocore's service models once (each function's
    cold start makes its own session, which would parse them again: seconds per scenario)."""
    import botocore.session

    monkeypatch.setattr(botocore.session, "create_loader", _shared_loader)


def patch_moto(monkeypatch: Any) -> None:
    """Name the resource of Secrets Manager and Scheduler requests for moto's IAM check, and add
    the ``iam:PassRole`` check of ``CreateSchedule`` (see the module docstring)."""
    from moto.scheduler.responses import EventBridgeSchedulerResponse
    from moto.secretsmanager.responses import SecretsManagerResponse

    monkeypatch.setattr(
        EventBridgeSchedulerResponse, "_determine_resource", _scheduler_resource, raising=False
    )
    monkeypatch.setattr(
        SecretsManagerResponse, "_determine_resource", _secret_resource, raising=False
    )
    create = EventBridgeSchedulerResponse.create_schedule

    def create_schedule(self: Any) -> Any:
        _check_pass_role(self)
        return create(self)

    monkeypatch.setattr(EventBridgeSchedulerResponse, "create_schedule", create_schedule)

    from moto.iam.access_control import IAMRequest

    check_signature = IAMRequest.check_signature

    def check_signature_with_a_body(self: Any) -> None:
        # moto signs a bodiless request (DeleteSchedule) as if its query were the body, and so
        # refuses a correct signature; what is checked here is authorization, not signing
        if self._body or self._method not in ("GET", "DELETE", "HEAD"):
            check_signature(self)

    monkeypatch.setattr(IAMRequest, "check_signature", check_signature_with_a_body)


# ------------------------------------------------------------------ the stack


@dataclass(frozen=True)
class Denial:
    """An AWS call refused for lack of permission."""

    operation: str
    code: str
    message: str


@dataclass
class Stack:
    """The simulated stack: resolved environments, role credentials, recorded denials."""

    resolver: Resolver
    queue_url: str
    queue_arn: str
    group: str
    credentials: dict[str, dict[str, str]]
    denials: list[Denial] = field(default_factory=list)

    def environment(self, function: str, redis_url: str) -> dict[str, str]:
        """The function's environment as the template sets it (the cache URL replaced)."""
        fn = cfn_template()["Resources"][function]["Properties"]
        raw = fn.get("Environment", {}).get("Variables", {})
        env = {name: str(self.resolver(value)) for name, value in raw.items()}
        for name in ("FACTORIAL_REDIS_IAM_USER", "FACTORIAL_REDIS_CACHE_NAME"):
            env.pop(name, None)
        env["FACTORIAL_REDIS_URL"] = redis_url
        return env

    def session(self, role: str) -> Any:
        """A boto3 session with the role's session credentials, its denials recorded."""
        import boto3

        creds = self.credentials[role]
        session = boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=REGION,
        )
        self.record(session)
        return session

    def record(self, session: Any) -> None:
        """Record every refused call of clients made from ``session`` from now on."""

        def after_call(parsed: dict[str, Any], model: Any, **_: Any) -> None:
            error = parsed.get("Error") or {}
            code = str(error.get("Code", ""))
            message = str(error.get("Message", ""))
            if "AccessDenied" in code or "not authorized" in message:
                self.denials.append(Denial(model.name, code, message))

        session.events.register("after-call", after_call)

    def denied(self, action: str) -> bool:
        """Whether a call was refused for ``action`` (e.g. ``sqs:SendMessage``)."""
        return any(action in d.message for d in self.denials)


def _create_resources(resolver: Resolver, template: dict[str, Any], cache: tuple[str, int]) -> None:
    """The queue, secrets and schedule group in moto; names and ARNs of the rest (log groups,
    functions, cache, API) made up. Fills the resolver's tables."""
    import boto3

    refs, attrs, arn = resolver.refs, resolver.attrs, f"arn:{PARTITION}"
    sqs = boto3.client("sqs", region_name=REGION)
    for name in resources(template, "AWS::SQS::Queue"):
        refs[name] = sqs.create_queue(QueueName=f"{STACK}-{name}")["QueueUrl"]
        attrs[f"{name}.Arn"] = f"{arn}:sqs:{REGION}:{ACCOUNT}:{STACK}-{name}"
        attrs[f"{name}.QueueName"] = f"{STACK}-{name}"
    secrets = boto3.client("secretsmanager", region_name=REGION)
    values = {"HookSecret": HOOK_SECRET, "ModelKeySecret": MODEL_KEY}
    for name, secret in resources(template, "AWS::SecretsManager::Secret").items():
        if "Condition" in secret:  # a webhook source's secret: not created by default
            continue
        created = secrets.create_secret(Name=f"{STACK}-{name}", SecretString=values[name])
        refs[name] = created["ARN"]
    secrets.create_secret(Name=f"{STACK}/webhooks/github", SecretString=GITHUB_WEBHOOK_SECRET)
    scheduler = boto3.client("scheduler", region_name=REGION)
    for name, group in resources(template, "AWS::Scheduler::ScheduleGroup").items():
        refs[name] = resolver(group["Properties"]["Name"])
        scheduler.create_schedule_group(Name=refs[name])
    for name in resources(template, "AWS::Logs::LogGroup"):
        attrs[f"{name}.Arn"] = f"{arn}:logs:{REGION}:{ACCOUNT}:log-group:{STACK}-{name}:*"
    for name in resources(template, "AWS::Lambda::Function"):
        attrs[f"{name}.Arn"] = f"{arn}:lambda:{REGION}:{ACCOUNT}:function:{STACK}-{name}"
    refs["Cache"], refs["CacheUser"] = f"fa-{STACK}-cache", f"fa-{STACK}-user"
    attrs["Cache.ARN"] = f"{arn}:elasticache:{REGION}:{ACCOUNT}:serverlesscache:{refs['Cache']}"
    attrs["CacheUser.Arn"] = f"{arn}:elasticache:{REGION}:{ACCOUNT}:user:{refs['CacheUser']}"
    attrs["Cache.Endpoint.Address"], attrs["Cache.Endpoint.Port"] = cache[0], str(cache[1])
    attrs["Api.ApiEndpoint"] = API_ENDPOINT


def _create_roles(
    resolver: Resolver, template: dict[str, Any], remove: Grant | None
) -> dict[str, dict[str, str]]:
    """Every role of the template with its resolved trust and policies (managed ones: one copy
    per role); returns each role's STS session credentials."""
    import boto3

    iam = boto3.client("iam", region_name=REGION)
    sts = boto3.client("sts", region_name=REGION)
    credentials: dict[str, dict[str, str]] = {}
    roles = resources(template, "AWS::IAM::Role")
    for role in sorted(roles, key=lambda r: r != "SchedulerRole"):  # PassRole statements name it
        props = roles[role]["Properties"]
        trust = json.dumps(resolver(props["AssumeRolePolicyDocument"]))
        role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        resolver.attrs[f"{role}.Arn"] = role_arn
        inline = {p["PolicyName"] for p in props.get("Policies", [])}
        inline |= set(resources(template, "AWS::IAM::Policy"))
        for policy, document in role_policies(role):
            if remove is not None and (remove.role, remove.policy) == (role, policy):
                document = _without(document, remove)
                if not document["Statement"]:
                    continue  # nothing left of that policy
            text = json.dumps(resolver(document))
            if policy in inline:
                iam.put_role_policy(RoleName=role, PolicyName=policy, PolicyDocument=text)
                continue
            name = f"{role}-{policy}-{uuid.uuid4().hex[:6]}"
            created = iam.create_policy(PolicyName=name, PolicyDocument=text)["Policy"]["Arn"]
            resolver.refs[policy] = created
            iam.attach_role_policy(RoleName=role, PolicyArn=created)
        session = f"{role}-session"
        credentials[role] = sts.assume_role(RoleArn=role_arn, RoleSessionName=session)[
            "Credentials"
        ]
    return credentials


@contextmanager
def simulated_stack(
    monkeypatch: Any,
    *,
    cache_host: str,
    cache_port: int,
    params: dict[str, str],
    remove: Grant | None = None,
) -> Iterator[Stack]:
    """The stack's AWS side in moto, IAM enforced once set up. ``remove``: one grant left out of
    its role (to prove it is needed)."""
    patch_moto(monkeypatch)
    share_botocore_loader(monkeypatch)
    template = cfn_template()
    defaults = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    resolver = Resolver({**defaults, **params}, {}, {})
    with mock_aws(), disable_iam_authentication():
        _create_resources(resolver, template, (cache_host, cache_port))
        credentials = _create_roles(resolver, template, remove)
        (group,) = resources(template, "AWS::Scheduler::ScheduleGroup")
        stack = Stack(
            resolver=resolver,
            queue_url=resolver.ref("TurnQueue"),
            queue_arn=resolver.get_att("TurnQueue.Arn"),
            group=resolver.ref(group),
            credentials=credentials,
        )
        with enable_iam_authentication():
            yield stack


def admin_session() -> Any:
    """A session for the test's own look at moto's state (with :func:`admin`)."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=REGION,
    )


def admin(action: Callable[[], Any]) -> Any:
    """Run ``action`` with IAM enforcement off (the test's own look at moto's state)."""
    with disable_iam_authentication():
        return action()
