"""The store: task and hook state in Valkey/Redis, one Lua script per transition.

Only this package imports ``redis``; it returns ``core`` records and typed outcomes, never
Redis types. See docs/store.md for the key layout and the transitions.

Where each transition's typed wrapper lives (the script is ``lua/<name>.lua``):

- ``tasks.py``: ``create_task``, ``claim_turn``, ``renew_lease`` (a task's turn cycle);
- ``commit.py``: ``commit_turn``;
- ``hooks.py``: ``resolve_hook``, ``expire_hook``, ``rotate_hook_token`` (and ``describe_hook``);
- ``wake_task.py``, ``steer_task.py``, ``reclaim_lapsed_lease.py``, ``cancel_task.py``,
  ``expire_tree.py``: one each, sharing ``transition.py``;
- ``webhooks.py``: ``register_webhook_hook``, ``route_webhook`` (the webhook routing index);
- ``scripts.py``: loading and calling scripts, and ``move_index_entry`` for the global indexes.

Every key is built in ``keys.py``; reads that no transition needs are in ``views.py``.
"""
