"""The hook page: ``GET /hooks/{hook_id}`` for a browser, a form generated from the hook's schema.

The page never resolves anything by itself (mail scanners follow links): a small inline script
POSTs the form as JSON to ``./<hook_id>/resolve`` with the token taken from the page's own
``?token=`` in the ``X-Hook-Token`` header, and shows the answer. Fields: boolean -> checkbox
(an optional ``bool | None`` -> a select of "\u2014" (null), "yes", "no"), string -> text input,
number/integer -> number input, enum -> select, anything else -> a JSON textarea. The schema's
limits become input attributes (``required``, ``min``/``max``, ``minlength``/``maxlength``,
``step``) so the browser catches them before a round trip; a 422 is shown next to each field it
names, by the field's label (not its JSON path, nor the hook id). Every value from the hook (title,
body, field names, defaults) is HTML-escaped; the script and style are static and allowed by their
hashes in the Content-Security-Policy, and ``Referrer-Policy: same-origin`` keeps the token in the
URL from leaking to other sites (``no-referrer`` would also make the browser send ``Origin: null``
with the form's own post, which the dev server refuses as cross-site).

Without JavaScript the same form still works: it is a plain ``method="post"`` form to the same
``./<hook_id>/resolve``, carrying the page's token in a hidden field, so the browser sends it as
``application/x-www-form-urlencoded``. :func:`form_payload` turns those fields back into the
payload by the hook's schema (the same conversions as the script), and the answer is a small page
(:func:`render_result_page`) instead of JSON.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, quote

if TYPE_CHECKING:
    from factorial_aws.store.hooks import HookView

_SCRIPT = """
(function () {
  var form = document.getElementById("hook-form");
  if (!form) { return; }
  var out = document.getElementById("result");
  var hookId = form.getAttribute("data-hook-id") || "";
  var prefix = "payload does not match hook " + hookId + ": ";
  var token = new URLSearchParams(window.location.search).get("token") || "";
  var key = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now());
  var controls = Array.prototype.slice.call(form.querySelectorAll("[data-kind]"));
  var cleared = false;
  function show(kind, text) { out.className = kind; out.textContent = text; }
  function label(el) { return el.getAttribute("data-label") || el.name; }
  function mark(el, text) {
    var note = document.getElementById("e-" + el.name);
    if (note) { note.textContent = text; }
    if (text) { el.setAttribute("aria-invalid", "true"); }
    else { el.removeAttribute("aria-invalid"); }
  }
  function clearAll() { controls.forEach(function (el) { mark(el, ""); }); show("", ""); }
  function owner(problem) {
    var best = null;
    controls.forEach(function (el) {
      var head = "$." + el.name, next = problem.charAt(head.length);
      if (problem.indexOf(head) === 0 && (next === ":" || next === "." || next === "[") &&
          (!best || el.name.length > best.name.length)) { best = el; }
    });
    return best;
  }
  function explain(message) {
    if (message.indexOf(prefix) !== 0) {
      return message.split("no hook " + hookId).join("no such request")
        .split("hook " + hookId).join("this request");
    }
    var lines = [], notes = {};
    message.slice(prefix.length).split("; ").forEach(function (problem) {
      var el = owner(problem);
      if (!el) { lines.push(problem); return; }
      var rest = problem.slice(el.name.length + 2), cut = rest.indexOf(": ");
      var where = cut > 0 ? rest.slice(0, cut).replace(/^\\./, "") : "";
      var what = cut >= 0 ? rest.slice(cut + 2) : rest;
      var text = (where ? where + ": " : "") + what;
      notes[el.name] = notes[el.name] ? notes[el.name] + "; " + text : text;
      mark(el, notes[el.name]);
      lines.push(label(el) + (where ? " (" + where + ")" : "") + ": " + what);
    });
    return "Not submitted. " + lines.join("; ");
  }
  function collect() {
    var payload = {}, bad = [];
    controls.forEach(function (el) {
      var kind = el.getAttribute("data-kind"), raw = el.value;
      if (kind === "checkbox") { payload[el.name] = el.checked; return; }
      if (raw === "") { if (kind === "text" && el.required) { payload[el.name] = ""; } return; }
      if (kind === "number") { payload[el.name] = Number(raw); return; }
      if (kind !== "select" && kind !== "json") { payload[el.name] = raw; return; }
      try { payload[el.name] = JSON.parse(raw); }
      catch (err) { mark(el, "not valid JSON: " + err.message); bad.push(label(el)); }
    });
    if (bad.length) { throw new Error("not valid JSON in " + bad.join(", ")); }
    return payload;
  }
  form.addEventListener("invalid", function (ev) {
    if (!cleared) { clearAll(); cleared = true; setTimeout(function () { cleared = false; }, 0); }
    mark(ev.target, ev.target.validationMessage);
  }, true);
  form.addEventListener("input", function (ev) { if (ev.target.name) { mark(ev.target, ""); } });
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    clearAll();
    var payload;
    try { payload = collect(); }
    catch (err) { show("error", "Not submitted: " + err.message); return; }
    var button = form.querySelector("button");
    button.disabled = true;
    fetch("./" + encodeURIComponent(hookId) + "/resolve", {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-Hook-Token": token, "Idempotency-Key": key},
      body: JSON.stringify(payload)
    }).then(function (r) {
      return r.json().then(function (b) { return {status: r.status, body: b}; });
    }).then(function (res) {
      if (res.status === 200) { form.hidden = true; show("ok", "Submitted. Thank you."); return; }
      button.disabled = false;
      var message = res.body && res.body.error && res.body.error.message;
      show("error", message ? explain(String(message)) : "HTTP " + res.status);
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
.field-error { color: #a00; font-size: 0.9rem; margin-top: 0.25rem; }
.field-error:empty { display: none; }
[aria-invalid=true] { outline: 2px solid #a00; }
button { margin-top: 1.5rem; padding: 0.5rem 1.5rem; }
"""


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


#: Headers of the hook page.
HTML_HEADERS: Final[dict[str, str]] = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        f"default-src 'none'; script-src '{_sha256(_SCRIPT)}'; style-src '{_sha256(_STYLE)}'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
}
HTML = "text/html; charset=utf-8"
#: What a browser sends a plain form as (the page without JavaScript).
FORM = "application/x-www-form-urlencoded"
#: The hidden field that carries the page's token in the form.
TOKEN_FIELD = "__token"  # noqa: S105 - a field name, not a secret


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


def _deref(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Follow a local ``$ref`` and unwrap ``anyOf [X, null]``: (field, nullable)."""
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = defs.get(ref.removeprefix("#/$defs/"))
        prop = {**target, **{k: v for k, v in prop.items() if k != "$ref"}} if target else prop
    options = prop.get("anyOf")
    if isinstance(options, list):
        non_null = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
        if len(non_null) == 1:
            inner, _ = _deref(non_null[0], defs)
            merged = {**prop, **inner}
            merged.pop("anyOf", None)
            return merged, len(non_null) < len(options)
    kind = prop.get("type")
    if isinstance(kind, list) and "null" in kind and len(kind) == 2:
        return {**prop, "type": next(k for k in kind if k != "null")}, True
    return prop, False


def _number(prop: dict[str, Any], key: str) -> float | None:
    """A finite numeric keyword of the schema (``True`` is not a number here)."""
    value = prop.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def _shown(value: float) -> str:
    """A number as an HTML attribute value (a valid floating-point number)."""
    whole = abs(value) < 1e15 and value == int(value)
    return str(int(value)) if whole else repr(float(value))


def _bounds(prop: dict[str, Any], integer: bool) -> str:
    """``min``/``max`` (and a ``title`` note for exclusive bounds of a number) from the schema.

    An integer's exclusive bound becomes the next integer inside it; a number keeps the bound
    itself (the browser cannot say "greater than"), which the title explains and the API checks.
    """
    low, high = _number(prop, "minimum"), _number(prop, "maximum")
    low_x, high_x = _number(prop, "exclusiveMinimum"), _number(prop, "exclusiveMaximum")
    notes = []
    lows: list[float]
    highs: list[float]
    if integer:
        lows = [math.ceil(v) for v in (low,) if v is not None]
        lows += [math.floor(v) + 1 for v in (low_x,) if v is not None]
        highs = [math.floor(v) for v in (high,) if v is not None]
        highs += [math.ceil(v) - 1 for v in (high_x,) if v is not None]
    else:
        lows = [v for v in (low, low_x) if v is not None]
        highs = [v for v in (high, high_x) if v is not None]
        if low_x is not None and (low is None or low_x >= low):
            notes.append(f"greater than {_shown(low_x)}")
        if high_x is not None and (high is None or high_x <= high):
            notes.append(f"less than {_shown(high_x)}")
    attrs = f' min="{_shown(max(lows))}"' if lows else ""
    attrs += f' max="{_shown(min(highs))}"' if highs else ""
    if notes:
        attrs += f' title="{escape("must be " + " and ".join(notes))}"'
    return attrs


def _lengths(prop: dict[str, Any]) -> str:
    """``minlength``/``maxlength`` from the schema's ``minLength``/``maxLength``."""
    attrs = ""
    for key, attr in (("minLength", "minlength"), ("maxLength", "maxlength")):
        value = prop.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            attrs += f' {attr}="{value}"'
    return attrs


def _select(attrs: str, values: list[Any], labels: list[str], default: Any, blank: str) -> str:
    selected = [v == default and isinstance(v, bool) == isinstance(default, bool) for v in values]
    options = "".join(
        f'<option value="{escape(json.dumps(v))}"{" selected" if chosen else ""}>'
        f"{escape(text)}</option>"
        for v, text, chosen in zip(values, labels, selected, strict=True)
    )
    return f'<select data-kind="select" {attrs}>{blank}{options}</select>'


def _input(name: str, prop: dict[str, Any], required: bool, nullable: bool) -> str:
    """The control of one field; ``required`` only where the browser can check it."""
    label = escape(str(prop.get("title") or name))
    described = f'aria-describedby="e-{escape(name)}"'
    named = f'name="{escape(name)}" id="f-{escape(name)}" data-label="{label}" {described}'
    attrs = named + (" required" if required else "")
    default = prop.get("default")
    enum = prop.get("enum", [prop["const"]] if "const" in prop else None)
    kind = prop.get("type")
    if isinstance(enum, list) and enum:
        values = [v for v in enum if v is not None]
        if nullable or None in enum:  # null is a real answer: "—", preselected by a null default
            blank = '<option value="null">\u2014</option>'
        else:
            blank = "" if required else '<option value=""></option>'
        return _select(attrs, values, [str(v) for v in values], default, blank)
    if kind == "boolean" and nullable:  # a checkbox could never send null
        blank = '<option value="null">\u2014</option>'
        return _select(attrs, [True, False], ["yes", "no"], default, blank)
    if kind == "boolean":
        checked = " checked" if default is True else ""
        return f'<input type="checkbox" data-kind="checkbox" {named}{checked}>'
    if kind == "string":
        value = f' value="{escape(default)}"' if isinstance(default, str) else ""
        return f'<input type="text" data-kind="text" {attrs}{_lengths(prop)}{value}>'
    if kind in ("number", "integer"):
        step = "1" if kind == "integer" else "any"
        value = ""
        if isinstance(default, int | float) and not isinstance(default, bool):
            value = f' value="{escape(str(default))}"'
        limits = _bounds(prop, kind == "integer")
        return f'<input type="number" step="{step}" data-kind="number" {attrs}{limits}{value}>'
    text = escape(json.dumps(default)) if "default" in prop else ""
    return f'<textarea data-kind="json" {attrs}>{text}</textarea>'


def _fields(schema: dict[str, Any]) -> str:
    defs = schema.get("$defs") or {}
    required = set(schema.get("required") or [])
    out = []
    for name, raw in (schema.get("properties") or {}).items():
        prop, nullable = _deref(raw if isinstance(raw, dict) else {}, defs)
        label = escape(str(prop.get("title") or name))
        hint = prop.get("description")
        note = f'<div class="meta">{escape(str(hint))}</div>' if hint else ""
        star = " *" if name in required else ""
        control = _input(name, prop, name in required, nullable)
        problem = f'<div class="field-error" id="e-{escape(name)}" aria-live="polite"></div>'
        out.append(f'<label for="f-{escape(name)}">{label}{star}</label>{note}{control}{problem}')
    return "\n".join(out)


def _expiry(moment: datetime) -> str:
    """``2026-11-26 13:06 UTC`` in a ``<time>`` element carrying the exact instant."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    exact = utc.isoformat().replace("+00:00", "Z")
    return f'<time datetime="{escape(exact)}">{utc:%Y-%m-%d %H:%M} UTC</time>'


def is_form(content_type: str | None) -> bool:
    """Whether a request body is a browser's plain form post."""
    return (content_type or "").split(";")[0].strip().lower() == FORM


def _kind(prop: dict[str, Any], nullable: bool) -> str:
    """The control :func:`_input` renders for a field: select, checkbox, text, number or json."""
    if prop.get("enum") or "const" in prop or (prop.get("type") == "boolean" and nullable):
        return "select"
    kinds = {"boolean": "checkbox", "string": "text", "number": "number", "integer": "number"}
    return kinds.get(str(prop.get("type")), "json")


def form_payload(body: str, schema: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The payload a plain form post of the hook page stands for, and the token it carries.

    Each field is converted as the page's script does: a checkbox is ``true`` when sent, else
    ``false``; a select's and a JSON field's value is JSON; a number is a number when it reads as
    one (else left as text, for the schema to refuse); an empty optional field is left out.

    Raises:
        ValueError: a select or JSON field whose text is not JSON (the message names the field).
    """
    fields = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    token = fields.pop(TOKEN_FIELD, None)
    defs = schema.get("$defs") or {}
    required = set(schema.get("required") or [])
    payload: dict[str, Any] = {}
    for name, raw in (schema.get("properties") or {}).items():
        prop, nullable = _deref(raw if isinstance(raw, dict) else {}, defs)
        kind = _kind(prop, nullable)
        if kind == "checkbox":
            payload[name] = name in fields
            continue
        text = fields.get(name, "")
        if text == "":
            if kind == "text" and name in required:
                payload[name] = ""
            continue
        payload[name] = _converted(name, text, kind, prop)
    return payload, token


def _converted(name: str, text: str, kind: str, prop: dict[str, Any]) -> Any:
    if kind == "text":
        return text
    if kind == "number":
        try:
            return int(text) if prop.get("type") == "integer" else float(text)
        except ValueError:
            return text
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(f"{prop.get('title') or name}: not valid JSON") from None


def render_result_page(title: str, ok: bool, message: str) -> str:
    """What a plain form post gets back: the outcome, in words."""
    kind = "ok" if ok else "error"
    back = "" if ok else "<p>Go back to the form to change it.</p>"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        f'<h1>{escape(title)}</h1>\n<p class="{kind}" role="status">{escape(message)}</p>\n'
        f"{back}\n</body></html>\n"
    )


def render_hook_page(view: HookView, token: str | None = None) -> str:
    """The whole page: title, body, status and expiry, and the form while the hook is open
    (``token``: the page's own ``?token=``, posted back by the form when there is no script)."""
    title = escape(view.title or "Input requested")
    body = f"<p>{escape(view.body)}</p>" if view.body else ""
    expires = _expiry(view.expires_at)
    if view.status == "requested":
        main = (
            f'<form id="hook-form" data-hook-id="{escape(view.hook_id)}" method="post" '
            f'action="./{escape(quote(view.hook_id, safe=""))}/resolve">\n'
            f'<input type="hidden" name="{TOKEN_FIELD}" value="{escape(token or "")}">\n'
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
