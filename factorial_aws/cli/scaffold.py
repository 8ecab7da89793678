"""``factorial-aws init DIR``: a new project with a hook-gated agent, its test and a SAM setup.

``template.yaml``, ``handlers/`` and ``infra/lambda/`` (the functions' build: Makefile, build
script, requirement sets) are not in the wheel: when this package runs from a source checkout (the
repository root holds them next to ``factorial_aws/``), they are copied from there, with the
template's ``AppImport`` default set to ``app:app``; otherwise the project's README says where to
take them from.

``factorial-aws`` is not on PyPI, so the project installs the framework from where this copy came
from: ``--from SPEC`` (a path or a pip VCS URL such as ``git+https://host/repo@tag``), else the
source tree this package runs from, else the path or VCS URL pip recorded when it was installed
(``direct_url.json``, PEP 610); with none, the README and requirements.txt say to fill it in.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from factorial_aws.cli import templates
from factorial_aws.cli.errors import CliError, UsageError

if TYPE_CHECKING:
    import argparse

    from factorial_aws.cli.output import Console

_AGENT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_STACK_CHARS = 52
_APP_IMPORT_DEFAULT = "    Default: examples.payments.app:app\n"
HANDLERS = ("__init__.py", "api.py", "turn.py", "maintenance.py")
#: The build the template's functions name (``CodeUri: infra/lambda``, ``BuildMethod: makefile``).
BUILD_DIR = Path("infra", "lambda")


INIT_HELP = """\
Create DIR with app.py (an agent with one hook-gated tool), tests/test_app.py (drives it with a
scripted model), samconfig.toml, requirements.txt, README.md, and template.yaml, handlers/ and
infra/lambda/ when this factorial_aws runs from its repository. DIR must not exist or be empty.
"""


def register(sub: Any) -> None:
    """Add ``init`` to the subcommands ``sub``."""
    init = sub.add_parser(
        "init",
        help="scaffold a new project (agent, test, SAM template)",
        description=INIT_HELP,
        epilog="example: factorial-aws init refunds && cd refunds && pytest",
    )
    init.add_argument("dir", metavar="DIR", help="the new project's directory")
    init.add_argument(
        "--name",
        metavar="NAME",
        help="the agent's name (default: from DIR; letters, digits, - and _)",
    )
    init.add_argument(
        "--from",
        dest="source",
        metavar="SPEC",
        help="where the project installs factorial_aws from: a path or a VCS URL "
        "(git+https://...; default: where this copy was installed from)",
    )
    init.set_defaults(handler=cmd_init)


def agent_name(directory: Path, name: str | None) -> str:
    """``name``, or one derived from the directory's name.

    Raises:
        UsageError: ``name`` is not a valid agent name.
    """
    if name is not None:
        if not _AGENT_NAME.match(name):
            raise UsageError(
                "invalid_name", f"{name!r}: an agent name is 1-64 letters, digits, - and _"
            )
        return name
    derived = re.sub(r"[^A-Za-z0-9_-]+", "_", directory.resolve().name).strip("_-")[:64]
    return derived or "agent"


def stack_name(name: str) -> str:
    """A CloudFormation stack name for the dev stage of ``name``."""
    base = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-") or "agents"
    if not base[0].isalpha():
        base = "fa-" + base
    return (base[: _MAX_STACK_CHARS - 4].rstrip("-") or "agents") + "-dev"


def source_checkout() -> Path | None:
    """The repository root this package runs from, if it holds the template and handlers."""
    import factorial_aws

    root = Path(factorial_aws.__file__).resolve().parent.parent
    if (root / "template.yaml").is_file() and all(
        (root / "handlers" / h).is_file() for h in HANDLERS
    ):
        return root
    return None


@dataclass(frozen=True)
class InstallSource:
    """Where a project gets factorial_aws: a local source tree (``path``) or a pip VCS URL."""

    spec: str

    @property
    def is_path(self) -> bool:
        """A directory, not a URL."""
        return "://" not in self.spec and not self.spec.startswith("git+")

    def pip_args(self) -> str:
        """What to give ``pip install`` (editable for a source tree: edits show at once)."""
        return f"-e {self.spec}" if self.is_path else f"'factorial-aws @ {self.spec}'"

    def requirement(self) -> str:
        """The requirements.txt line (``sam build`` installs it)."""
        if self.is_path:
            return f"factorial-aws @ {Path(self.spec).resolve().as_uri()}"
        return f"factorial-aws @ {self.spec}"


def install_source(given: str | None) -> InstallSource | None:
    """``given``, else this package's source tree, else what pip recorded installing it."""
    if given:
        source = InstallSource(given)
        return InstallSource(str(Path(given).expanduser().resolve())) if source.is_path else source
    root = source_checkout()
    if root is not None and (root / "pyproject.toml").is_file():
        return InstallSource(str(root))
    return _recorded_source()


