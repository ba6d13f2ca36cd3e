"""Bad input over HTTP: every refusal has the API's error shape (docs/api.md) and changes nothing.

Each refused send is followed by a check that the sending mailbox's audit trail, approval queue
and inbox are exactly as before (every change is audited, so a half-written message shows up).
"""

import base64
import json
import socket

import pytest
import requests

from .helpers import assert_error, snapshot

GOOD = {"subject": "Hello", "body": "Body text."}
DROP = object()  # in BAD_SENDS: leave the field out
B64 = base64.b64encode(b"hello").decode()


def _att(**over):
    return {"filename": "a.txt", "content_type": "text/plain", "content_base64": B64, **over}


# (label, body changes, expected status, expected code or None). `from` is filled in per test.
BAD_SENDS = [
    ("missing to", {"to": DROP}, 400, "missing_field"),
    ("missing subject", {"subject": DROP}, 400, "missing_field"),
    ("missing body", {"body": DROP}, 400, "missing_field"),
    ("missing from", {"from": DROP}, 400, "missing_field"),
    ("unknown field", {"too": "x@partner.test"}, 400, "unknown_field"),
    ("unknown attachment field", {"attachments": [_att(name="x")]}, 400, "unknown_field"),
    ("to is a number", {"to": 5}, 400, "invalid_field"),
    ("to is an object", {"to": {"address": "x@partner.test"}}, 400, "invalid_field"),
    ("to list of numbers", {"to": [1, 2]}, 400, "invalid_field"),
    ("subject is a number", {"subject": 5}, 400, "invalid_field"),
    ("subject is null", {"subject": None}, 400, "invalid_field"),
    ("body is null", {"body": None}, 400, "invalid_field"),
    ("body is a list", {"body": ["a"]}, 400, "invalid_field"),
    ("attachments not a list", {"attachments": "a.txt"}, 400, "invalid_field"),
    ("metadata not an object", {"metadata": [1]}, 400, "invalid_field"),
    ("metadata too deep", {"metadata": json.loads('{"a":' * 200 + "1" + "}" * 200)}, 400, None),
    ("metadata too big", {"metadata": {"k": "v" * 20000}}, 400, None),
    ("empty to list", {"to": []}, 400, "missing_field"),
    ("to junk", {"to": "not an address"}, 400, "invalid_address"),
    ("to missing domain", {"to": "ana@"}, 400, "invalid_address"),
    ("to missing local part", {"to": "@partner.test"}, 400, "invalid_address"),
    ("to double at", {"to": "ana@@partner.test"}, 400, "invalid_address"),
    ("to unbalanced bracket", {"to": "Ana <ana@partner.test"}, 400, "invalid_address"),
    ("to two in one string", {"to": "ana@partner.test, bob@partner.test"}, 400, "invalid_address"),
    ("to two in one list item", {"to": ["ana@partner.test; bob@partner.test"]}, 400, "invalid_address"),
    ("to group syntax", {"to": "team: ana@partner.test, bob@partner.test;"}, 400, "invalid_address"),
    ("to empty string", {"to": ""}, 400, None),
    ("too many recipients", {"to": [f"r{i}@partner.test" for i in range(101)]}, 400, "too_many_recipients"),
    ("cc junk", {"cc": ["fine@partner.test", "junk"]}, 400, "invalid_address"),
    ("bcc junk", {"bcc": "junk@"}, 400, "invalid_address"),
    ("reply_to junk", {"reply_to": "nope"}, 400, "invalid_address"),
    ("from junk", {"from": "not an address"}, 400, "invalid_address"),
    ("CRLF in subject", {"subject": "Hi\r\nBcc: victim@evil.test"}, 400, "header_injection"),
    ("LF in subject", {"subject": "Hi\nBcc: victim@evil.test"}, 400, "header_injection"),
    ("CR in subject", {"subject": "Hi\rBcc: victim@evil.test"}, 400, "header_injection"),
    ("NUL in subject", {"subject": "Hi\x00"}, 400, None),
    ("VT in subject", {"subject": "Hi\x0bthere"}, 400, "header_injection"),
    ("FF in subject", {"subject": "Hi\x0cthere"}, 400, "header_injection"),
    ("NEL in subject", {"subject": "Hi\x85Bcc: victim@evil.test"}, 400, "header_injection"),
    ("LINE SEPARATOR in subject", {"subject": "Hi\u2028Bcc: victim@evil.test"}, 400, "header_injection"),
    ("PARAGRAPH SEPARATOR in subject", {"subject": "Hi\u2029Bcc: victim@evil.test"}, 400, "header_injection"),
    ("encoded CRLF in subject", {"subject": "=?utf-8?q?Hi=0D=0ABcc:_victim@evil.test?="}, 400, "header_injection"),
    ("base64-encoded CRLF in subject", {"subject": "Hi =?utf-8?b?DQpCY2M6IHZpY3RpbUBldmlsLnRlc3Q=?="}, 400, "header_injection"),
    ("encoded CRLF in attachment filename", {"attachments": [_att(filename="=?utf-8?q?a.txt=0D=0AX-Evil:_1?=")]}, 400, "header_injection"),
    ("encoded CRLF in display name", {"to": "=?utf-8?q?Ana=0D=0ABcc:_victim@evil.test?= <ana@partner.test>"}, 400, None),
    ("CRLF in display name", {"to": "Ana\r\nBcc: victim@evil.test <ana@partner.test>"}, 400, "header_injection"),
    ("CRLF in quoted display name", {"to": '"Ana\r\nBcc: victim@evil.test" <ana@partner.test>'}, 400, "header_injection"),
    ("LINE SEPARATOR in display name", {"to": '"Ana\u2028Bcc: victim@evil.test" <ana@partner.test>'}, 400, "header_injection"),
    ("CRLF in address", {"to": "ana@partner.test\r\nBcc: victim@evil.test"}, 400, "header_injection"),
    ("LF in cc", {"cc": ["ana@partner.test\nBcc: victim@evil.test"]}, 400, "header_injection"),
    ("CRLF in reply_to", {"reply_to": "ana@partner.test\r\nX-Evil: 1"}, 400, "header_injection"),
    ("CRLF in from", {"from": "x@acme.test\r\nBcc: victim@evil.test"}, 400, "header_injection"),
    ("CRLF in attachment filename", {"attachments": [_att(filename="a.txt\r\nContent-Type: text/html")]}, 400, "header_injection"),
    ("VT in attachment filename", {"attachments": [_att(filename="a\x0b.txt")]}, 400, "header_injection"),
    ("CRLF in attachment content type", {"attachments": [_att(content_type="text/plain\r\nX-Evil: 1")]}, 400, None),
    ("VT in attachment content type", {"attachments": [_att(content_type="text/pl\x0bain")]}, 400, None),
    ("parameter in attachment content type", {"attachments": [_att(content_type="text/plain; name=x")]}, 400, None),
    ("attachment content type without subtype", {"attachments": [_att(content_type="text")]}, 400, None),
    ("attachment bad base64", {"attachments": [_att(content_base64="!!!not base64")]}, 400, "invalid_base64"),
    ("attachment missing filename", {"attachments": [{"content_type": "text/plain", "content_base64": B64}]}, 400, "missing_field"),
    ("attachment empty filename", {"attachments": [_att(filename="")]}, 400, None),
    ("subject too long", {"subject": "s" * 999}, 400, "invalid_field"),
    ("oversight mode unknown", {"oversight_mode": "yolo"}, 400, "invalid_field"),
    ("oversight mode wrong type", {"oversight_mode": 3}, 400, "invalid_field"),
]


