"""Issue 6, item 6: every invalid input and inconsistent provider configuration fails at ``pulumi preview``.

Each case is its own preview of a program with one resource (the engine stops at the first
resource that fails ``check``, so one program with every case would prove only the first).
The previews run a few at a time, then each case is checked: the preview failed, its message
names the field and what is allowed, and the emulator saw no request at all, so certainly no
write.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from harness.pulumi_cli import PulumiProject, Result, ims_config
from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK, DEMO_TOKEN
from ims_emulator.process import Emulator
from tests.reliability.helpers import diagnostics
from tests.unit.test_check import BASE, INVALID

pytestmark = [pytest.mark.e2e]

PROGRAM = '''
import json
import os

from ims_pulumi import ImageMetadata

ImageMetadata("bad", **json.loads(os.environ["IMS_BAD_INPUT"]))
'''

# (reason, inputs, field, text the message must contain): the unit table of check() plus more.
MORE_INPUTS = [
    ("min_disk as a string", {"min_disk": "40"}, "min_disk", "whole number of GB from 1 to 1024"),
    ("protected as a number", {"protected": 1}, "protected", "true or false"),
    ("tags as a map", {"tags": {"team": "infra"}}, "tags", "list of strings"),
    ("property value a list", {"properties": {"k": ["a"]}}, "properties", "must be a string"),
    ("property key reserved: id", {"properties": {"id": "x"}}, "properties", "reserved"),
]
INPUT_CASES = [(reason, inputs if field == "name" and "name" not in inputs else {**BASE, **inputs}, field, text)
               for reason, inputs, field, text in [*INVALID, *MORE_INPUTS]]

ENDPOINT = "http://127.0.0.1:1"  # replaced by the emulator's URL
GOOD = {"ims:endpoint": ENDPOINT, "ims:projectId": DEMO_PROJECT_ID}
AKSK = {"ims:accessKey": DEMO_AK, "ims:secretKey": DEMO_SK}
# (reason, stack config, texts the message must contain)
CONFIG_CASES = [
    ("access key without secret key", {**GOOD, "ims:accessKey": DEMO_AK},
     ["ims:accessKey (HW_ACCESS_KEY) is set but ims:secretKey (HW_SECRET_KEY) is not", "needs both"]),
    ("secret key without access key", {**GOOD, "ims:secretKey": DEMO_SK},
     ["ims:secretKey (HW_SECRET_KEY) is set but ims:accessKey (HW_ACCESS_KEY) is not"]),
    ("AK/SK and a token", {**GOOD, **AKSK, "ims:authToken": DEMO_TOKEN},
     ["ims:authToken (HW_AUTH_TOKEN) are set", "choose one way to authenticate"]),
    ("security token without AK/SK", {**GOOD, "ims:authToken": DEMO_TOKEN, "ims:securityToken": "sts"},
     ["ims:securityToken (HW_SECURITY_TOKEN) is only used with temporary AK/SK", "set accessKey and secretKey"]),
    ("AK/SK without a project", {"ims:endpoint": ENDPOINT, **AKSK},
     ["ims:projectId (HW_PROJECT_ID) is required with AK/SK"]),
    ("no credentials at all", dict(GOOD),
     ["no credentials: set ims:accessKey (HW_ACCESS_KEY) and ims:secretKey", "ims:authToken"]),
    ("endpoint that is not a URL", {**GOOD, **AKSK, "ims:endpoint": "ims.cn-north-4.myhuaweicloud.com"},
     ["ims:endpoint (HW_IMS_ENDPOINT) must be an http(s) URL like https://"]),
    ("insecure that is not a boolean", {**GOOD, **AKSK, "ims:insecure": "maybe"},
     ["ims:insecure (HW_INSECURE) must be true or false, not 'maybe'"]),
    ("CA bundle that does not exist", {**GOOD, **AKSK, "ims:caBundle": "/nonexistent/ca.pem"},
     ["ims:caBundle (HW_CA_BUNDLE) names '/nonexistent/ca.pem', which is not a readable file"]),
]


@dataclasses.dataclass
class Previews:
    """Every case's preview, and the emulator's counters once they all ran."""

    inputs: dict[str, Result]
    configs: dict[str, Result]
    stats: dict[str, Any]


@pytest.fixture(scope="module")
def previews(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory, pulumi_cli: None) -> Iterator[Previews]:
    emulator.reset()
    config, secrets = ims_config(emulator.url)
    project = PulumiProject.create(tmp_path_factory.mktemp("bad-input"), PROGRAM, config=config, secrets=secrets)
    salt = (project.dir / f"Pulumi.{project.stack}.yaml").read_text().splitlines()[0]
    assert salt.startswith("encryptionsalt:"), salt

    def preview_input(inputs: dict[str, Any]) -> Result:
        env = {**project.env, "IMS_BAD_INPUT": json.dumps(inputs)}
        return dataclasses.replace(project, env=env).preview(check=False)

    def preview_config(index: int, settings: dict[str, str]) -> Result:
        # A whole stack configuration per case (values in plain text: what matters here is consistency).
        path = project.dir / f"case-{index}.yaml"
        lines = [salt, "config:"] + [f"  {k}: {json.dumps(v.replace(ENDPOINT, emulator.url))}"
                                     for k, v in settings.items()]
        path.write_text("\n".join(lines) + "\n")
        env = {**project.env, "IMS_BAD_INPUT": json.dumps({"name": "fine"})}
        return dataclasses.replace(project, env=env).preview("--config-file", str(path), check=False)

    with ThreadPoolExecutor(max_workers=4) as pool:
        inputs = {reason: pool.submit(preview_input, inputs) for reason, inputs, _, _ in INPUT_CASES}
        configs = {reason: pool.submit(preview_config, i, settings)
                   for i, (reason, settings, _) in enumerate(CONFIG_CASES)}
        results = Previews({k: f.result() for k, f in inputs.items()}, {k: f.result() for k, f in configs.items()},
                           {})
    results.stats = emulator.stats()
    yield results


def _error_of_bad(result: Result) -> str:
    assert result.returncode != 0, f"preview must fail:\n{result.output[-2000:]}"
    messages = diagnostics(result.stdout).get("bad", [])
    errors = [m for m in messages if m.startswith("error: ")]
    assert len(errors) == 1, f"one error for the resource, got {messages}\n{result.output[-2000:]}"
    assert "Traceback" not in errors[0], errors[0]
    return errors[0]


def test_at_least_forty_invalid_inputs() -> None:
    assert len(INPUT_CASES) >= 40 and len({reason for reason, *_ in INPUT_CASES}) == len(INPUT_CASES)


@pytest.mark.parametrize("reason,inputs,field,text", INPUT_CASES, ids=[c[0] for c in INPUT_CASES])
def test_invalid_input_fails_at_preview(previews: Previews, reason: str, inputs: dict[str, Any], field: str,
                                       text: str) -> None:
    message = _error_of_bad(previews.inputs[reason])
    # The engine's words around check()'s: "... resource 'bad': property FIELD value {...} has a problem: REASON";
    # a value that would not print as itself (a CR, an ANSI sequence) is left to REASON, which quotes it
    # escaped: "... resource 'bad' has a problem: REASON" (framework.Failure.quote)
    engine = rf"resource 'bad': property {re.escape(field)} value .* has a problem: "
    unquoted = rf"resource 'bad' has a problem: {re.escape(field)} "
    assert re.search(engine, message, re.DOTALL) or re.search(unquoted, message), message
    problem = message.split("has a problem: ", 1)[1]
    assert field in problem, f"{reason}: the reason names the field: {problem}"
    assert text in problem, f"{reason}: the reason says what is allowed ({text!r}): {problem}"


@pytest.mark.parametrize("reason,settings,texts", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_inconsistent_configuration_fails_at_preview(previews: Previews, reason: str, settings: dict[str, str],
                                                     texts: list[str]) -> None:
    message = _error_of_bad(previews.configs[reason])
    for text in texts:
        assert text in message, f"{reason}: {text!r} not in {message}"


def test_no_request_reached_the_api(previews: Previews) -> None:
    assert previews.stats["writes"] == 0
    # check() makes two documented reads at most, once per preview each: the credentials check, and
    # the region's OS list for an os_version the built-in table does not know
    assert set(previews.stats["requests"]) <= {"GET /v2/images", "GET /v1/cloudimages/os_version"}, \
        previews.stats["requests"]
