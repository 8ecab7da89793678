"""The hook page: ``GET /hooks/{hook_id}`` for a browser, a form generated from the hook's schema.

The page never resolves anything by itself (mail scanners follow links): a small inline script
POSTs the form as JSON to ``./<hook_id>/resolve`` with the token taken from the page's own
``?token=`` in the ``X-Hook-Token`` header, and shows the answer (or the 422 message). Fields:
boolean -> checkbox, string -> text input, number/integer -> number input, enum -> select,
anything else -> a JSON textarea. Every value from the hook (title, body, field names, defaults)
is HTML-escaped; the script is static and allowed by its hash in the Content-Security-Policy,
and ``Referrer-Policy: no-referrer`` keeps the token in the URL from leaking to other sites.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from factorial_aws.store.hooks import HookView

_SCRIPT = """
(function () {
  var form = document.getElementById("hook-form");
  if (!form) { return; }
  var out = document.getElementById("result");
  var token = new URLSearchParams(window.location.search).get("token") || "";
  var key = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now());
  function show(kind, text) { out.className = kind; out.textContent = text; }
  function collect() {
    var payload = {};
    Array.prototype.forEach.call(form.querySelectorAll("[data-kind]"), function (el) {
      var kind = el.getAttribute("data-kind"), raw = el.value;
      if (kind === "checkbox") { payload[el.name] = el.checked; return; }
      if (raw === "") { if (kind === "text" && el.required) { payload[el.name] = ""; } return; }
      if (kind === "number") { payload[el.name] = Number(raw); }
      else if (kind === "select" || kind === "json") { payload[el.name] = JSON.parse(raw); }
      else { payload[el.name] = raw; }
    });
    return payload;
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var payload;
    try { payload = collect(); }
    catch (err) { show("error", "Not valid JSON: " + err.message); return; }
    var button = form.querySelector("button");
    button.disabled = true;
    fetch("./" + encodeURIComponent(form.getAttribute("data-hook-id")) + "/resolve", {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-Hook-Token": token, "Idempotency-Key": key},
      body: JSON.stringify(payload)
    }).then(function (r) {
      return r.json().then(function (b) { return {status: r.status, body: b}; });
    }).then(function (res) {
      if (res.status === 200) { form.hidden = true; show("ok", "Submitted. Thank you."); return; }
      button.disabled = false;
      show("error", (res.body.error && res.body.error.message) || ("HTTP " + res.status));
    }).catch(function (err) { button.disabled = false; show("error", "Failed: " + err.message); });
  });
})();
"""

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
label { display: block; margin: 1rem 0 0.25rem; font-weight: 600; }
input[type=text], input[type=number], select, textarea { width: 100%; box-sizing: border-box; }
textarea { min-height: 6rem; font-family: monospace; }
.meta { color: #555; } .ok { color: #05620b; } .error { color: #a00; white-space: pre-wrap; }
button { margin-top: 1.5rem; padding: 0.5rem 1.5rem; }
"""


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


#: Headers of the hook page.
HTML_HEADERS: Final[dict[str, str]] = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        f"default-src 'none'; script-src '{_sha256(_SCRIPT)}'; style-src '{_sha256(_STYLE)}'; "
        "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
}
HTML = "text/html; charset=utf-8"


def prefers_html(accept: str | None) -> bool:
    """Whether an ``Accept`` header ranks ``text/html`` above ``application/json``."""
    if not accept:
        return False
    ranks: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranks[media.lower()] = max(quality, ranks.get(media.lower(), 0.0))
    wildcard = max(ranks.get("*/*", 0.0), ranks.get("text/*", 0.0))
    html = ranks.get("text/html", wildcard)
    json_wildcard = max(ranks.get("*/*", 0.0), ranks.get("application/*", 0.0))
    json_rank = ranks.get("application/json", json_wildcard)
    return html > 0 and html > json_rank


def _deref(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` and unwrap ``anyOf [X, null]`` (an optional field)."""
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = defs.get(ref.removeprefix("#/$defs/"))
        prop = {**target, **{k: v for k, v in prop.items() if k != "$ref"}} if target else prop
    options = prop.get("anyOf")
    if isinstance(options, list):
        non_null = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
        if len(non_null) == 1:
            merged = {**prop, **_deref(non_null[0], defs)}
            merged.pop("anyOf", None)
            return merged
    return prop


def _input(name: str, prop: dict[str, Any], required: bool) -> str:
    """The control of one field."""
    attrs = f'name="{escape(name)}" id="f-{escape(name)}"' + (" required" if required else "")
    default = prop.get("default")
    enum = prop.get("enum", [prop["const"]] if "const" in prop else None)
    kind = prop.get("type")
    if isinstance(enum, list) and enum:
        blank = "" if required else '<option value=""></option>'
        options = "".join(
            f'<option value="{escape(json.dumps(v))}"{" selected" if v == default else ""}>'
            f"{escape(str(v))}</option>"
            for v in enum
        )
        return f'<select data-kind="select" {attrs}>{blank}{options}</select>'
    if kind == "boolean":
        checked = " checked" if default is True else ""
        named = f'name="{escape(name)}" id="f-{escape(name)}"'
        return f'<input type="checkbox" data-kind="checkbox" {named}{checked}>'
    if kind == "string":
        value = f' value="{escape(default)}"' if isinstance(default, str) else ""
        return f'<input type="text" data-kind="text" {attrs}{value}>'
    if kind in ("number", "integer"):
        step = "1" if kind == "integer" else "any"
        value = f' value="{escape(str(default))}"' if isinstance(default, int | float) else ""
        return f'<input type="number" step="{step}" data-kind="number" {attrs}{value}>'
    text = escape(json.dumps(default)) if "default" in prop else ""
    return f'<textarea data-kind="json" {attrs}>{text}</textarea>'


def _fields(schema: dict[str, Any]) -> str:
    defs = schema.get("$defs") or {}
    required = set(schema.get("required") or [])
    out = []
    for name, raw in (schema.get("properties") or {}).items():
        prop = _deref(raw if isinstance(raw, dict) else {}, defs)
        label = escape(str(prop.get("title") or name))
        hint = prop.get("description")
        note = f'<div class="meta">{escape(str(hint))}</div>' if hint else ""
        star = " *" if name in required else ""
        control = _input(name, prop, name in required)
        out.append(f'<label for="f-{escape(name)}">{label}{star}</label>{note}{control}')
    return "\n".join(out)


def render_hook_page(view: HookView) -> str:
    """The whole page: title, body, status and expiry, and the form while the hook is open."""
    title = escape(view.title or "Input requested")
    body = f"<p>{escape(view.body)}</p>" if view.body else ""
    expires = escape(view.expires_at.isoformat())
    if view.status == "requested":
        main = (
            f'<form id="hook-form" data-hook-id="{escape(view.hook_id)}">\n'
            f'{_fields(view.schema)}\n<button type="submit">Submit</button>\n</form>'
            f'\n<p id="result" role="status"></p>'
        )
    else:
        main = f'<p class="meta">This request is {escape(view.status)}; nothing more to do.</p>'
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_STYLE}</style></head>\n<body>\n<h1>{title}</h1>\n{body}"
        f'\n<p class="meta">Status: {escape(view.status)}. Expires at {expires}.</p>\n{main}'
        f"\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )
