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
