"""The authoring API: tools, hooks, waits, sub-agents, agents and the app registry.

Imports ``core``, ``errors`` and pydantic only, so importing it is cheap (no boto3, openai, redis).
"""
