#!/usr/bin/env bash
# Offline template checks: sam validate --lint, SAM translate + cfn-lint, IAM wildcard check.
# Usage: infra/lint.sh  (from anywhere; uses the repo's .venv when present, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
exec "$PY" infra/lint.py "$@"
