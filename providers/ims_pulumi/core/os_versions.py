"""The ``__os_version`` table of IMS: which values exist and what IMS derives from them.

Source: the IMS API reference "Values of Related Parameters" table plus the newer
external-image OS list. The live source of truth is ``GET /v1/cloudimages/os_version`` of
a region: the provider validates against this table offline first (no request), and asks
the region's list only for a value the table does not know. The local emulator derives
``__platform``/``__os_type``/``__os_bit`` from the same table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_OS_VERSION = "Other Linux(64 bit)"


@dataclass(frozen=True)
class OsVersion:
    """One row: the version string and the three fields IMS derives from it."""

    version: str
    platform: str
    os_type: str
    os_bit: str  # a string on images ("64"), an integer in the os_version API


def _rows() -> tuple[OsVersion, ...]:
    table = {
        "Windows": [
            "Windows Server 2019 Datacenter 64bit",
            "Windows Server 2016 Standard 64bit",
            "Windows Server 2016 Datacenter 64bit",
            "Windows Server 2012 R2 Standard 64bit",
            "Windows Server 2012 R2 Datacenter 64bit",
            "Windows Server 2008 R2 Enterprise 64bit",
            "Windows 10 64bit",
            "Windows 7 Professional 32bit",
        ],
        "Ubuntu": [
            "Ubuntu 22.04 server 64bit",
            "Ubuntu 20.04 server 64bit",
            "Ubuntu 18.04 server 64bit",
            "Ubuntu 16.04 server 64bit",
            "Ubuntu 14.04 server 64bit",
            "Ubuntu 14.04 server 32bit",
        ],
        "CentOS": [
            "CentOS 8.2 64bit",
            "CentOS 8.0 64bit",
            "CentOS 7.9 64bit",
            "CentOS 7.6 64bit",
            "CentOS 7.3 64bit",
            "CentOS 7.0 32bit",
            "CentOS 6.10 64bit",
            "CentOS 6.5 32bit",
        ],
        "Debian": [
            "Debian GNU/Linux 12.0.0 64bit",
            "Debian GNU/Linux 11.0.0 64bit",
            "Debian GNU/Linux 10.0.0 64bit",
            "Debian GNU/Linux 9.0.0 64bit",
            "Debian GNU/Linux 8.10.0 64bit",
        ],
        "EulerOS": ["EulerOS 2.10 64bit", "EulerOS 2.9 64bit", "EulerOS 2.5 64bit", "EulerOS 2.2 64bit"],
        "openEuler": ["openEuler 20.03 64bit", "openEuler 22.03 64bit", "openEuler 20.03 SP3 64bit"],
        "Huawei Cloud EulerOS": ["Huawei Cloud EulerOS 2.0 64bit"],
        "SUSE": [
            "SUSE Linux Enterprise Server 15 SP1 64bit",
            "SUSE Linux Enterprise Server 15 64bit",
            "SUSE Linux Enterprise Server 12 SP5 64bit",
            "SUSE Linux Enterprise Server 11 SP3 32bit",
        ],
        "OpenSUSE": ["openSUSE 15.1 64bit", "openSUSE 42.3 64bit"],
        "RedHat": [
            "Red Hat Linux Enterprise 9.0 64bit",
            "Redhat Linux Enterprise 8.0 64bit",
            "Redhat Linux Enterprise 7.5 64bit",
            "Redhat Linux Enterprise 6.6 32bit",
        ],
        "Oracle Linux": ["Oracle Linux Server release 7.6 64bit", "Oracle Linux Server release 6.10 64bit"],
        "Fedora": ["Fedora 39 64bit", "Fedora 30 64bit"],
        "CoreOS": ["CoreOS 1068.10.0"],
        "Rocky Linux": ["Rocky Linux 9.2 64bit", "Rocky Linux 8.5 64bit"],
        "CentOS Stream": ["CentOS Stream 9 64bit"],
        "AlmaLinux": ["AlmaLinux 8.6 64bit"],
        "FreeBSD": ["FreeBSD 13.2 64bit"],
        "Other": ["Other Linux(64 bit)", "Other Linux(32 bit)", "Other(64 bit)", "Other(32 bit)"],
    }
    rows = []
    for platform, versions in table.items():
        for version in versions:
            os_type = "Windows" if platform == "Windows" else ("Other" if platform == "FreeBSD" else "Linux")
            bit = "32" if re.search(r"32 ?bit", version) else "64"
            rows.append(OsVersion(version, platform, os_type, bit))
    return tuple(rows)


OS_VERSIONS: tuple[OsVersion, ...] = _rows()


def key(value: str) -> str:
    """The form in which two spellings of one version compare equal.

    Sources differ in case and spacing ("server"/"Server", "Linux(64 bit)"/"Linux (64 bit)").
    """
    return re.sub(r"\s+", "", value).lower()


_BY_KEY = {key(row.version): row for row in OS_VERSIONS}


def lookup(version: str) -> OsVersion | None:
    """The row for ``version`` (case- and space-insensitive), or ``None`` if IMS does not know it."""
    return _BY_KEY.get(key(version))


def canonical(version: str) -> str | None:
    """The table's own spelling of ``version``, or ``None``."""
    row = lookup(version)
    return row.version if row else None


