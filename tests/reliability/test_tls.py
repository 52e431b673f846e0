"""Issue 6, item 8: TLS is verified by default, ``ims:caBundle`` trusts a private CA, ``ims:insecure`` warns.

The emulator serves HTTPS with a certificate made by a CA created in the test (trustme).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK
from ims_emulator.process import Emulator
from ims_pulumi.core.errors import TransportError
from ims_pulumi.core.transport import Credentials, Transport
from tests.reliability.helpers import diagnostics, images_program, make_certificates
from tests.support.images import live_images

pytestmark = [pytest.mark.e2e]

INSECURE_WARNING = "TLS certificate verification is disabled for"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, Path]]:
    """An emulator on https, and the PEM of the CA that signed its certificate."""
    server, ca = make_certificates(tmp_path_factory.mktemp("tls"))
    with Emulator.start(None, "--tls-cert", str(server), "--tls-key", str(server), verify=str(ca)) as emu:
        assert emu.url.startswith("https://")
        yield emu, ca


def test_verification_is_on_by_default_and_fails_fast_naming_ca_bundle(
        tmp_path: Path, tls: tuple[Emulator, Path], pulumi_cli: None) -> None:
    emu, _ = tls
    emu.reset()
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, images_program(2, "untrusted"), config=config, secrets=secrets)
    started = time.monotonic()
    up = project.up(check=False)
    elapsed = time.monotonic() - started
    assert up.returncode != 0
    failed = {k: v for k, v in diagnostics(up.stdout).items() if k.startswith("img-")}
    assert failed, up.output[-3000:]
    for _name, messages in failed.items():
        (message,) = messages
        # the credentials check of the first check() meets the handshake first
        assert "check ims:endpoint and the credentials failed" in message, message
        assert "TLS certificate verification failed" in message and "ims:caBundle" in message, message
        assert emu.url in message and "Traceback" not in message, message
        assert "attempts" not in message, f"not retried: {message}"
    assert elapsed < 30, f"a TLS failure is not retried for minutes ({elapsed:.0f}s)"
    assert emu.stats()["requests"] == {}, "no request passes an untrusted handshake"
    assert project.resources() == [] and live_images(emu, "untrusted") == []


def test_a_ca_bundle_from_another_ca_is_refused(tmp_path: Path, tls: tuple[Emulator, Path],
                                                 pulumi_cli: None) -> None:
    emu, _ = tls
    emu.reset()
    _, other_ca = make_certificates(tmp_path, trustme.CA())
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, images_program(1, "otherca"),
                                   config={**config, "ims:caBundle": str(other_ca)}, secrets=secrets)
    up = project.up(check=False)
    (message,) = diagnostics(up.stdout)["img-000"]
    assert "TLS certificate verification failed" in message and "ims:caBundle" in message, message
    assert emu.stats()["requests"] == {}


def test_ca_bundle_then_insecure_with_a_warning(tmp_path: Path, tls: tuple[Emulator, Path], pulumi_cli: None) -> None:
    emu, ca = tls
    emu.reset()
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, images_program(2, "trusted"),
                                   config={**config, "ims:caBundle": str(ca)}, secrets=secrets)
    up = project.up()
    assert INSECURE_WARNING not in up.output
    assert len(live_images(emu, "trusted")) == 2

    # Skipping verification is an explicit opt-in, and says so. (Refresh and destroy use the provider
    # configuration kept in the state, so the next `up` is what takes the new settings.)
    project.run("config", "rm", "ims:caBundle")
    project.run("config", "set", "ims:insecure", "true")
    project.write_program(images_program(3, "trusted"))
    up = project.up()
    warnings = [m for m in diagnostics(up.stdout).get("e2e-dev", []) if m.startswith("warning: ")]
    assert len(warnings) == 1 and INSECURE_WARNING in warnings[0] and "ims:insecure" in warnings[0], up.stdout
    assert emu.url in warnings[0] and "InsecureRequestWarning" not in up.output
    assert len(live_images(emu, "trusted")) == 3
    destroy = project.destroy()
    assert INSECURE_WARNING in destroy.output
    assert live_images(emu, "trusted") == []


@pytest.mark.contract
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_an_untrusted_certificate_is_never_retried(tls: tuple[Emulator, Path], method: str) -> None:
    emu, _ = tls
    slept: list[float] = []
    transport = Transport(emu.url, Credentials(DEMO_AK, DEMO_SK, project_id=DEMO_PROJECT_ID), sleep=slept.append)
    with pytest.raises(TransportError) as info:
        transport.request(method, "/v2/images", operation="list images", json_body={} if method == "POST" else None)
    assert slept == [], "repeating a failed verification cannot succeed: fail at once"
    assert info.value.sent is False
    message = str(info.value)
    assert message.startswith("list images failed: TLS certificate verification failed"), message
    assert "ims:caBundle (HW_CA_BUNDLE)" in message and "ims:insecure" in message and emu.url in message


def test_preview_warns_about_insecure_too(tmp_path: Path, tls: tuple[Emulator, Path], pulumi_cli: None) -> None:
    emu, _ = tls
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, images_program(1, "insecure-preview"),
                                   config={**config, "ims:insecure": "true"}, secrets=secrets)
    assert INSECURE_WARNING in project.preview().output
