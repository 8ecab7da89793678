"""Webhook signature schemes, signed as each provider documents (and, where the provider ships a
library, signed or checked by that library): GitHub, Stripe, Slack, Standard Webhooks."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
import standardwebhooks
import stripe
from slack_sdk.signature import SignatureVerifier

from factorial_aws import webhooks
from factorial_aws.errors import AgentDefinitionError, InvalidInputError, InvalidSignatureError
from factorial_aws.webhooks.match import check_match, lookup, match_key, matches
from factorial_aws.webhooks.schemes import github as gh
from factorial_aws.webhooks.schemes import slack as sl
from factorial_aws.webhooks.schemes import standard as sw
from factorial_aws.webhooks.schemes import stripe as st

NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)
TS = int(NOW.timestamp())


def _flip(sig: str) -> str:
    """The same signature with its last character changed."""
    return sig[:-1] + ("0" if sig[-1] != "0" else "1")


# --- GitHub ---


def test_github_documented_test_vector() -> None:
    # GitHub's docs: secret "It's a Secret to Everybody", payload "Hello, World!"
    sig = gh.sign("It's a Secret to Everybody", b"Hello, World!")
    assert sig == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_verifies_json_and_form_bodies_and_keeps_the_delivery_id() -> None:
    src = webhooks.github()
    body = json.dumps({"action": "completed", "check_run": {"head_sha": "abc"}}).encode()
    headers = {"x-hub-signature-256": gh.sign("s3cret", body), "x-github-delivery": "d-1"}
    delivery = src.verify(["s3cret"], body, headers, NOW)
    assert delivery.event["check_run"]["head_sha"] == "abc"
    assert delivery.delivery_id == "d-1"
    assert delivery.source == "github"

    form = urlencode({"payload": body.decode()}).encode()
    headers = {
        "X-Hub-Signature-256": gh.sign("s3cret", form),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    assert src.verify(["s3cret"], form, headers, NOW).event["action"] == "completed"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-hub-signature-256": ""},
        {"x-hub-signature-256": "sha1=abc"},
        {"x-hub-signature-256": "sha256=" + "0" * 64},
    ],
)
def test_github_refuses_missing_malformed_and_forged_signatures(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidSignatureError):
        webhooks.github().verify(["s3cret"], b"{}", headers, NOW)


def test_github_refuses_an_altered_body() -> None:
    sig = gh.sign("s3cret", b'{"a": 1}')
    with pytest.raises(InvalidSignatureError):
        webhooks.github().verify(["s3cret"], b'{"a": 2}', {"x-hub-signature-256": sig}, NOW)


def test_github_previous_secret_verifies_during_a_rotation() -> None:
    body = b'{"zen": "x"}'
    headers = {"x-hub-signature-256": gh.sign("old", body)}
    assert webhooks.github().verify(["new", "old"], body, headers, NOW).event == {"zen": "x"}
    with pytest.raises(InvalidSignatureError):
        webhooks.github().verify(["new"], body, headers, NOW)


# --- Stripe ---

STRIPE_SECRET = "whsec_test_" + "a" * 32


def test_stripe_signature_is_what_stripes_own_library_accepts() -> None:
    body = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded"}).encode()
    now = int(time.time())  # stripe's library reads the wall clock
    header = st.sign(STRIPE_SECRET, body, now)
    assert stripe.WebhookSignature.verify_header(body, header, STRIPE_SECRET, tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(body + b" ", header, STRIPE_SECRET, tolerance=300)


def test_stripe_verifies_any_v1_and_uses_the_event_id() -> None:
    body = json.dumps({"id": "evt_42", "data": {"object": {"id": "pi_1"}}}).encode()
    good = st.sign(STRIPE_SECRET, body, TS).split(",v1=")[1]
    header = f"t={TS},v1={'f' * 64},v1={good},v0={'0' * 64}"
    delivery = webhooks.stripe().verify([STRIPE_SECRET], body, {"Stripe-Signature": header}, NOW)
    assert delivery.delivery_id == "evt_42"
    assert delivery.event["data"]["object"]["id"] == "pi_1"


@pytest.mark.parametrize("skew", [-301, 301, 600])
def test_stripe_refuses_stale_and_future_timestamps(skew: int) -> None:
    body = b'{"id": "evt_1"}'
    header = st.sign(STRIPE_SECRET, body, TS - skew)
    with pytest.raises(InvalidSignatureError):
        webhooks.stripe().verify([STRIPE_SECRET], body, {"stripe-signature": header}, NOW)


@pytest.mark.parametrize(
    "header",
    ["", "garbage", f"t={TS}", "v1=" + "a" * 64, f"t=abc,v1={'a' * 64}", f"t={TS},v0={'a' * 64}"],
)
def test_stripe_refuses_malformed_headers(header: str) -> None:
    with pytest.raises(InvalidSignatureError):
        webhooks.stripe().verify([STRIPE_SECRET], b"{}", {"stripe-signature": header}, NOW)


def test_stripe_refuses_a_signature_with_another_timestamp() -> None:
    body = b'{"id": "evt_1"}'
    sig = st.sign(STRIPE_SECRET, body, TS).split(",v1=")[1]
    header = f"t={TS - 1},v1={sig}"  # a replay with a fresher timestamp pasted in
    with pytest.raises(InvalidSignatureError):
        webhooks.stripe().verify([STRIPE_SECRET], body, {"stripe-signature": header}, NOW)


# --- Slack ---

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def test_slack_signature_is_what_slack_sdk_generates() -> None:
    body = b"token=x&team_id=T1&command=%2Fwebbot"
    expected = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=str(TS), body=body)
    assert sl.sign(SLACK_SECRET, body, TS) == expected


def test_slack_interactive_payload_arrives_form_encoded() -> None:
    action = {"type": "block_actions", "actions": [{"action_id": "ok", "value": "approve:42"}]}
    body = urlencode({"payload": json.dumps(action)}).encode()
    signature = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=str(TS), body=body)
    headers = {
        "X-Slack-Request-Timestamp": str(TS),
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    delivery = webhooks.slack().verify([SLACK_SECRET], body, headers, NOW)
    assert delivery.event["actions"][0]["value"] == "approve:42"
    again = webhooks.slack().verify([SLACK_SECRET], body, headers, NOW)
    assert delivery.delivery_id == again.delivery_id  # a byte-identical resend is the same delivery
    other = urlencode({"payload": json.dumps({**action, "x": 1})}).encode()
    headers["X-Slack-Signature"] = sl.sign(SLACK_SECRET, other, TS)
    assert webhooks.slack().verify([SLACK_SECRET], other, headers, NOW).delivery_id != (
        delivery.delivery_id
    )


def test_slack_url_verification_carries_its_challenge() -> None:
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aB"}).encode()
    headers = {
        "x-slack-request-timestamp": str(TS),
        "x-slack-signature": sl.sign(SLACK_SECRET, body, TS),
        "content-type": "application/json",
    }
    assert webhooks.slack().verify([SLACK_SECRET], body, headers, NOW).challenge == "3eZbrw1aB"


@pytest.mark.parametrize("skew", [-400, 301, 3600])
def test_slack_refuses_stale_or_future_requests(skew: int) -> None:
    body = b'{"type": "event_callback"}'
    headers = {
        "x-slack-request-timestamp": str(TS - skew),
        "x-slack-signature": sl.sign(SLACK_SECRET, body, TS - skew),
    }
    with pytest.raises(InvalidSignatureError):
        webhooks.slack().verify([SLACK_SECRET], body, headers, NOW)


def test_slack_refuses_a_forged_signature() -> None:
    body = b'{"type": "event_callback"}'
    headers = {
        "x-slack-request-timestamp": str(TS),
        "x-slack-signature": _flip(sl.sign(SLACK_SECRET, body, TS)),
    }
    with pytest.raises(InvalidSignatureError):
        webhooks.slack().verify([SLACK_SECRET], body, headers, NOW)


# --- Standard Webhooks ---

SW_SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()


def _standard_headers(secret: str, msg_id: str, when: datetime, body: bytes) -> dict[str, str]:
    """Headers exactly as the standardwebhooks library signs a delivery."""
    signature = standardwebhooks.Webhook(secret).sign(msg_id, when, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
    }


def test_standard_verifies_what_the_standardwebhooks_library_signs() -> None:
    body = json.dumps({"type": "invoice.paid", "data": {"invoice": "in_1"}}).encode()
    headers = _standard_headers(SW_SECRET, "msg_1", NOW, body)
    delivery = webhooks.standard("acme").verify([SW_SECRET], body, headers, NOW)
    assert delivery.delivery_id == "msg_1"
    assert delivery.source == "acme"
    assert delivery.event["data"]["invoice"] == "in_1"
    # and the library accepts what we sign (it reads the wall clock)
    now = datetime.now(UTC)
    ours = {
        "webhook-id": "msg_2",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": sw.sign(SW_SECRET, "msg_2", int(now.timestamp()), body),
    }
    assert standardwebhooks.Webhook(SW_SECRET).verify(body, ours)["type"] == "invoice.paid"


def test_standard_accepts_any_of_several_signatures_during_a_rotation() -> None:
    new = "whsec_" + base64.b64encode(b"n" * 24).decode()
    body = b'{"ok": true}'
    old_sig = _standard_headers(SW_SECRET, "m", NOW, body)["webhook-signature"]
    new_sig = _standard_headers(new, "m", NOW, body)["webhook-signature"]
    headers = {"webhook-id": "m", "webhook-timestamp": str(TS)}
    headers["webhook-signature"] = f"v1a,xyz {old_sig} {new_sig}"
    assert webhooks.standard("acme").verify([new], body, headers, NOW).event == {"ok": True}
    headers["webhook-signature"] = old_sig
    with pytest.raises(InvalidSignatureError):
        webhooks.standard("acme").verify([new], body, headers, NOW)
    assert webhooks.standard("acme").verify([new, SW_SECRET], body, headers, NOW).event


@pytest.mark.parametrize("minutes", [-10, -6, 6, 10])
def test_standard_refuses_stale_and_future_deliveries(minutes: int) -> None:
    body = b"{}"
    headers = _standard_headers(SW_SECRET, "m", NOW + timedelta(minutes=minutes), body)
    with pytest.raises(InvalidSignatureError):
        webhooks.standard("acme").verify([SW_SECRET], body, headers, NOW)


@pytest.mark.parametrize(
    "change",
    [
        {"webhook-id": "other"},
        {"webhook-signature": "v1,!!!notbase64"},
        {"webhook-signature": "v2,abc"},
        {"webhook-signature": ""},
        {"webhook-timestamp": "12.5"},
        {"webhook-timestamp": "-1"},
    ],
)
def test_standard_refuses_altered_or_malformed_headers(change: dict[str, str]) -> None:
    body = b'{"a": 1}'
    headers = {**_standard_headers(SW_SECRET, "m", NOW, body), **change}
    with pytest.raises(InvalidSignatureError):
        webhooks.standard("acme").verify([SW_SECRET], body, headers, NOW)


def test_a_signed_body_that_is_not_a_json_object_is_refused() -> None:
    for body in (b"[1, 2]", b"\xff\xfe", b"not json"):
        headers = {"x-hub-signature-256": gh.sign("s", body)}
        with pytest.raises(InvalidSignatureError):
            webhooks.github().verify(["s"], body, headers, NOW)


# --- sources and matching ---


def test_source_names_and_their_secret_variables() -> None:
    assert webhooks.standard("acme-billing").secret_env == "FACTORIAL_WEBHOOK_SECRET_ACME_BILLING"
    assert webhooks.github().previous_secret_env == "FACTORIAL_WEBHOOK_SECRET_GITHUB_PREVIOUS"
    for bad in ("", "Acme", "a b", "x" * 41, "9lives", "a/b"):
        with pytest.raises(AgentDefinitionError):
            webhooks.standard(bad)


def test_match_follows_dotted_paths_and_list_indexes() -> None:
    event = {"check_run": {"head_sha": "abc", "n": 1}, "actions": [{"value": "ok"}], "flag": True}
    assert lookup(event, "actions.0.value") == "ok"
    assert matches(event, {"check_run.head_sha": "abc", "actions.0.value": "ok"})
    assert not matches(event, {"check_run.head_sha": "abd"})
    assert not matches(event, {"actions.1.value": "ok"})
    assert not matches(event, {"check_run.n": "1"})  # JSON types: 1 is not "1"
    assert matches(event, {"check_run.n": 1.0})
    assert not matches(event, {"flag": 1})  # True is not 1
    assert not matches(event, {"check_run.head_sha.x": "abc"})
    assert not matches(event, {"missing": None})


def test_match_is_checked_and_has_one_canonical_key() -> None:
    assert match_key({"b": 1, "a": "x"}) == match_key({"a": "x", "b": 1})
    assert match_key({"a": 1}) != match_key({"a": "1"})
    for bad in (
        {},
        {"": 1},
        {"a..b": 1},
        {"a": [1]},
        {"a": {"b": 1}},
        {f"k{i}": i for i in range(9)},
    ):
        with pytest.raises(InvalidInputError):
            check_match(bad)
