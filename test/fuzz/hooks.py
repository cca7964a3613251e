# Schemathesis hooks for test/fuzz/schemathesis.test.ts: the few rules of the API that JSON Schema
# cannot state, applied to generated data so the run exercises the API instead of those rules
# (each stays covered by the route tests).
import base64
import binascii
import hashlib
import os
import re
from datetime import datetime, timezone

import ast
import threading

import schemathesis

# CPython 3.11's AST converter keeps its recursion depth in shared state, and threads parsing at
# once can fail with "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905;
# seen here on 3.11.7 when Hypothesis, in one of the run's two workers, parsed a filter lambda's
# source to describe it). Parsing one at a time avoids that and keeps the second worker.
_parse_lock = threading.Lock()
_parse = ast.parse


def _parse_one_at_a_time(*args, **kwargs):
    with _parse_lock:
        return _parse(*args, **kwargs)


ast.parse = _parse_one_at_a_time

FUTURE = "2099-01-01T00:00:00Z"
SERVICE_ACCOUNT = re.compile(r"\Asystem:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-.a-z0-9]*[a-z0-9])?\Z")


@schemathesis.hook
def before_load_schema(context, raw_schema):
    # A vault's kms_key must be a key this server is configured with. The document does not list
    # it (it is served to anyone and would name the deployment's KMS key); the run knows it.
    create = raw_schema["paths"]["/v1/vaults"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    body["properties"]["kms_key"]["enum"] = [os.environ["FUZZ_KMS_KEY"]]


@schemathesis.hook
def filter_case(context, case):
    # A link inferred from a nullable field (an audit record's vault_id) carries null, which the
    # generator writes into the URL as "None" and still counts as valid data.
    params = case.path_parameters or {}
    if any(v is None or v == "None" for v in params.values()):
        return False
    target = params.get("id")
    # Rotating the key of the user the run authenticates as would end the run's own session;
    # deleting the agent the run grants to would turn later grants into 400s for a missing agent.
    if case.operation.path == "/v1/users/{id}/rotate-key":
        return target != os.environ.get("FUZZ_OWN_USER_ID")
    if case.operation.path == "/v1/agents/{id}" and case.method.upper() == "DELETE":
        return target != os.environ.get("FUZZ_AGENT_ID")
    return True


def _future(value):
    """A well-formed date-time in the past becomes one in the future; anything else is kept."""
    if not isinstance(value, str):
        return value
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return FUTURE if at.tzinfo is not None and at <= datetime.now(timezone.utc) else value


@schemathesis.hook
def map_case(context, case):
    body = case.body if isinstance(case.body, dict) else None
    # expires_at must be in the future.
    if body is not None and "expires_at" in body:
        body = case.body = {**body, "expires_at": _future(body["expires_at"])}
    # Metadata keys are 1-128 characters without NUL; OpenAPI 3.0 cannot constrain map keys
    # (the document states it with propertyNames, which the generator does not read).
    if body is not None and isinstance(body.get("metadata"), dict):
        kept = {k: v for k, v in body["metadata"].items() if 0 < len(k) <= 128 and "\x00" not in k}
        body = case.body = {**body, "metadata": kept}
    path, method = case.operation.path, case.method.upper()
    # The fingerprint named in the body is the SHA-256 of the key in x-cmek-new-key, and the new
    # key differs from the old one.
    if path == "/v1/vaults/{vault_id}/cmek-rotate" and body is not None:
        headers = case.headers or {}
        raw = _key(headers.get("x-cmek-new-key"))
        if raw is not None and raw == _key(headers.get("x-cmek-old-key")):
            raw = bytes([raw[0] ^ 1]) + raw[1:]
            case.headers = {**headers, "x-cmek-new-key": base64.b64encode(raw).decode()}
        if raw is not None and isinstance(body.get("new_fingerprint"), str):
            case.body = {**body, "new_fingerprint": hashlib.sha256(raw).hexdigest()}
    # A grant names an existing user or agent by id, or a service account by
    # system:serviceaccount:<namespace>:<name>; a time window's start and end differ.
    if path == "/v1/vaults/{vault_id}/policies" and method == "POST" and body is not None:
        kind, pid = body.get("principal_type"), body.get("principal_id")
        if isinstance(pid, str):
            if kind == "user":
                body = case.body = {**body, "principal_id": os.environ["FUZZ_MEMBER_ID"]}
            elif kind == "agent":
                body = case.body = {**body, "principal_id": os.environ["FUZZ_AGENT_ID"]}
            elif kind == "k8s_service_account" and not SERVICE_ACCOUNT.match(pid):
                body = case.body = {**body, "principal_id": "system:serviceaccount:fuzz:fuzz"}
        window = (body.get("conditions") or {}).get("time_window") if isinstance(body.get("conditions"), dict) else None
        if isinstance(window, dict) and window.get("start") == window.get("end") == "00:00":
            window["end"] = "00:01"
        elif isinstance(window, dict) and isinstance(window.get("start"), str) and window.get("start") == window.get("end"):
            window["end"] = "00:00"
    return case


def _key(value):
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (ValueError, binascii.Error):
        return None
    return raw if len(raw) == 32 else None