# --- the `ims-os-versions` command and the README table ----------------------------------------------


def markdown_table() -> str:
    """The built-in table as Markdown (the README's, written by ``scripts/gen_field_docs.py``)."""
    lines = ["| `os_version` | platform | os_type | os_bit |", "|---|---|---|---|"]
    lines += [f"| `{r.version}` | {r.platform} | {r.os_type} | {r.os_bit} |" for r in OS_VERSIONS]
    return "\n".join(lines)


def _text_table(rows: list[tuple[str, str, str, str]]) -> str:
    header = ("os_version", "platform", "os_type", "os_bit")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in [header, *rows])


def _region_rows(server: str | None, region: str | None) -> tuple[str, list[tuple[str, str, str, str]]]:
    """The versions a server reports (``GET /v1/cloudimages/os_version``), with what the table says of them."""
    from .client import ImsClient
    from .config import resolve

    given = {"endpoint": server, "region": region}
    config = resolve(lambda setting: given.get(setting))
    client = ImsClient.from_config(config)
    try:
        versions = client.os_versions()
    finally:
        client.close()
    rows = []
    for version in dict.fromkeys(versions):
        row = lookup(version)
        rows.append((version, row.platform, row.os_type, row.os_bit) if row else (version, "", "", ""))
    return config.endpoint, rows


def main(argv: list[str] | None = None) -> int:
    """``ims-os-versions [--server URL | --region REGION] [--json]``: the ``os_version`` values to declare."""
    import argparse
    import json
    import sys

    from .errors import ImsError

    parser = argparse.ArgumentParser(
        prog="ims-os-versions",
        description="List the os_version values ImageMetadata accepts. Without options: the provider's built-in "
                    "table (checked offline at preview). With --server or --region: the list the region reports "
                    "(GET /v1/cloudimages/os_version), which the provider also accepts; credentials come from the "
                    "environment as for a stack (HW_PROJECT_ID with HW_ACCESS_KEY/HW_SECRET_KEY, or HW_AUTH_TOKEN).")
    parser.add_argument("--server", metavar="URL", help="IMS endpoint, e.g. the URL `ims-emulator` prints")
    parser.add_argument("--region", help="Huawei Cloud region, e.g. cn-north-4 (endpoint https://ims.REGION...)")
    parser.add_argument("--json", action="store_true", help="print JSON (a list of objects) instead of a table")
    args = parser.parse_args(argv)
    if args.server or args.region:
        try:
            where, rows = _region_rows(args.server, args.region)
        except ImsError as exc:
            print(f"ims-os-versions: {exc}", file=sys.stderr)
            return 1
        note = f"{len(rows)} OS versions reported by {where} (os_type etc. empty: not in the built-in table, " \
               "accepted all the same)"
    else:
        rows = [(r.version, r.platform, r.os_type, r.os_bit) for r in OS_VERSIONS]
        note = f"{len(rows)} OS versions of the built-in table (--server URL lists a region's)"
    if args.json:
        print(json.dumps([dict(zip(("os_version", "platform", "os_type", "os_bit"), r, strict=True)) for r in rows],
                         indent=2))
    else:
        print(_text_table(rows))
        print(f"# {note}", file=sys.stderr)
    return 0
