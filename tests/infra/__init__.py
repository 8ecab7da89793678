"""Tests of the SAM deployment: template.yaml, infra/ and docs/deploy.md.

``template_routes()`` (re-exported from :mod:`tests.infra.template`) lists the HTTP API's routes so
that a test of the API handler can compare its own routes with the template's.
"""

from tests.infra.template import template_routes

__all__ = ["template_routes"]
