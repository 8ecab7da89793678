"""The documentation matches the code it describes.

- every ```python block of docs/*.md compiles (```text, ```py-nocheck and the rest are not checked);
- every relative Markdown link of docs/*.md and README.md points at an existing file, and its
  #fragment (if any) at a heading of the target;
- docs/README.md links every page of docs/;
- every error code docs/http-api.md mentions is the ``code`` of an error class (the tree of
  ``factorial_aws.errors`` plus the API-only classes of ``factorial_aws.aws.api_errors``), or the
  API's catch-all ``internal_error``; and every status it pairs with a code is the one
  ``STATUS_BY_CODE`` gives;
- the route table of docs/http-api.md lists exactly the routes, operation ids and answers of the
  OpenAPI document.

Reads files and builds the API resolver once; no server, no network.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
LINKED_FILES = [*PAGES, ROOT / "README.md"]

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S
)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _blocks(path: Path) -> list[tuple[int, str, str]]:
    """(line number, info string, body) of each fenced code block."""
    text = path.read_text()
    return [
        (text.count("\n", 0, m.start()) + 1, m.group("info").strip(), _dedent(m))
        for m in _FENCE.finditer(text)
    ]


def _dedent(match: re.Match[str]) -> str:
    indent = len(match.group("indent"))
    return "".join(line[indent:] for line in match.group("body").splitlines(keepends=True))


def _prose(path: Path) -> str:
    """The page without its code blocks and inline code spans."""
    return _INLINE_CODE.sub("", _FENCE.sub("", path.read_text()))


def _python_blocks() -> list[tuple[str, str]]:
    return [
        (f"{page.name}:{line}", body)
        for page in PAGES
        for line, info, body in _blocks(page)
        if info == "python"
    ]


@pytest.mark.parametrize(("where", "source"), _python_blocks(), ids=lambda v: v if ":" in v else "")
def test_python_blocks_compile(where: str, source: str) -> None:
    compile(source, where, "exec", dont_inherit=True)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = heading.replace("`", "").replace("*", "").lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def _anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    out = set()
    text = _FENCE.sub("", path.read_text())
    for m in _HEADING.finditer(text):
        slug = _slug(m.group(1).strip())
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return frozenset(out)


def _links() -> list[tuple[str, Path, str]]:
    found = []
    for path in LINKED_FILES:
        for target in _LINK.findall(_prose(path)):
            if _SCHEME.match(target) or target.startswith("//"):
                continue
            found.append((f"{path.relative_to(ROOT)} -> {target}", path, target))
    return found


@pytest.mark.parametrize(
    ("where", "page", "target"), _links(), ids=lambda v: v if "->" in str(v) else ""
)
def test_relative_links_resolve(where: str, page: Path, target: str) -> None:
    file_part, _, fragment = target.partition("#")
    resolved = (page.parent / file_part).resolve() if file_part else page
    assert resolved.exists(), f"{where}: no such file {resolved}"
    if fragment and resolved.suffix == ".md":
        assert fragment in _anchors(resolved), (
            f"{where}: no heading #{fragment} in {resolved.name}; it has {sorted(_anchors(resolved))}"
        )


def test_the_index_links_every_page() -> None:
    index = DOCS / "README.md"
    linked = {(DOCS / t.partition("#")[0]).resolve() for t in _LINK.findall(_prose(index))}
    missing = [p.name for p in PAGES if p != index and p.resolve() not in linked]
    assert not missing, f"docs/README.md does not link {missing}"


# --- docs/http-api.md against the code ---------------------------------------------------------

HTTP_API = DOCS / "http-api.md"
#: Answered by the API's catch-all handler (factorial_aws/aws/api.py); no error class has it.
CATCH_ALL = "internal_error"
_STATUS_CODE_PAIRS = (
    re.compile(r"`([1-5]\d\d) ([a-z][a-z0-9_]*)`"),  # `404 task_not_found`
    re.compile(r"^\|\s*`([a-z][a-z0-9_]*)`\s*\|\s*([1-5]\d\d)\s*\|", re.M),  # | `code` | 404 |
    re.compile(r"^\|\s*([1-5]\d\d)\s*\|\s*`([a-z][a-z0-9_]*)`\s*\|", re.M),  # | 404 | `code` |
)
_ROUTE_ROW = re.compile(
    r"^\|\s*(GET|POST|PUT|PATCH|DELETE)\s*\|\s*`([^`]+)`\s*\|\s*`([a-z_]+)`\s*\|[^|]*\|\s*([\d, ]+)\|\s*$",
    re.M,
)


def _error_classes() -> dict[str, type]:
    import factorial_aws.agents.schema
    import factorial_aws.aws.api_errors  # noqa: F401 - the API-only codes
    from factorial_aws.errors import FactorialError

    found: dict[str, type] = {}
    todo: list[type] = [FactorialError]
    while todo:
        cls = todo.pop()
        found[cls.__dict__.get("code", "")] = cls
        todo.extend(cls.__subclasses__())
    found.pop("", None)
    return found


def _mentioned_pairs() -> list[tuple[str, int | None]]:
    """(code, status or None) for every error code docs/http-api.md mentions."""
    text = HTTP_API.read_text()
    pairs: list[tuple[str, int | None]] = []
    for pattern in _STATUS_CODE_PAIRS:
        for a, b in pattern.findall(text):
            status, code = (a, b) if a.isdigit() else (b, a)
            pairs.append((code, int(status)))
    for _, info, body in _blocks(HTTP_API):
        if info != "json":
            continue
        doc = json.loads(body)
        if isinstance(doc, dict) and set(doc) == {"error"}:
            pairs.append((doc["error"]["code"], None))
    return pairs


def test_error_codes_in_the_http_api_page_exist() -> None:
    from factorial_aws.aws.api_errors import STATUS_BY_CODE

    classes = _error_classes()
    pairs = _mentioned_pairs()
    assert len({c for c, _ in pairs}) >= 15, "the error table of http-api.md was not found"
    unknown = sorted({c for c, _ in pairs if c not in classes and c != CATCH_ALL})
    assert not unknown, f"http-api.md mentions error codes no error class has: {unknown}"
    assert f'"{CATCH_ALL}"' in (ROOT / "factorial_aws/aws/api.py").read_text()
    wrong = sorted(
        (code, status, STATUS_BY_CODE.get(code, 500))
        for code, status in pairs
        if status is not None and STATUS_BY_CODE.get(code, 500) != status
    )
    assert not wrong, f"(code, documented status, real status): {wrong}"
    undocumented = sorted(set(STATUS_BY_CODE) - {c for c, _ in pairs})
    assert not undocumented, f"STATUS_BY_CODE codes missing from http-api.md: {undocumented}"


def _openapi_routes() -> dict[tuple[str, str], tuple[str, frozenset[int]]]:
    from factorial_aws import Agent, App
    from factorial_aws.aws.api import build_api, openapi_document
    from factorial_aws.core.clock import SystemClock
    from factorial_aws.runtime.control import Control
    from factorial_aws.runtime.dispatch import Dispatcher

    app = App([Agent(name="a", instructions="-", model="m")])
    control = Control(app, None, Dispatcher(None, None, SystemClock()), b"s", "https://x.test")  # type: ignore[arg-type]
    doc = openapi_document(build_api(control, require_iam=True))
    return {
        (method.upper(), path): (op["operationId"], frozenset(int(s) for s in op["responses"]))
        for path, item in doc["paths"].items()
        for method, op in item.items()
    }


def test_the_route_table_matches_the_openapi_document() -> None:
    documented = {
        (method, path): (op, frozenset(int(s) for s in statuses.replace(",", " ").split()))
        for method, path, op, statuses in _ROUTE_ROW.findall(HTTP_API.read_text())
    }
    assert documented == _openapi_routes()


# --- docs/deploy.md and docs/operations.md against template.yaml --------------------------------


def _template_resources(kind: str) -> set[str]:
    from tests.infra.template import sam_template

    return {n for n, r in sam_template()["Resources"].items() if r["Type"] == kind}


def test_the_alarm_table_lists_exactly_the_template_alarms() -> None:
    """Every alarm docs/operations.md's table names exists, and every alarm is in the table."""
    text = (DOCS / "operations.md").read_text()
    section = text[text.index("## Alarms") : text.index("## The maintenance sweep")]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`(\w+Alarm)`", row.split("|")[1])}
    assert documented == _template_resources("AWS::CloudWatch::Alarm")
    named_anywhere = set(re.findall(r"`(\w+Alarm)`", text + (DOCS / "deploy.md").read_text()))
    assert named_anywhere <= _template_resources("AWS::CloudWatch::Alarm"), named_anywhere


