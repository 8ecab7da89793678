"""Core: ids, clock, records, outcomes, the status table and the codec.

Imports only pydantic, the standard library and ``errors``.
"""
