"""The store: task and hook state in Valkey/Redis, one Lua script per transition.

Only this package imports ``redis``; it returns ``core`` records and typed outcomes, never
Redis types.
See docs/store.md for the key layout and the transitions.
"""
