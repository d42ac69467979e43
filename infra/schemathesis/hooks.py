"""Schemathesis hooks for Freshline's API conformance run (infra/local/schemathesis.sh)."""

import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"^[!-~]{1,255}$")


@schemathesis.hook
def before_call(context, case, kwargs):
    """Give every request its own Idempotency-Key, as a real client does.

    The generator draws keys from a small space and reuses them across different bodies; the
    contract answers such a reuse `422 idempotency_key_reused` (DESIGN.md), which would read as
    a valid request refused. A key that breaks the header's rule is left as generated, so the
    negative tests still send it.
    """
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and VALID_KEY.match(str(headers[name])):
            headers[name] = str(uuid.uuid4())
    case.headers = headers