@pytest.mark.parametrize("label,changes,status,code", BAD_SENDS, ids=[b[0] for b in BAD_SENDS])
def test_bad_send_is_refused_and_changes_nothing(admin, mailbox, label, changes, status, code):
    box = mailbox(oversight_mode="autonomous")
    body = {"from": box, "to": "ana@partner.test", **GOOD}
    for k, v in changes.items():
        if v is DROP:
            body.pop(k, None)
        else:
            body[k] = v
    before = snapshot(admin, box)
    err = assert_error(admin.post("send_email", body), status, code)
    # The answer names the field (docs/api.md: "which field, why").
    field = err["details"].get("field", "")
    assert field.split(".")[0].split("[")[0] == next(iter(changes)), err
    assert snapshot(admin, box) == before, f"{label}: a refused request changed something"


def test_idn_and_unicode_addresses_are_accepted(admin, mailbox):
    box = mailbox(oversight_mode="autonomous")
    for to in ("ana@bücher.test", "Zoë Ünïcode <zoe@partner.test>", "用户@例子.广告", "ana@xn--bcher-kva.test", '"Doe, Jane" <jane@partner.test>'):
        r = admin.post("send_email", {"from": box, "to": to, **GOOD, "body": f"to {to}"})
        assert r.status_code == 200, (to, r.text)


