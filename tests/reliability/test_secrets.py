"""Issue 6, item 7: AK, SK and tokens never appear in plain text, wherever the tests can look.

The emulator accepts only distinctive credentials, so a search for them cannot match by
accident. Searched: CLI output at the highest verbosity with the plugins' logs
(``-v=9 --logtostderr --logflow``), error messages of a refused run, ``pulumi stack export``
with and without ``--show-secrets`` (and the pickled provider in it, decoded), and every file
of the state backend, of ``PULUMI_HOME`` (logs) and of the project directory.
"""

from __future__ import annotations

import base64
import json
import pickletools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.pulumi_cli import PulumiProject, Result
from ims_emulator.process import Emulator
from tests.reliability.helpers import images_program
from tests.support.images import live_images

pytestmark = [pytest.mark.e2e]

PROJECT_ID = "5ec7e75000000000000000000000c0de"
AK = "AKSECRETTESTQ7X2LMNOPQ"
SK = "sk-Secret-Test-9f3e7a1c-do-not-leak"
TOKEN = "tok-Secret-Test-51c2e8-do-not-leak"
STS = "sts-Secret-Test-0b9d44-do-not-leak"
WRONG_SK = "sk-Wrong-Secret-e41f02-do-not-leak"
SECRETS = {"access key": AK, "secret key": SK, "token": TOKEN, "security token": STS, "wrong secret key": WRONG_SK}
VERBOSE = ("-v=9", "--logtostderr", "--logflow")


@pytest.fixture(scope="module")
def secret_emulator() -> Iterator[Emulator]:
    with Emulator.start(None, "--identity", f"{AK}:{SK}:{PROJECT_ID}", "--token", f"{TOKEN}:{PROJECT_ID}") as emu:
        yield emu


def leaks(text: str) -> list[str]:
    """Which secrets appear in ``text``, also base64- or JSON-escaped."""
    found = []
    for what, value in SECRETS.items():
        forms = (value, json.dumps(value)[1:-1], base64.b64encode(value.encode()).decode())
        if any(form in text for form in forms):
            found.append(what)
    return found


def provider_pickles(deployment: dict[str, Any]) -> list[str]:
    """Every pickled ``__provider`` in the state, decoded (what unpickling would see)."""
    out = []
    for resource in deployment.get("resources") or []:
        for props in (resource.get("inputs") or {}, resource.get("outputs") or {}):
            raw = props.get("__provider")
            if isinstance(raw, str):
                data = base64.b64decode(raw)
                out.append(repr(data) + "\n" + "\n".join(str(op) for op in pickletools.genops(data)))
    return out


def without_decrypted_config(export: dict[str, Any]) -> dict[str, Any]:
    """The export minus the secret config of provider resources, which ``--show-secrets`` decrypts.

    Everything else must hold no credential even then. Those inputs (and outputs) are what Pulumi
    keeps of the stack config for the provider, and are ciphertext without ``--show-secrets``.
    """
    out = json.loads(json.dumps(export))
    for resource in out.get("deployment", {}).get("resources") or []:
        if resource.get("type", "").startswith("pulumi:providers:"):
            for props in (resource.get("inputs") or {}, resource.get("outputs") or {}):
                for key, value in list(props.items()):
                    if isinstance(value, dict) and "plaintext" in value:
                        props[key] = "[decrypted secret config]"
    return out


