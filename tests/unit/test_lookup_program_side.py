"""Lookups in the program: waiting for resources (``opts.depends_on``) and one-line failures.

Run under the SDK's mocks (no engine): a resource whose create is only planned has no id during
a preview, so a lookup that depends on it must not run then, and must run once the id exists.
Expected failures are :class:`pulumi.RunError`s, which the Python language host prints as one
line instead of a traceback (``pulumi-language-python-exec``: ``except pulumi.RunError``).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from pulumi.runtime.sync_await import _sync_await

from ims_pulumi.core import lookup
from ims_pulumi.core.errors import ConfigError, ImsError
from ims_pulumi.core.lookup import ImageLookupError
from ims_pulumi.dynamic import lookup as outputs

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("sdk_event_loop")]


class Mocks(pulumi.runtime.Mocks):
    """Resources get the id in ``ids`` (none: "" = unknown in a preview, as for a planned create)."""

    def __init__(self, ids: dict[str, str]) -> None:
        self.ids = ids

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return self.ids.get(args.name, ""), dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


class Acceptance(pulumi.CustomResource):
    def __init__(self, name: str) -> None:
        super().__init__("test:index:Acceptance", name, {})


def lookup_once(monkeypatch: pytest.MonkeyPatch, *, preview: bool, ids: dict[str, str],
                depends: bool, many: bool = False) -> tuple[list[dict[str, Any]], Any]:
    """Run one ``get_image_output`` (or ``get_images_output``) under mocks: the calls made and the result."""
    calls: list[dict[str, Any]] = []

    def fake(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return kwargs

    monkeypatch.setattr(outputs, "get_images" if many else "get_image", fake)
    pulumi.runtime.set_mocks(Mocks(ids), preview=preview)
    accepted = Acceptance("golden")
    opts = pulumi.InvokeOutputOptions(depends_on=[accepted]) if depends else None
    call = outputs.get_images_output if many else outputs.get_image_output
    out = call(id="img-1", member_status="accepted", opts=opts)
    return calls, _sync_await(out.future())


# (reason, preview, resource ids, depends_on given, the lookup runs)
WAITS = [
    ("preview of the first deploy: the acceptance is only planned, the lookup waits (result unknown)",
     True, {}, True, False),
    ("up: the acceptance exists, then the lookup runs", False, {"golden": "acc-1"}, True, True),
    ("preview once the acceptance exists (a later run): the lookup runs", True, {"golden": "acc-1"}, True, True),
    ("no depends_on: a lookup resolves in preview too", True, {}, False, True),
]


@pytest.mark.parametrize("reason,preview,ids,depends,runs", WAITS, ids=[w[0] for w in WAITS])
@pytest.mark.parametrize("many", [False, True], ids=["get_image_output", "get_images_output"])
def test_depends_on_makes_the_lookup_wait(monkeypatch: pytest.MonkeyPatch, reason: str, preview: bool,
                                          ids: dict[str, str], depends: bool, runs: bool, many: bool) -> None:
    calls, result = lookup_once(monkeypatch, preview=preview, ids=ids, depends=depends, many=many)
    assert bool(calls) is runs, reason
    if runs:
        assert calls == [{"id": "img-1", "member_status": "accepted"}], reason
        assert result == calls[0]
    else:
        assert result is None, "unknown during the preview"


def test_depends_on_accepts_one_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def fake(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return "found"

    monkeypatch.setattr(outputs, "get_image", fake)
    pulumi.runtime.set_mocks(Mocks({"golden": "acc-1"}), preview=False)
    out = outputs.get_image_output(name="x", opts=pulumi.InvokeOutputOptions(depends_on=Acceptance("golden")))
    result: Any = _sync_await(out.future())
    assert result == "found" and calls == [{"name": "x"}]


def test_lookup_errors_are_run_errors() -> None:
    """The language host prints a RunError's message alone; any other exception with its traceback."""
    error = ImageLookupError("no image matches name='x'")
    assert isinstance(error, pulumi.RunError) and isinstance(error, ImsError)


def test_a_failing_setting_or_request_is_a_one_line_lookup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Any:
        raise ConfigError("no endpoint: set ims:endpoint (HW_IMS_ENDPOINT) or ims:region (HW_REGION_NAME)")

    monkeypatch.setattr(lookup, "_default", broken)
    with pytest.raises(ImageLookupError) as info:
        lookup.get_image(name="web", tags=["a=1"])
    assert str(info.value) == ("get_image(name='web', tags=['a=1']): no endpoint: set ims:endpoint (HW_IMS_ENDPOINT) "
                               "or ims:region (HW_REGION_NAME)")
    with pytest.raises(ImageLookupError, match=r"^get_images\(\(no filters\)\): no endpoint"):
        lookup.get_images()


def test_unexpected_errors_keep_their_type(monkeypatch: pytest.MonkeyPatch) -> None:
    def bug() -> Any:
        raise KeyError("boom")

    monkeypatch.setattr(lookup, "_default", bug)
    with pytest.raises(KeyError):
        lookup.get_image(name="web")


def test_no_match_says_how_to_wait_for_a_resource() -> None:
    from ims_pulumi.core.profiles import IMS
    from tests.unit.test_lookup_planning import FakeClient

    lookups = lookup.Lookups(FakeClient(), IMS)  # type: ignore[arg-type]
    with pytest.raises(ImageLookupError) as info:
        lookups.get_image(name_regex="^Ubuntu", tags=["release=2026.11"])
    text = str(info.value)
    assert "\n" not in text
    assert "opts=pulumi.InvokeOutputOptions(depends_on=[resource])" in text
