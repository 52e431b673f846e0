"""Issue 6, item 9: authentication at the server, seen through the provider's client, and project isolation.

The emulator's own contract tests (``tests/emulator/test_emulator_auth.py``) send raw
requests. These go through the provider's transport and client: what the user gets for each
refusal (typed error, request id, what to do), and that the create-token look-up can never
find, adopt, change or delete an image of another project.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harness.pulumi_cli import PulumiProject
from ims_emulator.process import Emulator
from ims_pulumi.core import signer
from ims_pulumi.core.client import ImsClient, create_token_tag
from ims_pulumi.core.errors import AuthenticationFailed, NotFound
from ims_pulumi.core.signer import Authorization
from ims_pulumi.core.transport import Credentials, RetryPolicy, Transport
from tests.reliability.helpers import REQUEST_ID, assert_converged, images_program
from tests.support.images import live_images

P1, P2 = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
AK1, SK1, AK2, SK2 = "AKPROJECTONE00000001", "sk-project-one", "AKPROJECTTWO00000002", "sk-project-two"
T1, T2 = "token-project-one", "token-project-two"
NO_RETRY = RetryPolicy(max_attempts=1)


@pytest.fixture(scope="module")
def two_projects() -> Iterator[Emulator]:
    """An emulator with two projects, each with an AK/SK pair and a token (no demo credentials)."""
    args = ["--identity", f"{AK1}:{SK1}:{P1}", "--identity", f"{AK2}:{SK2}:{P2}",
            "--token", f"{T1}:{P1}", "--token", f"{T2}:{P2}", "--no-demo-identity"]
    with Emulator.start(None, *args) as emu:
        yield emu


@pytest.fixture
def emu2(two_projects: Emulator) -> Emulator:
    two_projects.reset()
    return two_projects


def client(emu: Emulator, transport: type[Transport] = Transport, **credentials: str) -> ImsClient:
    return ImsClient(transport(emu.url, Credentials(**credentials), retry=NO_RETRY), delete_timeout=5)


class TamperedSignature(Transport):
    """Signs correctly, then changes one hex digit of the signature."""

    def _headers(self, method: str, url: str, headers: Any, body: bytes) -> dict[str, str]:
        out = super()._headers(method, url, headers, body)
        auth = Authorization.parse(out["Authorization"])
        assert auth is not None
        flipped = auth.signature[:-1] + ("0" if auth.signature[-1] != "0" else "1")
        out["Authorization"] = Authorization(auth.access_key, auth.signed_headers, flipped).header()
        return out


REFUSED = {
    "tampered signature": (TamperedSignature, {"access_key": AK1, "secret_key": SK1, "project_id": P1},
                           "the signature does not match"),
    "wrong secret key": (Transport, {"access_key": AK1, "secret_key": SK2, "project_id": P1},
                         "the signature does not match"),
    "unknown access key": (Transport, {"access_key": "AKNOBODYKNOWSTHIS001", "secret_key": SK1, "project_id": P1},
                           "the access key does not exist"),
    "access key of another project": (Transport, {"access_key": AK1, "secret_key": SK1, "project_id": P2},
                                      "X-Project-Id is missing or is not the project of the access key"),
    "unknown token": (Transport, {"auth_token": "token-nobody-issued"}, "the token is invalid or expired"),
}


@pytest.mark.contract
@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_refused_credentials_are_401_with_what_to_do(emu2: Emulator, case: str) -> None:
    transport, credentials, detail = REFUSED[case]
    api = client(emu2, transport, **credentials)
    with pytest.raises(AuthenticationFailed) as info:
        api.create_image({"name": "refused-000", "tags": [create_token_tag("r" * 32)]})
    error = info.value
    assert (error.status, error.code) == (401, "APIGW.0301"), case
    assert detail in error.api_message, error.api_message
    text = str(error)
    assert REQUEST_ID.search(text) and "Check ims:accessKey/ims:secretKey" in text, text
    assert all(secret not in text for secret in (SK1, SK2, T1, T2)), "no secret in the message"
    assert emu2.images() == [] and "POST /v2/images" not in emu2.stats()["requests"], \
        "refused at the look-up: the create was never sent"


@pytest.mark.contract
def test_stale_signature_date_is_401_mentioning_the_clock(emu2: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = (datetime.now(UTC) - timedelta(minutes=20)).strftime(signer.DATE_FORMAT)
    monkeypatch.setattr(signer, "format_date", lambda when=None: stale)
    with pytest.raises(AuthenticationFailed) as info:
        client(emu2, access_key=AK1, secret_key=SK1, project_id=P1).get_image("any")
    assert "more than 15 minutes away" in info.value.api_message
    assert "machine clock is correct" in str(info.value)


@pytest.mark.contract
@pytest.mark.parametrize("other", ["token", "aksk"])
def test_no_image_of_one_project_is_visible_to_another(emu2: Emulator, other: str) -> None:
    one = client(emu2, access_key=AK1, secret_key=SK1, project_id=P1)
    # The other project's client: its own token (even claiming project one) or its own AK/SK.
    two = client(emu2, auth_token=T2, project_id=P1) if other == "token" else \
        client(emu2, access_key=AK2, secret_key=SK2, project_id=P2)
    token = "s" * 32  # the same create token in both projects
    mine = one.create_image({"name": "shared-000", "tags": [create_token_tag(token)]})

    assert two.get_image(mine["id"]) is None
    assert [i["id"] for i in two.list_images([("visibility", "private")])] == []
    assert two.find_by_token("shared-000", token) is None
    with pytest.raises(NotFound) as info:
        two.update_image(mine["id"], [{"op": "replace", "path": "/name", "value": "stolen"}])
    assert info.value.code == "IMG.0027"
    two.delete_image(mine["id"])  # "already gone" from where it stands: nothing happens to project one's image
    theirs = two.create_image({"name": "shared-000", "tags": [create_token_tag(token)]})

    assert theirs["id"] != mine["id"], "the token look-up never adopts another project's image"
    assert one.get_image(mine["id"]) == mine, "untouched: not renamed, not deleted"
    assert emu2.stats()["images"] == {P1: 1, P2: 1}
    assert {i["owner"] for i in emu2.images(P1)} == {P1} and {i["owner"] for i in emu2.images(P2)} == {P2}


@pytest.mark.e2e
def test_same_stack_in_two_projects_stays_apart(tmp_path: Path, emu2: Emulator, pulumi_cli: None) -> None:
    """Two backends, same project/stack/resource names (so the same create tokens), two IMS projects."""
    def project(where: str, config: dict[str, str], secrets: dict[str, str]) -> PulumiProject:
        return PulumiProject.create(tmp_path / where, images_program(3, "iso"),
                                    config={"ims:endpoint": emu2.url, **config}, secrets=secrets,
                                    backend=tmp_path / where / "state")

    first = project("one", {"ims:projectId": P1}, {"ims:accessKey": AK1, "ims:secretKey": SK1})
    second = project("two", {}, {"ims:authToken": T2})
    first.up()
    second.up()
    assert_converged(first, emu2, 3, "iso", P1)
    assert_converged(second, emu2, 3, "iso", P2)
    assert emu2.stats()["images"] == {P1: 3, P2: 3}
    tokens = [sorted(r["inputs"]["__create_token"] for r in p.resources()) for p in (first, second)]
    assert tokens[0] == tokens[1], "the same tokens: only the project scoping keeps the stacks apart"

    second.destroy()
    assert live_images(emu2, "iso", P2) == []
    assert_converged(first, emu2, 3, "iso", P1)