def test_credentials_never_appear_in_plain_text(tmp_path: Path, secret_emulator: Emulator, pulumi_cli: None) -> None:
    emu = secret_emulator
    emu.reset()
    plain = {"ims:endpoint": emu.url, "ims:projectId": PROJECT_ID}
    searched: dict[str, str] = {}

    def run(name: str, result: Result) -> Result:
        searched[name] = result.output
        return result

    # AK/SK with a security token (temporary credentials), everything logged.
    aksk = PulumiProject.create(tmp_path / "aksk", images_program(2, "aksk"), name="aksk", config=plain,
                                secrets={"ims:accessKey": AK, "ims:secretKey": SK, "ims:securityToken": STS},
                                backend=tmp_path / "state")
    verbose = run("up, AK/SK, -v=9", aksk.up(*VERBOSE))
    assert '"level":"' in verbose.output and "Configure() executing" in verbose.output, "really verbose"
    assert PROJECT_ID in verbose.output, "the logs do show configuration values: the search can find them"
    assert len(live_images(emu, "aksk", PROJECT_ID)) == 2

    # A token instead.
    token = PulumiProject.create(tmp_path / "token", images_program(2, "token"), name="token", config=plain,
                                 secrets={"ims:authToken": TOKEN}, backend=tmp_path / "state")
    run("up, token, -v=9", token.up(*VERBOSE))
    assert len(live_images(emu, "token", PROJECT_ID)) == 2

    # Refused: the error message and its logs.
    wrong = PulumiProject.create(tmp_path / "wrong", images_program(1, "wrong"), name="wrong", config=plain,
                                 secrets={"ims:accessKey": AK, "ims:secretKey": WRONG_SK},
                                 backend=tmp_path / "state")
    refused = run("refused up, -v=9", wrong.up(*VERBOSE, check=False))
    assert refused.returncode != 0 and "HTTP 401" in refused.output

    # Credentials from the environment (HW_*) instead of stack config.
    env = PulumiProject.create(tmp_path / "env", images_program(1, "env"), name="env", config=plain,
                               backend=tmp_path / "state", extra_env={"HW_ACCESS_KEY": AK, "HW_SECRET_KEY": SK})
    run("up, HW_* environment, -v=9", env.up(*VERBOSE))
    assert len(live_images(emu, "env", PROJECT_ID)) == 1

    # The state as exported, and the pickled provider in it.
    decrypted_on_request: dict[str, list[str]] = {}
    for project in (aksk, token, wrong, env):
        deployment = project.export()
        searched[f"{project.dir.name}: stack export"] = json.dumps(deployment)
        shown = project.export("--show-secrets")
        decrypted_on_request[project.dir.name] = leaks(json.dumps(shown))
        searched[f"{project.dir.name}: stack export --show-secrets, but config secrets"] = json.dumps(
            without_decrypted_config(shown))
        for args, export in (((), deployment), (("--show-secrets",), shown)):
            for i, text in enumerate(provider_pickles(export.get("deployment", {}))):
                searched[f"{project.dir.name}: __provider #{i} {' '.join(args)}"] = text
        searched[f"{project.dir.name}: config"] = project.run("config", "--json").stdout
    assert sum("__provider" in name for name in searched) >= 8, "the pickled providers were looked at"
    # --show-secrets decrypts, on request, the stack config Pulumi keeps (encrypted) as the inputs of
    # the default provider resource; credentials taken from the environment never reach the state.
    assert decrypted_on_request == {"aksk": ["access key", "secret key", "security token"], "token": ["token"],
                                    "wrong": ["access key", "wrong secret key"], "env": []}

    run("destroy, AK/SK, -v=9", aksk.destroy(*VERBOSE))
    run("destroy, token, -v=9", token.destroy(*VERBOSE))
    run("destroy, HW_* environment, -v=9", env.destroy(*VERBOSE))

    # Every file the CLI wrote: state backend (checkpoints, history, locks), PULUMI_HOME (logs), projects.
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    logs = [p for p in files if "logs" in p.parts]
    assert logs, "PULUMI_HOME/logs was searched"
    for path in files:
        searched[str(path.relative_to(tmp_path))] = path.read_bytes().decode("utf-8", "replace")

    found = {name: leaked for name, text in searched.items() if (leaked := leaks(text))}
    assert found == {}, f"credentials in plain text: {found}"
    stack_config = (aksk.dir / "Pulumi.dev.yaml").read_text()
    assert "secure: v1:" in stack_config and PROJECT_ID in stack_config, "config holds only ciphertext secrets"
