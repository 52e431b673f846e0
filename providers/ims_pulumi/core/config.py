"""Provider configuration: stack config in the ``ims`` namespace, with environment fallbacks.

Read in ``configure()`` and at call time; never stored on the provider instance (that is
pickled into the state of every resource). Secrets are held in fields that ``repr`` hides.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError
from .profiles import PROFILES, ServerProfile
from .transfer import bucket_problem
from .transport import Credentials


@dataclass(frozen=True)
class Setting:
    """One configuration key: stack config ``ims:<key>`` or environment variable ``env``."""

    key: str
    env: str
    doc: str
    secret: bool = False
    default: str = ""


SETTINGS: tuple[Setting, ...] = (
    Setting("server", "HW_IMS_SERVER", "Kind of server: `ims` (Huawei Cloud IMS or the emulator) or `glance`.",
            default="ims"),
    Setting("endpoint", "HW_IMS_ENDPOINT", "Base URL; default `https://ims.{region}.myhuaweicloud.com`."),
    Setting("region", "HW_REGION_NAME", "Region, e.g. `cn-north-4`; builds the default endpoint."),
    Setting("projectId", "HW_PROJECT_ID", "Project id (sent as `X-Project-Id` with AK/SK)."),
    Setting("accessKey", "HW_ACCESS_KEY", "Access key (AK) for `SDK-HMAC-SHA256` signing.", secret=True),
    Setting("secretKey", "HW_SECRET_KEY", "Secret key (SK).", secret=True),
    Setting("securityToken", "HW_SECURITY_TOKEN", "Security token of temporary AK/SK.", secret=True),
    Setting("authToken", "HW_AUTH_TOKEN", "IAM (or Keystone) token, sent as `X-Auth-Token`, instead of AK/SK.",
            secret=True),
    Setting("caBundle", "HW_CA_BUNDLE", "PEM file of CAs to trust for TLS (default: the system/certifi store)."),
    Setting("insecure", "HW_INSECURE", "`true` skips TLS verification (prints a warning; never in production).",
            default="false"),
    Setting("protectedInPlace", "HW_IMS_PROTECTED_IN_PLACE",
            "`true` if the endpoint lets PATCH change `protected` (Glance does; IMS documents it does not)."),
    Setting("deleteTimeout", "HW_IMS_DELETE_TIMEOUT", "Seconds to wait for a deleted image to disappear.",
            default="120"),
    Setting("skipCredentialsValidation", "HW_IMS_SKIP_CREDENTIALS_VALIDATION",
            "`true` skips the one authenticated request that checks endpoint and credentials at preview "
            "(offline previews).", default="false"),
    Setting("uploadTimeout", "HW_IMS_UPLOAD_TIMEOUT", "Seconds to wait for an uploaded image to become `active`.",
            default="1800"),
    Setting("urlImport", "HW_IMS_URL_IMPORT",
            "How a URL `source` reaches a Glance server: `auto` hands the URL to Glance's `web-download` import "
            "where the server offers it (else the provider streams it), `stream` always streams it through the "
            "provider. IMS: always streamed.", default="auto"),
    Setting("obsBucket", "HW_OBS_BUCKET",
            "OBS bucket (of the IMS region) where the provider stages image files that IMS's native upload cannot "
            "carry (2 GB or more; with AK/SK, over 12 MB), to register them (`PUT /v1/cloudimages/{id}/upload`). "
            "Signed with the same AK/SK as IMS (a token cannot stage). Unset: such files are refused at preview."),
    Setting("obsEndpoint", "HW_OBS_ENDPOINT",
            "OBS endpoint for staging (its S3-compatible API); default `https://obs.{region}.myhuaweicloud.com` "
            "from ims:region."),
    Setting("obsRegion", "HW_OBS_REGION",
            "Region OBS requests are signed for (AWS Signature V4); default ims:region, else `us-east-1`."),
    Setting("obsKeepStaged", "HW_OBS_KEEP_STAGED",
            "`true` keeps a staged object in ims:obsBucket once its image is `active` (and at destroy); by default "
            "the provider deletes it.", default="false"),
)
URL_IMPORT_MODES = ("auto", "stream")
BY_KEY = {s.key: s for s in SETTINGS}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


@dataclass(frozen=True)
class ProviderConfig:
    """Validated settings. ``repr`` shows no secret."""

    endpoint: str
    profile: ServerProfile
    credentials: Credentials = field(repr=False)
    verify: bool | str = True
    insecure: bool = False
    delete_timeout: float = 120.0
    upload_timeout: float = 1800.0
    validate_credentials: bool = True
    url_import: str = "auto"
    #: OBS staging (``ims:obsBucket``; "" when unset), its endpoint ("" when neither it nor a region is
    #: set), the region its requests are signed for, and whether staged objects are kept.
    obs_bucket: str = ""
    obs_endpoint: str = ""
    obs_region: str = "us-east-1"
    obs_keep_staged: bool = False


def _name(s: Setting) -> str:
    return f"ims:{s.key} ({s.env})"


def _bool(s: Setting, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{_name(s)} must be true or false, not {raw!r}")


def resolve(lookup: Callable[[str], Any], environ: Mapping[str, str] | None = None) -> ProviderConfig:
    """Build and validate the configuration.

    ``lookup(key)`` returns the stack config value of ``ims:<key>`` or ``None``; the
    environment variable is the fallback. Raises :class:`ConfigError` naming the key and
    the environment variable of the first problem found.
    """
    env = os.environ if environ is None else environ

    def get(key: str) -> str:
        s = BY_KEY[key]
        value = lookup(key)
        if value is None or value == "":
            value = env.get(s.env, "")
        return str(value if value not in (None, "") else s.default).strip()

    server = get("server").lower()
    if server not in PROFILES:
        raise ConfigError(f"{_name(BY_KEY['server'])} must be one of {', '.join(PROFILES)}, not {server!r}")
    profile = PROFILES[server]
    pip = get("protectedInPlace")
    if pip:
        profile = profile.with_overrides(protected_in_place=_bool(BY_KEY["protectedInPlace"], pip))

    endpoint, region = get("endpoint"), get("region")
    if not endpoint:
        if not region:
            raise ConfigError(
                f"no endpoint: set {_name(BY_KEY['endpoint'])}, or {_name(BY_KEY['region'])} to use "
                "https://ims.<region>.myhuaweicloud.com (for the local emulator: the URL `ims-emulator` prints, "
                "e.g. `pulumi config set ims:endpoint http://127.0.0.1:8790`)"
            )
        endpoint = f"https://ims.{region}.myhuaweicloud.com"
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{_name(BY_KEY['endpoint'])} must be an http(s) URL like https://ims.cn-north-4.myhuaweicloud.com, not {endpoint!r}")

    ak, sk, sts, token = get("accessKey"), get("secretKey"), get("securityToken"), get("authToken")
    project = get("projectId")
    if bool(ak) != bool(sk):
        have, missing = ("accessKey", "secretKey") if ak else ("secretKey", "accessKey")
        raise ConfigError(
            f"{_name(BY_KEY[have])} is set but {_name(BY_KEY[missing])} is not: AK/SK signing needs both"
        )
    if ak and token:
        raise ConfigError(
            f"both AK/SK ({_name(BY_KEY['accessKey'])}) and {_name(BY_KEY['authToken'])} are set: "
            "choose one way to authenticate and unset the other"
        )
    if sts and not ak:
        raise ConfigError(f"{_name(BY_KEY['securityToken'])} is only used with temporary AK/SK: set accessKey and secretKey too")
    if ak and not project:
        raise ConfigError(f"{_name(BY_KEY['projectId'])} is required with AK/SK (it scopes every request to the project)")
    if server == "ims" and not (ak or token):
        raise ConfigError(
            f"no credentials: set {_name(BY_KEY['accessKey'])} and {_name(BY_KEY['secretKey'])} "
            f"(as secrets: `pulumi config set --secret ims:secretKey ...`), or {_name(BY_KEY['authToken'])}"
        )

    insecure = _bool(BY_KEY["insecure"], get("insecure"))
    ca = get("caBundle")
    if ca and not os.path.isfile(ca):
        raise ConfigError(f"{_name(BY_KEY['caBundle'])} names {ca!r}, which is not a readable file")
    timeouts = {}
    for key in ("deleteTimeout", "uploadTimeout"):
        try:
            timeouts[key] = float(get(key))
        except ValueError:
            raise ConfigError(f"{_name(BY_KEY[key])} must be a number of seconds, not {get(key)!r}") from None
    url_import = get("urlImport").lower()
    if url_import not in URL_IMPORT_MODES:
        raise ConfigError(f"{_name(BY_KEY['urlImport'])} must be one of {', '.join(URL_IMPORT_MODES)}, "
                          f"not {url_import!r}")
    obs_bucket = get("obsBucket")
    if obs_bucket and (problem := bucket_problem(obs_bucket)):
        raise ConfigError(f"{_name(BY_KEY['obsBucket'])} {obs_bucket!r} {problem}")
    obs_endpoint = get("obsEndpoint") or (f"https://obs.{region}.myhuaweicloud.com" if region else "")
    if obs_endpoint:
        obs_parts = urlsplit(obs_endpoint)
        if obs_parts.scheme not in ("http", "https") or not obs_parts.netloc or obs_parts.path not in ("", "/"):
            raise ConfigError(f"{_name(BY_KEY['obsEndpoint'])} must be an http(s) URL without a path, like "
                              f"https://obs.cn-north-4.myhuaweicloud.com, not {obs_endpoint!r}")
    return ProviderConfig(
        endpoint=endpoint.rstrip("/"),
        profile=profile,
        credentials=Credentials(ak, sk, sts, token, project),
        verify=False if insecure else (ca or True),
        insecure=insecure,
        delete_timeout=timeouts["deleteTimeout"],
        upload_timeout=timeouts["uploadTimeout"],
        validate_credentials=not _bool(BY_KEY["skipCredentialsValidation"], get("skipCredentialsValidation")),
        url_import=url_import,
        obs_bucket=obs_bucket,
        obs_endpoint=obs_endpoint.rstrip("/"),
        obs_region=get("obsRegion") or region or "us-east-1",
        obs_keep_staged=_bool(BY_KEY["obsKeepStaged"], get("obsKeepStaged")),
    )
