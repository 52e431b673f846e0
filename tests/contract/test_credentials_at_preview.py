"""Preview proves endpoint and credentials: one authenticated request per provider process,
so a wrong key or an unreachable endpoint fails `pulumi preview` as it would fail `up`."""

from __future__ import annotations

import pytest

from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK
from ims_emulator.process import Emulator
from ims_pulumi.core.context import ProviderContext
from ims_pulumi.core.errors import AuthenticationFailed, TransportError
from ims_pulumi.dynamic.provider import ImageMetadataProvider

pytestmark = pytest.mark.contract

NEWS = {"name": "probe", "__create_token": "p" * 32}


def provider(url: str, **extra: str) -> ImageMetadataProvider:
    raw = {"endpoint": url, "projectId": DEMO_PROJECT_ID, "accessKey": DEMO_AK, "secretKey": DEMO_SK, **extra}
    return ImageMetadataProvider.with_context(ProviderContext(raw, environ={}))


def test_good_credentials_cost_one_request_per_process(emu: Emulator) -> None:
    p = provider(emu.url)
    emu.reset_stats()
    for _ in range(3):
        assert not p.check({}, NEWS).failures
    assert emu.stats()["requests"] == {"GET /v2/images": 1}


def test_a_wrong_secret_key_fails_the_preview(emu: Emulator) -> None:
    p = provider(emu.url, secretKey="not-the-secret")
    with pytest.raises(AuthenticationFailed, match="HTTP 401") as info:
        p.check({}, NEWS)
    assert "not-the-secret" not in str(info.value), "the secret never appears in the message"
    with pytest.raises(AuthenticationFailed):
        p.check({}, NEWS)  # the outcome is kept: no second request


def test_an_unreachable_endpoint_fails_the_preview() -> None:
    with pytest.raises(TransportError, match="Check that ims:endpoint is right and reachable"):
        provider("http://127.0.0.1:9").check({}, NEWS)


def test_the_check_can_be_turned_off_for_offline_previews(emu: Emulator) -> None:
    p = provider("http://127.0.0.1:9", skipCredentialsValidation="true")
    assert not p.check({}, NEWS).failures


def test_refresh_and_destroy_with_a_recorded_wrong_key_say_what_to_do(emu: Emulator) -> None:
    """The state records the provider configuration of the last `up`; refresh and destroy use it."""
    good = provider(emu.url)
    created = good.create(dict(good.check({}, NEWS).inputs))
    stale = provider(emu.url, secretKey="the-old-key", skipCredentialsValidation="true")
    for call, command in ((lambda: stale.read(created.id, created.outs), "pulumi refresh"),
                          (lambda: stale.delete(created.id, created.outs), "pulumi destroy")):
        with pytest.raises(AuthenticationFailed) as info:
            call()
        text = str(info.value)
        assert "HTTP 401" in text and f"`{command}` uses the provider configuration recorded in the state" in text
        assert "--run-program" in text and "the-old-key" not in text
    good.delete(created.id, created.outs)