def _recorded_source() -> InstallSource | None:
    from importlib import metadata

    try:
        text = metadata.distribution("factorial-aws").read_text("direct_url.json")
        recorded = json.loads(text or "null")
    except (metadata.PackageNotFoundError, ValueError):
        return None
    if not isinstance(recorded, dict) or not isinstance(recorded.get("url"), str):
        return None
    url: str = recorded["url"]
    vcs = recorded.get("vcs_info")
    if isinstance(vcs, dict):
        commit = vcs.get("commit_id") or vcs.get("requested_revision")
        return InstallSource(f"{vcs.get('vcs', 'git')}+{url}" + (f"@{commit}" if commit else ""))
    if url.startswith("file://") and "dir_info" in recorded:
        from urllib.parse import unquote, urlsplit

        return InstallSource(unquote(urlsplit(url).path))
    return None  # a wheel or an archive: a URL that may not be there tomorrow


def cmd_init(args: argparse.Namespace, console: Console) -> int:
    """``init``: refuse a non-empty directory, then write every file."""
    target = Path(args.dir)
    if target.exists() and not target.is_dir():
        raise CliError("not_a_directory", f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()):
        raise CliError("dir_not_empty", f"{target} is not empty; give a new or empty directory")
    name = agent_name(target, args.name)
    root = source_checkout()
    source = install_source(args.source)
    values = {
        "name": name,
        "stack": stack_name(name),
        "deploy_note": "" if root else " (see below)",
        "install": source.pip_args() if source else "FACTORIAL_AWS",
        "requirement": source.requirement() if source else templates.NO_SOURCE_REQUIREMENT,
        "source_note": "" if source else templates.NO_SOURCE_NOTE,
    }
    files = {
        "app.py": templates.APP_PY,
        "tests/test_app.py": templates.TEST_APP_PY,
        "pyproject.toml": templates.PYPROJECT_TOML,
        "requirements.txt": templates.REQUIREMENTS_TXT,
        "samconfig.toml": templates.SAMCONFIG_TOML,
        ".gitignore": templates.GITIGNORE,
        "README.md": templates.README_MD + ("" if root else templates.NO_TEMPLATE_NOTE),
    }
    try:
        target.mkdir(parents=True, exist_ok=True)
        for relative, text in files.items():
            _write(target / relative, Template(text).substitute(values))
        if root is not None:
            template = (root / "template.yaml").read_text(encoding="utf-8")
            _write(
                target / "template.yaml",
                template.replace(_APP_IMPORT_DEFAULT, "    Default: app:app\n", 1),
            )
            for handler in HANDLERS:
                (target / "handlers").mkdir(exist_ok=True)
                shutil.copyfile(root / "handlers" / handler, target / "handlers" / handler)
            (target / BUILD_DIR).mkdir(parents=True, exist_ok=True)
            for build_file in sorted((root / BUILD_DIR).iterdir()):
                if build_file.is_file() and not build_file.name.endswith(".pyc"):
                    shutil.copyfile(build_file, target / BUILD_DIR / build_file.name)
    except OSError as exc:
        raise CliError("init_failed", f"cannot write {target}: {exc}") from None
    console.line(f"created {target}/ with agent {name!r}:")
    copied = ["template.yaml", "handlers/", f"{BUILD_DIR}/"] if root else []
    for relative in sorted([*files, *copied]):
        console.line(f"  {relative}")
    if root is None:
        console.line("template.yaml and handlers/ are not bundled: see README.md to add them")
    if source is None:
        console.line(
            "factorial_aws is not on PyPI and this copy does not say where it came from: "
            "put its path or VCS URL in requirements.txt (or run init again with --from SPEC)"
        )
    else:
        console.line(f"factorial_aws installs from {source.spec}")
    console.line("next:")
    console.line(f"  cd {target} && pytest")
    console.line("  factorial-aws dev app:app")
    return 0


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
