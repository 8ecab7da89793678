"""The functions' build configuration: per-function requirement sets and contents.

Fast and offline: the requirement files and the contents rule of infra/lambda/build.py are read
and run without pip (benchmarks/artifacts.py runs the real ``sam build`` and prints the sizes).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.infra.template import (
    BUILD_SCRIPT,
    ROOT,
    build_module,
    resources,
    sam_template,
)

LAMBDA_DIR = ROOT / "infra" / "lambda"
MAKEFILE = LAMBDA_DIR / "Makefile"
FUNCTIONS = {"ApiFunction": "api", "TurnFunction": "turn", "MaintenanceFunction": "maintenance"}
NEVER_SHIPPED = ("tests", "docs", "benchmarks", "infra", ".venv", ".git", "build")


def _requirement_specs(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name = re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-")
            out[name] = line.replace(" ", "")
    return out


def test_every_function_is_built_by_the_makefile() -> None:
    template = sam_template()
    assert template["Globals"]["Function"]["CodeUri"] == "infra/lambda"
    makefile = MAKEFILE.read_text()
    for name, fn in resources(template, "AWS::Serverless::Function").items():
        assert fn["Metadata"] == {"BuildMethod": "makefile"}, name
        assert "CodeUri" not in fn["Properties"], name
        recipe = re.search(rf"^build-{name}:.*\n\t(.+)$", makefile, re.M)
        assert recipe is not None, f"infra/lambda/Makefile has no target build-{name}"
        assert f"$(BUILD) {FUNCTIONS[name]} " in recipe.group(1), recipe.group(1)
    assert set(resources(template, "AWS::Serverless::Function")) == set(FUNCTIONS)


def test_only_the_turn_function_installs_openai() -> None:
    build = build_module()
    names = {
        short: build.requirement_names(build.requirements_file(short))
        for short in FUNCTIONS.values()
    }
    assert "openai" in names["turn"]
    assert "openai" not in names["api"]
    assert "openai" not in names["maintenance"]
    for short, installed in names.items():
        assert not installed & {"boto3", "botocore"}, f"{short}: the runtime provides boto3"
        assert {"pydantic", "redis", "aws-lambda-powertools"} <= installed, short


def test_the_requirement_sets_together_are_the_package_dependencies() -> None:
    """Same specifiers as [project].dependencies, minus boto3 (the Lambda runtime's)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = _requirement_specs(pyproject["project"]["dependencies"])
    shipped: dict[str, str] = {}
    for path in LAMBDA_DIR.glob("requirements-*.txt"):
        shipped |= _requirement_specs(path.read_text().splitlines())
    assert shipped == {k: v for k, v in declared.items() if k not in {"boto3", "botocore"}}


def test_contents_are_the_package_handlers_and_the_app_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    build = build_module()
    app = sam_template()["Parameters"]["AppImport"]["Default"]
    monkeypatch.delenv("FACTORIAL_APP", raising=False)
    assert build.default_app(ROOT) == app  # the build ships what the stack loads by default
    monkeypatch.setenv("FACTORIAL_APP", "app:app")
    assert build.default_app(ROOT) == "app:app"
    files = build.source_files(ROOT, app)
    tops = {f.parts[0] for f in files}
    assert tops == {"factorial_aws", "handlers", "examples"}, tops
    assert not tops & set(NEVER_SHIPPED)
    examples = {f for f in files if f.parts[0] == "examples"}
    # The app's package and its parents' __init__.py: no other example.
    assert all(
        f.parts[:2] == ("examples", "payments") or f == Path("examples/__init__.py")
        for f in examples
    ), examples
    assert Path("examples/payments/app.py") in files
    assert not any(f.suffix in (".pyc", ".pyo") or "__pycache__" in f.parts for f in files)
    # The Lua scripts are package data the store loads: they must be there.
    lua = {p.relative_to(ROOT) for p in (ROOT / "factorial_aws" / "store" / "lua").glob("*.lua")}
    assert lua and lua <= set(files)
    assert {
        Path("handlers/api.py"),
        Path("handlers/turn.py"),
        Path("handlers/maintenance.py"),
    } <= set(files)


@pytest.mark.parametrize(
    ("layout", "app", "expected"),
    [
        ({"app.py": ""}, "app:app", ["app.py"]),
        (
            {"myapp/__init__.py": "", "myapp/agents.py": ""},
            "myapp:app",
            ["myapp/__init__.py", "myapp/agents.py"],
        ),
        (
            {
                "co/__init__.py": "",
                "co/bots/__init__.py": "",
                "co/bots/app.py": "",
                "co/bots/tools.py": "",
                "co/other/x.py": "",
            },
            "co.bots.app:registry.app",
            ["co/__init__.py", "co/bots/__init__.py", "co/bots/app.py", "co/bots/tools.py"],
        ),
    ],
    ids=["module", "package", "nested"],
)
def test_the_app_is_found_like_python_imports_it(
    tmp_path: Path, layout: dict[str, str], app: str, expected: list[str]
) -> None:
    build = build_module()
    for relative, text in layout.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    for package in build.PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    files = {str(f) for f in build.source_files(tmp_path, app)}
    app_files = {f for f in files if f.split("/")[0] not in build.PACKAGES}
    assert app_files == set(expected)


@pytest.mark.parametrize(
    "app", ["missing:app", "pkg.missing:app", "factorial_aws.x:app", "not-a-module:app"]
)
def test_an_app_that_is_not_there_fails_the_build(tmp_path: Path, app: str) -> None:
    build = build_module()
    (tmp_path / "pkg").mkdir()
    with pytest.raises(build.BuildError, match="FACTORIAL_APP"):
        build.app_paths(tmp_path, app)


def test_a_python_other_than_the_runtimes_fails_with_a_clear_message(tmp_path: Path) -> None:
    build = build_module()
    assert build.python_problem((3, 12, 1)) is None
    problem = build.python_problem((3, 11, 7))
    assert problem is not None
    assert "python3.12" in problem and "3.11.7" in problem and "LAMBDA_PYTHON" in problem
    assert build.python_problem((3, 12, 1), "pypy") is not None
    if sys.version_info[:2] != (3, 12):  # this suite's interpreter is the wrong one: prove it
        proc = subprocess.run(
            [sys.executable, str(BUILD_SCRIPT), "api", str(tmp_path / "out"), "--no-deps"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 2
        assert "python3.12" in proc.stderr and "LAMBDA_PYTHON" in proc.stderr
        assert not (tmp_path / "out").exists()  # refused before copying anything


def test_the_makefile_names_the_missing_interpreter(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["make", "-s", "-f", str(MAKEFILE), "build-ApiFunction", f"ARTIFACTS_DIR={tmp_path}",
         "LAMBDA_PYTHON=/nonexistent/python3.12"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "/nonexistent/python3.12" in proc.stderr and "python3.12" in proc.stderr


def test_a_contents_only_build_copies_exactly_the_listed_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = build_module()
    monkeypatch.delenv("FACTORIAL_APP", raising=False)
    out = tmp_path / "api"
    proc = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "api", str(out), "--no-deps", "--no-compile"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    on_disk = {p.relative_to(out) for p in out.rglob("*") if p.is_file()}
    assert on_disk == set(build.source_files(ROOT, build.default_app(ROOT)))


def test_a_scaffolded_project_builds_its_functions_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`factorial-aws init` copies the template and its build; the package comes from pip."""
    project = tmp_path / "refunds"
    made = subprocess.run(
        [sys.executable, "-m", "factorial_aws", "init", str(project), "--name", "refunds"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    for name in ("Makefile", "build.py", "requirements-turn.txt", "requirements-common.txt"):
        assert (project / "infra" / "lambda" / name).is_file(), name
    config = tomllib.loads((project / "samconfig.toml").read_text())["default"]
    assert "manifest" not in config["build"]["parameters"]  # it would be taken as the Makefile
    build = build_module()
    monkeypatch.delenv("FACTORIAL_APP", raising=False)
    monkeypatch.delenv("FACTORIAL_PACKAGE", raising=False)
    assert build.default_app(project) == "app:app"
    assert build.package_spec(project) == "factorial-aws"
    assert build.package_spec(ROOT) is None  # the repository copies its own package
    out = tmp_path / "turn"
    proc = subprocess.run(
        [sys.executable, str(project / "infra" / "lambda" / "build.py"), "turn", str(out),
         "--no-deps", "--no-compile"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    shipped = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert shipped == {
        "app.py",
        *(f"handlers/{h}" for h in ("__init__.py", "api.py", "turn.py", "maintenance.py")),
    }
