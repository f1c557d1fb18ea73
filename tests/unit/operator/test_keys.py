"""Named API keys (issue 14, "Who approved"): ``PPGDR_API_KEYS`` entries carry names, and a key's caller is
recorded as the key's name, never as what the body says."""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request

from shared.operator import sessions
from shared.operator.http_common import (
    api_keys,
    identity_of,
    key_matches,
    key_name,
    key_name_of_session,
    requested_by,
    said_by,
    session_keys,
)

ALICE, TEAM, LEGACY = "alice-secret-key", "team key 42", "Zm9vYmFyYmF6cXV4cXV1eA=="  # the last: a base64 function key


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


CONFIGURED = (f"ops-alice=sha256:{digest(ALICE).upper()}", f"sre.team={TEAM}", LEGACY, f"sha256:{digest('anonymous')}")


def test_entries_are_named_or_named_by_their_fingerprint() -> None:
    names = [key.name for key in api_keys(CONFIGURED)]
    assert names == ["ops-alice", "sre.team", f"key-{digest(LEGACY)[:8]}", f"key-{digest('anonymous')[:8]}"]
    # the same key has the same fingerprint name whether it is configured plain or as a digest
    assert api_keys((LEGACY,))[0].name == api_keys((f"sha256:{digest(LEGACY)}",))[0].name


def test_a_presented_key_is_known_by_its_name() -> None:
    assert key_name(ALICE, CONFIGURED) == "ops-alice"
    assert key_name(TEAM, CONFIGURED) == "sre.team"
    assert key_name(LEGACY, CONFIGURED) == f"key-{digest(LEGACY)[:8]}"  # "==" padding is not a name separator
    assert key_name("anonymous", CONFIGURED) == f"key-{digest('anonymous')[:8]}"
    for wrong in ("", "ops-alice", f"sha256:{digest(ALICE)}", "Zm9vYmFyYmF6cXV4cXV1eA", "sre.team=team key 42"):
        assert key_name(wrong, CONFIGURED) is None
        assert not key_matches(wrong, CONFIGURED)
    assert key_matches(ALICE, CONFIGURED)


def test_names_must_look_like_names() -> None:
    # "=" inside a plain key with no valid name before it: the whole entry is the key
    assert key_name("a b=c", ("a b=c",)) == f"key-{digest('a b=c')[:8]}"
    assert key_name("x=y", ("n=x=y",)) == "n"


def test_sessions_opened_with_a_named_key_keep_working_and_know_its_name() -> None:
    session = sessions.issue(ALICE, "erin")
    found = sessions.read(session.token, session_keys(CONFIGURED))
    assert found is not None and found.who == "erin"
    assert key_name_of_session(found, CONFIGURED) == "ops-alice"
    assert sessions.read(session.token, session_keys(CONFIGURED[1:])) is None  # its key removed: the session ends


def request_with(**state: Any) -> Request:
    return Request({"type": "http", "method": "POST", "headers": [], "path": "/", "state": state})


def test_a_key_caller_is_its_keys_name_and_the_body_only_comments() -> None:
    keyed = request_with(key_name="ops-alice")
    assert identity_of(keyed) == "ops-alice (key)"
    assert requested_by(keyed, {"by": "the CEO"}) == "ops-alice (key)"
    assert said_by(keyed, {"by": "the CEO\nforged line"}) == "the CEO forged line"
    assert said_by(keyed, {"by": ["x"]}) == "" and said_by(keyed, "junk") == ""


def test_a_signed_in_browser_is_its_name_and_the_key_it_signed_in_with() -> None:
    session = sessions.issue(ALICE, "erin")
    signed_in = request_with(session=session, key_name="ops-alice")
    assert identity_of(signed_in) == "erin (dashboard) via key ops-alice"
    assert requested_by(signed_in, {"by": "mallory"}) == "erin (dashboard) via key ops-alice"
    assert said_by(signed_in, {"by": "mallory"}) == ""  # a session names the person: the body cannot speak for them


def test_no_credential_no_identity() -> None:
    assert identity_of(request_with()) is None
    assert requested_by(request_with(), {"by": "mallory"}) == "api"