def test_json_array_and_scalar_bodies(admin, mailbox):
    box = mailbox()
    before = snapshot(admin, box)
    for raw in ("[]", f'[{{"from": "{box}", "to": "a@b.test", "subject": "s", "body": "b"}}]', "null", '"text"', "5", "true"):
        r = admin.session.post(f"{admin.base}/v1/send_email", data=raw, headers=admin.headers({"Content-Type": "application/json"}), timeout=10)
        assert_error(r, 400, "invalid_body")
    assert snapshot(admin, box) == before


MALFORMED = [
    '{"from": ',
    "{'single': 'quotes'}",
    '{"from": "BOX", "to": "a@partner.test", "subject": "s", "body": "b",}',
    "not json at all",
    '{"from": "BOX", "to": "a@partner.test", "subject": NaN, "body": "b"}',
    '{"from": "BOX", "to": "a@partner.test", "subject": "s", "body": "b", "metadata": {"x": Infinity}}',
    '{"from": "BOX", "to": "a@partner.test", "subject": "s", "body": "b", "metadata": {"x": -Infinity}}',
    "[" * 100000,
    '{"metadata": ' + "[" * 100000,
]


@pytest.mark.parametrize("raw", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_json_is_400_invalid_json(admin, mailbox, raw):
    box = mailbox(oversight_mode="autonomous")
    before = snapshot(admin, box)
    r = admin.session.post(f"{admin.base}/v1/send_email", data=raw.replace("BOX", box).encode(),
                           headers=admin.headers({"Content-Type": "application/json"}), timeout=30)
    assert_error(r, 400, "invalid_json")
    assert snapshot(admin, box) == before


def test_body_not_utf8_is_400(admin, mailbox):
    box = mailbox()
    r = admin.session.post(f"{admin.base}/v1/send_email", data='{"from": "BOX", "subject": "caf\xe9"}'.replace("BOX", box).encode("latin-1"),
                           headers=admin.headers({"Content-Type": "application/json"}), timeout=10)
    assert_error(r, 400)


@pytest.mark.parametrize("field,value", [("subject", "\\ud800"), ("body", "a\\udfffb"), ("to", "x\\ud83d@partner.test"),
                                         ("subject", "nul\\u0000"), ("body", "nul\\u0000byte")])
def test_unencodable_strings_are_400(admin, mailbox, field, value):
    """Lone surrogates cannot be stored or sent, and NUL cannot be stored in PostgreSQL: 400, not 500."""
    box = mailbox(oversight_mode="autonomous")
    body = {"from": box, "to": "a@partner.test", "subject": "s", "body": "b"}
    raw = json.dumps(body).replace(f'"{field}": "{body[field]}"', f'"{field}": "{value}"')
    assert value in raw
    before = snapshot(admin, box)
    r = admin.session.post(f"{admin.base}/v1/send_email", data=raw.encode(), headers=admin.headers({"Content-Type": "application/json"}), timeout=10)
    err = assert_error(r, 400)
    assert err["details"].get("field") == field, err
    assert snapshot(admin, box) == before


def test_unencodable_strings_elsewhere(admin, mailbox, inbound):
    box = mailbox()
    mid = inbound(box)["message_id"]
    before = snapshot(admin, box)
    for verb, raw in (
        ("tag_email", '{"message_id": "%s", "tags": ["a\\ud800"]}' % mid),
        ("tag_email", '{"message_id": "%s", "tags": {"k": "\\u0000"}}' % mid),
        ("tag_email", '{"message_id": "msg_\\ud800"}'),
        ("create_mailbox", '{"address": "x\\ud800@acme.test"}'),
        ("create_webhook", '{"url": "https://h.test/\\ud800"}'),
    ):
        r = admin.session.post(f"{admin.base}/v1/{verb}", data=raw.encode(), headers=admin.headers({"Content-Type": "application/json"}), timeout=10)
        assert_error(r, 400)
    # NUL in a query string.
    assert_error(admin.get("read_email", message_id="msg_\x00"), 400)
    assert_error(admin.get("check_inbox", mailbox=box, tag="a\x00"), 400)
    assert snapshot(admin, box) == before


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/xml"])
def test_wrong_content_type_is_415(admin, mailbox, ctype):
    box = mailbox()
    before = snapshot(admin, box)
    body = json.dumps({"from": box, "to": "a@partner.test", "subject": "s", "body": "b"}).encode()
    headers = admin.headers({"Content-Type": ctype} if ctype else {})  # bytes without a type: no Content-Type at all
    r = admin.session.post(f"{admin.base}/v1/send_email", data=body, headers=headers, timeout=10)
    assert_error(r, 415, "unsupported_media_type")
    assert snapshot(admin, box) == before


def test_json_content_type_variants_are_accepted(admin, mailbox):
    box = mailbox(oversight_mode="autonomous")
    for i, ctype in enumerate(("application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json")):
        body = json.dumps({"from": box, "to": "a@partner.test", "subject": f"ct {i}", "body": "b"}).encode()
        r = admin.session.post(f"{admin.base}/v1/send_email", data=body, headers=admin.headers({"Content-Type": ctype}), timeout=10)
        assert r.status_code == 200, (ctype, r.text)


def test_oversized_body_is_413(admin, mailbox):
    box = mailbox(oversight_mode="autonomous")
    before = snapshot(admin, box)
    # ~36 MB of base64: over the 35 MB request limit.
    big = base64.b64encode(b"\0" * (27 * 1024 * 1024)).decode()
    body = {"from": box, "to": "a@partner.test", "subject": "big", "body": "b", "attachments": [_att(filename="big.bin", content_base64=big)]}
    assert_error(admin.post("send_email", body), 413)
    # The same, streamed without a Content-Length (chunked): refused once the limit is passed.
    payload = json.dumps(body).encode()

    def chunks():
        for i in range(0, len(payload), 1 << 20):
            yield payload[i:i + (1 << 20)]

    try:
        r = admin.session.post(f"{admin.base}/v1/send_email", data=chunks(), headers=admin.headers({"Content-Type": "application/json"}), timeout=60)
    except requests.ConnectionError:
        r = None  # the server may close the connection once it has answered 413
    if r is not None:
        assert_error(r, 413)
    assert snapshot(admin, box) == before


def test_message_over_the_message_limit_is_413(admin, mailbox):
    box = mailbox(oversight_mode="autonomous")
    before = snapshot(admin, box)
    # 26 MB decoded fits in the request (35 MB) but not in a message (25 MB).
    big = base64.b64encode(b"\0" * (26 * 1024 * 1024)).decode()
    r = admin.post("send_email", {"from": box, "to": "a@partner.test", "subject": "big", "body": "b", "attachments": [_att(content_base64=big)]})
    assert_error(r, 413, "message_too_large")
    assert snapshot(admin, box) == before


def test_content_length_over_the_limit_is_413_before_reading(server, admin):
    host, port = server.base.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall((f"POST /v1/send_email HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {admin.key}\r\n"
                   "Content-Type: application/json\r\nContent-Length: 40000000\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 20:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body)["error"]["code"] == "payload_too_large"


def test_unknown_route_and_method(admin):
    assert_error(admin.get("no_such_verb"), 404, "route_not_found")
    assert_error(admin.post("no_such_verb", {}), 404, "route_not_found")
    r = admin.session.delete(f"{admin.base}/v1/send_email", headers=admin.headers(), timeout=10)
    assert_error(r, 405, "method_not_allowed")
    assert_error(admin.post("read_email", {"message_id": "x"}), 405)


def test_wrong_types_elsewhere(admin, mailbox, inbound):
    box = mailbox(oversight_mode="autonomous")
    mid = inbound(box)["message_id"]
    before = snapshot(admin, box)
    for verb, body, code in (
        ("decide_email", {"from": box, "to": "a@partner.test", "question": "q", "options": "x"}, "invalid_field"),
        ("decide_email", {"from": box, "to": "a@partner.test", "question": 5, "options": ["a", "b"]}, "invalid_field"),
        ("reply_email", {"message_id": mid, "body": "b", "reply_all": "yes"}, "invalid_field"),
        ("reply_email", {"message_id": 5, "body": "b"}, "invalid_field"),
        ("reply_email", {"message_id": mid, "body": "b", "to": "x@partner.test"}, "unknown_field"),
        ("tag_email", {"message_id": mid, "tags": 5}, "invalid_field"),
        ("update_mailbox", {"mailbox": box, "idempotency_window_seconds": "ten"}, "invalid_field"),
        ("update_mailbox", {"mailbox": box, "idempotency_window_seconds": 1.5}, "invalid_field"),
        ("create_api_key", {"role": "agent", "mailboxes": box}, "invalid_field"),
        ("approve_message", {"message_id": ["x"]}, "invalid_field"),
    ):
        err = assert_error(admin.post(verb, body), 400, code)
        assert err["details"].get("field"), (verb, err)
    assert_error(admin.get("audit_log", limit="lots"), 400, "invalid_field")
    assert snapshot(admin, box) == before


def test_error_names_the_field(admin, mailbox):
    box = mailbox()
    err = assert_error(admin.post("send_email", {"from": box, "to": 5, "subject": "s", "body": "b"}), 400, "invalid_field")
    assert err["details"]["field"] == "to" and err["message"].startswith("to")
    err = assert_error(admin.post("send_email", {"from": box, "to": "a@b.test", "subject": "s", "body": "b", "attachments": [{"filename": 1}]}),
                       400)
    assert err["details"]["field"].startswith("attachments.0") or err["details"]["field"].startswith("attachments[0]")


def test_every_missing_field_is_named_in_one_answer(admin, mailbox):
    """One round trip tells the caller everything it has to add, not one field per attempt."""
    box = mailbox()
    before = snapshot(admin, box)
    err = assert_error(admin.post("send_email", {"from": box, "subject": "s"}), 400, "missing_field")
    assert err["details"]["fields"] == ["to", "body"], err
    assert err["details"]["field"] == "to", err  # the first, as before
    assert "to" in err["message"] and "body" in err["message"], err
    err = assert_error(admin.post("send_email", {}), 400, "missing_field")
    assert set(err["details"]["fields"]) == {"from", "to", "subject", "body"}, err
    assert all(name in err["message"] for name in ("from", "to", "subject", "body")), err
    err = assert_error(admin.get("read_email"), 400, "missing_field")
    assert err["details"]["fields"] == ["message_id"], err
    assert snapshot(admin, box) == before


@pytest.mark.parametrize("raw,line,column", [
    ('{"from": "BOX",\n  "to": "a@partner.test",,\n  "subject": "s"}', 2, 26),  # the second comma
    ('{\n"subject": "s"\n"body": "b"}', 3, 1),
    ('{"subject": "s", "body": "b"', 1, 29),
])
def test_malformed_json_says_where(admin, mailbox, raw, line, column):
    box = mailbox()
    r = admin.session.post(f"{admin.base}/v1/send_email", data=raw.replace("BOX", box).encode(),
                           headers=admin.headers({"Content-Type": "application/json"}), timeout=10)
    err = assert_error(r, 400, "invalid_json")
    assert (err["details"]["line"], err["details"]["column"]) == (line, column), err
    assert f"line {line}, column {column}" in err["message"], err


def test_body_not_utf8_says_which_byte(admin, mailbox):
    raw = b'{"subject": "caf\xe9"}'
    r = admin.session.post(f"{admin.base}/v1/send_email", data=raw, headers=admin.headers({"Content-Type": "application/json"}), timeout=10)
    err = assert_error(r, 400, "invalid_json")
    assert err["details"]["byte_offset"] == raw.index(b"\xe9"), err


def test_gate_answers_have_the_error_shape(admin):
    """Answers made before any route runs (the request gate, the router) are in the one error shape
    (413 has its own tests above)."""
    base, auth = admin.base, admin.headers()
    assert_error(requests.post(f"{base}/v1/send_email", data=b"x", headers={**auth, "Content-Type": "text/plain"}, timeout=10),
                 415, "unsupported_media_type")
    assert_error(requests.post(f"{base}/v1/send_email", data=b'{"subject": NaN}', headers={**auth, "Content-Type": "application/json"},
                               timeout=10), 400, "invalid_json")
    assert_error(requests.get(f"{base}/v1/read_email?message_id=a%00", headers=auth, timeout=10), 400, "invalid_string")
    assert_error(requests.get(f"{base}/no/such/page", timeout=10), 404, "route_not_found")
    assert_error(requests.put(f"{base}/health", timeout=10), 405, "method_not_allowed")
    head = requests.head(f"{base}/health", timeout=10)  # a HEAD answer has no body; its headers still say JSON and Allow
    assert head.status_code == 405 and head.headers["allow"] == "GET" and head.headers["content-type"] == "application/json"
