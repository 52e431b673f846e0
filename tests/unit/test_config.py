"""Provider configuration: stack config first, HW_* environment second, errors that name both."""

from __future__ import annotations

from typing import Any

import pytest

from ims_pulumi.core.config import resolve
from ims_pulumi.core.errors import ConfigError

pytestmark = pytest.mark.unit

AKSK = {"endpoint": "http://127.0.0.1:1", "accessKey": "AK", "secretKey": "SK", "projectId": "p"}


def run(cfg: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    return resolve(lambda key: cfg.get(key), env or {})


@pytest.mark.parametrize("cfg,env,text,reason", [
    ({}, {}, "ims:endpoint (HW_IMS_ENDPOINT)", "no endpoint and no region"),
    ({"endpoint": "ftp://x"}, {}, "must be an http(s) URL", "bad scheme"),
    ({"region": "cn-north-4"}, {}, "no credentials", "IMS needs credentials"),
    ({**AKSK, "secretKey": None}, {}, "ims:secretKey (HW_SECRET_KEY) is not", "AK without SK"),
    ({**AKSK, "accessKey": None}, {}, "ims:accessKey (HW_ACCESS_KEY) is not", "SK without AK"),
    ({**AKSK, "authToken": "t"}, {}, "choose one way", "AK/SK and token together"),
    ({**AKSK, "projectId": None}, {}, "ims:projectId (HW_PROJECT_ID) is required", "AK/SK without project"),
    ({"endpoint": "http://x", "authToken": "t", "securityToken": "s"}, {}, "only used with temporary AK/SK",
     "security token without AK/SK"),
    ({**AKSK, "server": "swift"}, {}, "ims:server (HW_IMS_SERVER) must be one of", "unknown server kind"),
    ({**AKSK, "insecure": "maybe"}, {}, "ims:insecure (HW_INSECURE) must be true or false", "bad bool"),
    ({**AKSK, "caBundle": "/nonexistent.pem"}, {}, "not a readable file", "missing CA bundle"),
])
def test_invalid_configuration(cfg: dict[str, Any], env: dict[str, str], text: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        run(cfg, env)
    assert text in str(info.value), reason


def test_secrets_never_in_error_text() -> None:
    with pytest.raises(ConfigError) as info:
        run({"endpoint": "http://x", "accessKey": "AKSECRETVALUE", "authToken": "TOKENVALUE", "secretKey": "SKV",
             "projectId": "p"})
    assert "AKSECRETVALUE" not in str(info.value) and "TOKENVALUE" not in str(info.value)


def test_environment_fallbacks() -> None:
    cfg = run({}, {"HW_REGION_NAME": "ap-southeast-1", "HW_ACCESS_KEY": "A", "HW_SECRET_KEY": "S",
                   "HW_PROJECT_ID": "p"})
    assert cfg.endpoint == "https://ims.ap-southeast-1.myhuaweicloud.com"
    assert cfg.credentials.mode == "aksk" and cfg.credentials.project_id == "p"


def test_stack_config_wins_over_environment() -> None:
    cfg = run({"endpoint": "http://cfg"}, {"HW_IMS_ENDPOINT": "http://env", "HW_AUTH_TOKEN": "t"})
    assert cfg.endpoint == "http://cfg" and cfg.credentials.mode == "token"


def test_glance_needs_no_credentials_and_patches_protected() -> None:
    cfg = run({"endpoint": "http://g", "server": "glance"})
    assert cfg.credentials.mode == "none" and cfg.profile.protected_in_place


def test_protected_in_place_override() -> None:
    assert run({**AKSK, "protectedInPlace": "true"}).profile.protected_in_place
    assert not run(AKSK).profile.protected_in_place


def test_tls_settings() -> None:
    assert run(AKSK).verify is True
    insecure = run({**AKSK, "insecure": "true"})
    assert insecure.verify is False and insecure.insecure


def test_repr_hides_credentials() -> None:
    assert "SK" not in repr(run({**AKSK, "secretKey": "VERYSECRET"})).replace("SKIP", "")
