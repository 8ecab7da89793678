"""The Lua layer's contract: one documented file per transition, keys only from KEYS, key strings
only from store/keys.py, and every script exercised on the one-node cluster (where a key of another
slot fails loudly)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from factorial_aws.store import scripts as scripts_mod
from factorial_aws.store.scripts import Scripts, script_names

PKG = Path(__file__).resolve().parents[2] / "factorial_aws"
LUA = PKG / "store" / "lua"


def test_every_script_documents_keys_argv_and_returns_and_binds_named_locals() -> None:
    assert set(script_names()) == {
        "create_task",
        "claim_turn",
        "commit_turn",
        "resolve_hook",
        "expire_hook",
        "rotate_hook_token",
        "wake_task",
        "cancel_task",
        "steer_task",
        "reclaim_lapsed_lease",
        "renew_lease",
        "move_index_entry",
        "expire_tree",
        "register_webhook_hook",
        "route_webhook",
    }
    for name in script_names():
        text = (LUA / f"{name}.lua").read_text()
        header = text.split("\nlocal ", 1)[0]
        assert header.startswith(f"-- {name}"), name
        for word in ("KEYS[", "ARGV[1]", "Returns"):
            assert word in header, f"{name}.lua header lacks {word}"


def test_scripts_never_spell_a_key() -> None:
    for path in LUA.glob("*.lua"):
        code = "\n".join(line.split("--", 1)[0] for line in path.read_text().splitlines())
        assert "fa:" not in code, path.name
        # redis.call('CMD', '<literal>' ...): a key spelled in Lua instead of passed in KEYS
        assert not re.search(r"redis\.call\(\s*'[A-Z]+'\s*,\s*'", code), path.name


def test_key_strings_are_built_only_in_keys_py() -> None:
    offenders = [
        str(p.relative_to(PKG))
        for p in PKG.rglob("*.py")
        if p.name != "keys.py" and re.search(r"""["']fa:""", p.read_text())
    ]
    assert offenders == []


def test_lua_runs_only_through_scripts_py() -> None:
    offenders = [
        str(p.relative_to(PKG))
        for p in PKG.rglob("*.py")
        if p.name != "scripts.py" and re.search(r"\.(eval|evalsha)\(|EVALSHA", p.read_text())
    ]
    assert offenders == []


def test_every_script_runs_on_the_cluster(valkey_cluster: Any, monkeypatch: Any) -> None:
    """Drive a full life (hooks, waits, children, cancel, gc) on the one-node cluster, recording
    which transitions ran: redis-py refuses any script call whose keys span two slots."""
    from tests.store.scenario import run_full_life

    seen: set[str] = set()
    real_call, real_indexed = Scripts.call, Scripts.call_indexed

    def call(self: Scripts, name: str, keys: Sequence[str], args: Sequence[Any]) -> list[Any]:
        seen.add(name)
        return real_call(self, name, keys, args)

    def indexed(
        self: Scripts, name: str, keys: Sequence[str], args: Sequence[Any], index: Any
    ) -> list[Any]:
        seen.add(name)
        return real_indexed(self, name, keys, args, index)

    real_many = Scripts.call_many

    def many(self: Scripts, name: str, calls: Any) -> list[list[Any]]:
        seen.add(name)
        return real_many(self, name, calls)

    monkeypatch.setattr(scripts_mod.Scripts, "call", call)
    monkeypatch.setattr(scripts_mod.Scripts, "call_indexed", indexed)
    monkeypatch.setattr(scripts_mod.Scripts, "call_many", many)
    from tests.webhooks.apps import GITHUB_SECRET, run_webhook_life

    monkeypatch.setenv("FACTORIAL_WEBHOOK_SECRET_GITHUB", GITHUB_SECRET)
    valkey_cluster.flush()
    client = valkey_cluster.client()
    try:
        run_full_life(client)
        run_webhook_life(client)
    finally:
        client.close()
    assert seen == set(script_names())
