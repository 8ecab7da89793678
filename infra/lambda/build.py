"""Build one Lambda function's code directory: what ``sam build`` runs for each function.

``template.yaml`` gives every function ``Metadata: BuildMethod: makefile`` and ``CodeUri:
infra/lambda``; ``sam build`` then runs ``make build-<LogicalId>`` with the Makefile next to this
file and ``ARTIFACTS_DIR`` set, and the Makefile runs this script with the Lambda runtime's Python
(3.12). The artifact holds exactly:

- ``factorial_aws/`` (the package, with its Lua scripts) and ``handlers/``. A project made by
  ``factorial-aws init`` has no ``factorial_aws/`` of its own: the package is then pip-installed
  without its dependencies from ``FACTORIAL_PACKAGE`` (default ``factorial-aws``; a version
  specifier, a wheel or a checkout's path);
- the app named by ``FACTORIAL_APP`` (``module:attribute``, default: the template's ``AppImport``
  default): the package directory holding that module, or the top-level module or package, plus
  the ``__init__.py`` of each enclosing package; nothing else of the repository (no tests, docs,
  benchmarks, other examples, caches or lint leftovers);
- the function's requirement set, pip-installed as manylinux aarch64 wheels for CPython 3.12
  (``requirements-<function>.txt`` here: only the turn function's includes ``openai``);
- ``.pyc`` files compiled by Python 3.12 with ``--invalidation-mode unchecked-hash``: ``/var/task``
  is read-only, so without them every cold start compiles every module it imports (this halves
  the import time of boto3/openai/redis, docs/deploy.md).

Usage (from anywhere; stdlib only)::

    python3.12 infra/lambda/build.py {api,turn,maintenance} ARTIFACTS_DIR
        [--root REPO] [--no-deps] [--no-compile]

``--no-deps``/``--no-compile`` skip the pip install / the compile step (a quick look at the
contents; the version check is only needed for compiling). Exit status 2 with a message naming
the fix when the interpreter is not CPython 3.12.
"""

from __future__ import annotations

import argparse
import compileall
import os
import py_compile
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
#: The Lambda runtime of template.yaml (``Runtime: python3.12``).
RUNTIME_VERSION = (3, 12)
#: ``Architectures: [arm64]``: manylinux wheels for aarch64.
PLATFORM = "manylinux2014_aarch64"
#: Function name (as the Makefile passes it) -> template logical id.
FUNCTIONS = {"api": "ApiFunction", "turn": "TurnFunction", "maintenance": "MaintenanceFunction"}
#: The repository's directories copied into every artifact, whole (minus caches), when present.
PACKAGES = ("factorial_aws", "handlers")
#: What pip installs (without dependencies) when the root has no ``factorial_aws/``.
DEFAULT_PACKAGE_SPEC = "factorial-aws"
#: Never copied, wherever they are.
SKIPPED_NAMES = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")


class BuildError(Exception):
    """The build cannot go on; the message says why and what to do."""


def python_problem(version: tuple[int, ...], implementation: str = "cpython") -> str | None:
    """Why an interpreter of ``version`` cannot build the artifacts, or None if it can."""
    if implementation == "cpython" and tuple(version[:2]) == RUNTIME_VERSION:
        return None
    want = ".".join(map(str, RUNTIME_VERSION))
    have = ".".join(map(str, version[:3]))
    return (
        f"the functions run Lambda's python{want} runtime and their .pyc files must be compiled "
        f"by CPython {want}, but this is {implementation} {have}. Run the build with a Python "
        f"{want}: put python{want} on PATH or set LAMBDA_PYTHON=/path/to/python{want} "
        f"(pyenv: LAMBDA_PYTHON=$(pyenv prefix {want}.1)/bin/python{want})."
    )


def requirements_file(function: str) -> Path:
    """The requirement set of ``function`` (``api``, ``turn`` or ``maintenance``)."""
    if function not in FUNCTIONS:
        raise BuildError(f"unknown function {function!r}: one of {sorted(FUNCTIONS)}")
    return HERE / f"requirements-{function}.txt"


def requirement_names(path: Path) -> set[str]:
    """The distribution names ``path`` installs, following ``-r`` includes (lowercase, ``-``)."""
    names: set[str] = set()
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            names |= requirement_names(path.parent / line.split(None, 1)[1])
            continue
        name = re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0]
        names.add(name.lower().replace("_", "-"))
    return names


def default_app(root: Path) -> str:
    """``FACTORIAL_APP`` if set, else the ``AppImport`` default of ``root/template.yaml``."""
    env = os.environ.get("FACTORIAL_APP", "").strip()
    if env:
        return env
    template = (root / "template.yaml").read_text()
    match = re.search(r"^  AppImport:\n(?:    .*\n)*?    Default: *(\S+)", template, re.M)
    if match is None:
        raise BuildError("set FACTORIAL_APP (template.yaml has no AppImport default)")
    return match.group(1).strip("'\"")


