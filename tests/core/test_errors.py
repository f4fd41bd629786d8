"""The error hierarchy and its three renderings: problem+json, the OpenAI envelope and one CLI line."""

from __future__ import annotations

import json

import pytest

from trustplane.core import errors
from trustplane.core.errors import (
    ConfigError,
    EntryNotFoundError,
    EntryTooLargeError,
    ExportFormatError,
    InvalidInputError,
    MalformedEntryError,
    ModelNotFoundError,
    TrustplaneError,
    VerificationError,
    to_cli_line,
    to_openai_error,
    to_problem,
)
from trustplane.core.store import StoreError


def all_error_classes() -> list[type[TrustplaneError]]:
    seen: list[type[TrustplaneError]] = []
    stack: list[type[TrustplaneError]] = [TrustplaneError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    # only the core's own classes: capabilities may add theirs elsewhere
    return [c for c in seen if c.__module__ in (errors.__name__, StoreError.__module__)]


SYSEXITS = {1, 64, 65, 66, 69, 70, 75, 77, 78}


def test_every_core_error_has_a_stable_identity() -> None:
    classes = all_error_classes()
    assert len(classes) >= 20
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)), "error codes must be unique"
    for cls in classes:
        assert cls.title and cls.code
        assert 400 <= cls.status <= 599, cls
        assert cls.exit_code in SYSEXITS, cls
    assert StoreError in classes and StoreError.status == 503


def test_hierarchy() -> None:
    assert issubclass(MalformedEntryError, InvalidInputError)
    assert issubclass(EntryTooLargeError, InvalidInputError)
    assert issubclass(ExportFormatError, VerificationError)
    assert issubclass(ModelNotFoundError, errors.NotFoundError)
    assert issubclass(EntryNotFoundError, errors.NotFoundError)
    assert VerificationError.exit_code == errors.EX_VERIFY == 1
    assert EntryTooLargeError.status == 413 and MalformedEntryError.status == 422


def test_message_hint_extra() -> None:
    err = MalformedEntryError("payload is bad", hint="fix it", kind="x.y", index=3)
    assert str(err) == "payload is bad" == err.message
    assert err.hint == "fix it"
    assert err.extra == {"kind": "x.y", "index": 3}
    err.message = "batch item 2: payload is bad"  # the log prefixes batch positions like this
    assert str(err) == "batch item 2: payload is bad"
    assert isinstance(err, Exception)


def test_to_problem_rfc9457() -> None:
    err = VerificationError("entry 4 was edited", hint="re-export", reason="edited", index=4)
    body = to_problem(err, instance="/log/verify")
    assert body["type"] == "urn:trustplane:problem:log.verification_failed"
    assert body["title"] == "Verification failed"
    assert body["status"] == 422 and isinstance(body["status"], int)
    assert body["detail"] == "entry 4 was edited"
    assert body["code"] == "log.verification_failed"
    assert body["hint"] == "re-export"
    assert body["instance"] == "/log/verify"
    assert (body["reason"], body["index"]) == ("edited", 4)
    assert json.loads(json.dumps(body)) == body


def test_to_problem_extras_cannot_override_standard_members() -> None:
    err = ConfigError("bad", status=200, title="ok", type="about:blank", detail="x", code="nope", colour="red")
    body = to_problem(err)
    assert body["status"] == 500 and body["title"] == "Invalid setting"
    assert body["type"] == "urn:trustplane:problem:config.invalid"
    assert body["detail"] == "bad" and body["code"] == "config.invalid"
    assert body["colour"] == "red"
    assert "hint" not in body and "instance" not in body


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (ExportFormatError("cut off", reason="truncated", index=7), "error[log.export_malformed] [index 7]: cut off"),
        (VerificationError("bad sig", tree_size=9), "error[log.verification_failed] [tree size 9]: bad sig"),
        (ConfigError("no", hint="set X"), "error[config.invalid]: no (hint: set X)"),
    ],
)
def test_to_cli_line(err: TrustplaneError, expected: str) -> None:
    assert to_cli_line(err) == expected


def test_to_cli_line_is_one_line() -> None:
    err = InvalidInputError("first line\nsecond line\r\nthird\rfourth\u2028fifth", hint="try\nthis")
    line = to_cli_line(err)
    assert "\n" not in line and "\r" not in line
    assert len(line.splitlines()) == 1
    assert line.startswith("error[input.invalid]: first line")
    assert "second line" in line and "try" in line and "this" in line


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        (InvalidInputError, "invalid_request_error"),
        (errors.InvalidRangeError, "invalid_request_error"),
        (EntryTooLargeError, "invalid_request_error"),
        (errors.AuthRequiredError, "authentication_error"),
        (errors.ForbiddenError, "permission_error"),
        (ModelNotFoundError, "not_found_error"),
        (errors.ConflictError, "conflict_error"),
        (errors.UpstreamUnavailableError, "api_error"),
        (errors.UpstreamTimeoutError, "api_error"),
        (ConfigError, "api_error"),
    ],
)
def test_to_openai_error(cls: type[TrustplaneError], kind: str) -> None:
    body = to_openai_error(cls("went wrong", hint="do this"))
    assert set(body) == {"error"}
    assert body["error"] == {"message": "went wrong (do this)", "type": kind, "code": cls.code, "param": None}
    assert to_openai_error(cls("plain"))["error"]["message"] == "plain"