def test_the_parameter_table_lists_exactly_the_template_parameters() -> None:
    from tests.infra.template import sam_template

    text = (DOCS / "deploy.md").read_text()
    table = text[text.index("| parameter | default | meaning |") : text.index("The model is not")]
    rows = [row for row in table.splitlines()[2:] if row.startswith("|")]
    documented = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert documented == set(sam_template()["Parameters"])


def test_the_outputs_named_in_deploy_md_exist() -> None:
    from tests.infra.template import sam_template

    text = (DOCS / "deploy.md").read_text()
    line = text[text.index("Outputs: ") : text.index("```sh", text.index("Outputs: "))]
    assert set(re.findall(r"`(\w+)`", line)) == set(sam_template()["Outputs"])


def test_the_cache_access_table_lists_exactly_the_acl_commands() -> None:
    """docs/deploy.md's "Cache access" table names each command the cache user's access string
    grants, and no other (``+script|load`` is written ``SCRIPT LOAD``)."""
    from tests.infra.cache_acl import access_string

    text = (DOCS / "deploy.md").read_text()
    section = text[text.index("### Cache access") : text.index("## How the template is built")]
    rows = [row.split("|")[1] for row in section.splitlines() if row.startswith("| `")]
    documented = {
        c.lower().replace(" ", "|") for row in rows for c in re.findall(r"`([A-Z ]+)`", row)
    }
    granted = {rule[1:] for rule in access_string().split() if rule.startswith("+")}
    assert documented == granted


def test_the_permissions_table_names_every_role() -> None:
    text = (DOCS / "deploy.md").read_text()
    section = text[text.index("## Permissions") : text.index("### Cache access")]
    documented = set(re.findall(r"^\| `(\w+Role)`", section, re.MULTILINE))
    assert documented == _template_resources("AWS::IAM::Role")