def app_paths(root: Path, app: str) -> list[Path]:
    """What to copy for the app ``module:attribute``, relative to ``root``.

    ``pkg.sub.mod`` -> ``pkg/__init__.py`` and the whole ``pkg/sub/`` directory (the module's
    siblings are often its helpers); ``mod`` -> ``mod.py`` or the package ``mod/``.
    """
    module = app.partition(":")[0]
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", module):
        raise BuildError(f"FACTORIAL_APP={app!r} is not module:attribute")
    parts = module.split(".")
    if parts[0] in PACKAGES:
        raise BuildError(f"FACTORIAL_APP={app!r}: the app cannot live in {parts[0]}/")
    if len(parts) == 1:
        for candidate in (Path(f"{parts[0]}.py"), Path(parts[0])):
            if (root / candidate).exists():
                return [candidate]
        raise BuildError(f"FACTORIAL_APP={app!r}: neither {parts[0]}.py nor {parts[0]}/ in {root}")
    package = Path(*parts[:-1])
    module_file = package / f"{parts[-1]}.py"
    if not (root / module_file).is_file() and not (root / package / parts[-1]).is_dir():
        raise BuildError(f"FACTORIAL_APP={app!r}: no {module_file} in {root}")
    inits = [Path(*parts[:i]) / "__init__.py" for i in range(1, len(parts) - 1)]
    return [*(p for p in inits if (root / p).is_file()), package]


def package_spec(root: Path) -> str | None:
    """What pip installs for the package: None when ``root`` has ``factorial_aws/`` (copied)."""
    if (root / "factorial_aws").is_dir():
        return None
    return os.environ.get("FACTORIAL_PACKAGE", "").strip() or DEFAULT_PACKAGE_SPEC


def source_files(root: Path, app: str) -> list[Path]:
    """Every file of the repository the artifact holds (relative to ``root``), sorted."""
    if not (root / "handlers").is_dir():
        raise BuildError(f"no handlers/ in {root} (copy it from the factorial_aws repository)")
    files: set[Path] = set()
    present = [Path(p) for p in PACKAGES if (root / p).is_dir()]
    for top in [*present, *app_paths(root, app)]:
        if (root / top).is_file():
            files.add(top)
            continue
        for dirpath, dirnames, filenames in os.walk(root / top):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_NAMES)
            for name in filenames:
                if not name.endswith(SKIPPED_SUFFIXES):
                    files.add((Path(dirpath) / name).relative_to(root))
    return sorted(files)


def _copy_sources(root: Path, out: Path, app: str) -> int:
    files = source_files(root, app)
    for relative in files:
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, target)
    return len(files)


def _install(function: str, out: Path, root: Path) -> None:
    spec = package_spec(root)
    if spec is not None:  # pure Python: no platform flags, and a path or sdist may be built
        package = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                   "--root-user-action=ignore", "--no-compile", "--no-deps", "--target", str(out),
                   spec]  # fmt: skip
        subprocess.run(package, check=True)  # noqa: S603 (this interpreter's pip)
    argv = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--root-user-action=ignore", "--no-compile", "--only-binary=:all:", "--platform", PLATFORM,
        "--implementation", "cp",
        "--python-version", ".".join(map(str, RUNTIME_VERSION)), "--target", str(out),
        "-r", str(requirements_file(function)),
    ]  # fmt: skip
    subprocess.run(argv, check=True)  # noqa: S603 (this interpreter's pip)
    shutil.rmtree(out / "bin", ignore_errors=True)  # console scripts: nothing runs them


def _compile(out: Path) -> None:
    ok = compileall.compile_dir(
        str(out),
        quiet=1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise BuildError(f"compileall failed in {out}")


def build(
    function: str, out: Path, *, root: Path = ROOT, deps: bool = True, compile_: bool = True
) -> None:
    """Fill ``out`` with ``function``'s artifact (see the module docstring)."""
    if compile_:
        problem = python_problem(tuple(sys.version_info), sys.implementation.name)
        if problem:
            raise BuildError(problem)
    requirements = requirements_file(function)
    app = default_app(root)
    out.mkdir(parents=True, exist_ok=True)
    copied = _copy_sources(root, out, app)
    if deps:
        _install(function, out, root)
    if compile_:
        _compile(out)
    print(f"{FUNCTIONS[function]}: {copied} files of factorial_aws/, handlers/ and {app}; "
          f"requirements {requirements.name}{'' if deps else ' (skipped)'}; "
          f".pyc {'compiled' if compile_ else 'skipped'} -> {out}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("function", choices=sorted(FUNCTIONS))
    parser.add_argument("artifacts_dir", type=Path)
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--no-deps", action="store_true")
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args(argv)
    try:
        build(
            args.function,
            args.artifacts_dir.resolve(),
            root=args.root.resolve(),
            deps=not args.no_deps,
            compile_=not args.no_compile,
        )
    except BuildError as exc:
        print(f"infra/lambda/build.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
