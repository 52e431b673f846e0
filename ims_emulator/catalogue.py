"""The catalogue of public images every project sees next to its own images.

Huawei Cloud offers public images (``__imagetype=gold``) in every region: owned by a
platform project, ``visibility=public``, ``protected``, ``active``, in ``zvhd2``. A
``GET /v2/images`` of any project lists them together with the project's own private
images (the documented public-image query is ``?__imagetype=gold&visibility=public&protected=true``).
This module holds a fixed, deterministic stand-in for such a catalogue, so that tests of
image look-ups (by name, OS, platform, newest build ...) have realistic data to search.

* The names follow how Huawei names its public images (``Ubuntu 22.04 server 64bit``,
  ``Ubuntu 22.04 server 64bit(40GB)``, ``... with ARM(40GB)``, ``Windows Server 2022
  Datacenter 64bit English``); the exact attribute values are **inferred** from the image
  object Huawei documents, not copied from a region.
* Ids are ``uuid5(CATALOGUE_NAMESPACE, "<name>@<created_at>")``: stable across runs and
  releases as long as the entry does not change; two builds of one name differ by
  ``created_at``.
* The owner is :data:`ims_emulator.PLATFORM_PROJECT_ID`, which is no user's project.
* All timestamps are fixed and in the past. Two pairs share their ``created_at`` (the x86
  and ARM builds of Huawei Cloud EulerOS 2.0, the English and Chinese Windows Server 2022)
  so that the ``id`` tie-break of sorting and paging can be tested; one name
  (``Ubuntu 22.04 server 64bit(40GB)``) exists in two builds.
* ``image_family`` and ``build_id`` are custom (user-style) string attributes, as a stack
  might filter on client-side; they are the emulator's invention.

The derived ``__platform``/``__os_type``/``__os_bit`` are written out here (the catalogue
is data, as IMS serves it); ``tests/emulator/test_emulator_catalogue.py`` checks that they
agree with the emulator's OS list.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ims_emulator import PLATFORM_PROJECT_ID

#: Namespace of the catalogue's image ids (``uuid5(NAMESPACE_URL, "ims-emulator:public-images")``).
CATALOGUE_NAMESPACE = uuid.UUID("481f7757-fdf7-5f50-9300-711e706ed6c8")


@dataclass(frozen=True)
class PublicImage:
    """One catalogue entry; :meth:`document` gives the image object IMS would serve."""

    name: str
    os_version: str
    platform: str
    created_at: str
    updated_at: str
    size: int  # bytes of the zvhd2 file
    os_type: str = "Linux"
    os_bit: str = "64"
    family: str = ""
    build: str = ""
    min_ram: int = 0
    min_disk: int = 40
    tags: tuple[str, ...] = ()
    arm: bool = False
    firmware: str = "bios"
    #: Further ``__support_*`` flags (``"true"``) or values (GPU types).
    support: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def id(self) -> str:
        """The deterministic id: ``uuid5(CATALOGUE_NAMESPACE, "<name>@<created_at>")``."""
        return str(uuid.uuid5(CATALOGUE_NAMESPACE, f"{self.name}@{self.created_at}"))

    def document(self) -> dict[str, Any]:
        """The full image object as ``GET /v2/images/{id}`` shows it."""
        image_id = self.id
        doc: dict[str, Any] = {
            "id": image_id,
            "name": self.name,
            "status": "active",
            "visibility": "public",
            "protected": True,
            "container_format": "bare",
            "disk_format": "zvhd2",
            "min_ram": self.min_ram,
            "min_disk": self.min_disk,
            "tags": list(self.tags),
            "owner": PLATFORM_PROJECT_ID,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "active_at": self.created_at,
            "self": f"/v2/images/{image_id}",
            "file": f"/v2/images/{image_id}/file",
            "schema": "/v2/schemas/image",
            "checksum": hashlib.md5(image_id.encode(), usedforsecurity=False).hexdigest(),
            "size": self.size,
            "virtual_size": None,
            "virtual_env_type": "FusionCompute",
            "__os_version": self.os_version,
            "__os_type": self.os_type,
            "__platform": self.platform,
            "__os_bit": self.os_bit,
            "__imagetype": "gold",
            "__isregistered": "true",
            "__image_size": str(self.size),
            "__image_source_type": "uds",
            "__root_origin": "file",
            "__lazyloading": "true",
            "__is_config_init": "true",
            "__support_agent_list": "hss,ces",
            "__support_kvm": "true",
            "hw_firmware_type": self.firmware,
            "hw_vif_multiqueue_enabled": "true",
        }
        if self.arm:
            doc["__support_arm"] = "true"
        doc.update(self.support)
        if self.description:
            doc["__description"] = self.description
        if self.family:
            doc["image_family"] = self.family
        if self.build:
            doc["build_id"] = self.build
        return doc


_XEN = {"__support_xen": "true"}
_BIG = {"__support_xen": "true", "__support_largememory": "true", "__support_diskintensive": "true",
        "__support_highperformance": "true"}  # fmt: skip
_GPU = {"__support_kvm_gpu_type": "V100", "__support_highperformance": "true"}
_UBUNTU = ("family=ubuntu", "lts=true")

# fmt: off
#: The catalogue, oldest first. Keep entries stable: tests rely on names, ids and times.
ENTRIES: tuple[PublicImage, ...] = (
    PublicImage("Ubuntu 18.04 server 64bit", "Ubuntu 18.04 server 64bit", "Ubuntu", "2019-05-14T02:31:08Z", "2019-05-14T03:02:41Z",
                1_503_657_984, family="ubuntu-1804-server", build="20190514", support=_XEN),
    PublicImage("CentOS 7.6 64bit with ARM", "CentOS 7.6 64bit", "CentOS", "2020-03-10T06:44:19Z", "2020-03-10T07:20:05Z",
                1_211_105_280, family="centos-7-arm", build="20200310", arm=True, firmware="uefi"),
    PublicImage("Windows Server 2019 Datacenter 64bit English", "Windows Server 2019 Datacenter 64bit", "Windows",
                "2020-12-01T01:00:00Z", "2020-12-01T02:14:36Z", 10_418_716_672, os_type="Windows",
                family="windows-2019-datacenter", build="20201201", min_ram=1024, tags=("family=windows",), support=_XEN,
                description="Windows Server 2019 Datacenter, English, activated with the KMS of the region"),
    PublicImage("Windows Server 2019 Datacenter 64bit Chinese", "Windows Server 2019 Datacenter 64bit", "Windows",
                "2020-12-01T01:30:00Z", "2020-12-01T02:41:12Z", 10_737_418_240, os_type="Windows",
                family="windows-2019-datacenter", build="20201201", min_ram=1024, tags=("family=windows",), support=_XEN),
    PublicImage("CentOS 7.9 64bit", "CentOS 7.9 64bit", "CentOS", "2021-01-19T09:31:52Z", "2021-01-19T10:05:17Z",
                1_395_654_656, family="centos-7", build="20210119", support=_BIG),
    PublicImage("Ubuntu 20.04 server 64bit", "Ubuntu 20.04 server 64bit", "Ubuntu", "2021-06-08T03:12:45Z", "2021-06-08T03:40:02Z",
                1_725_431_808, family="ubuntu-2004-server", build="20210608", support=_XEN),
    PublicImage("EulerOS 2.9 64bit", "EulerOS 2.9 64bit", "EulerOS", "2021-08-10T04:20:33Z", "2021-08-10T05:01:49Z",
                1_288_490_188, family="euleros-2", build="20210810", support=_BIG),
    PublicImage("Debian 11.1.0 64bit", "Debian GNU/Linux 11.0.0 64bit", "Debian", "2021-11-23T08:07:41Z", "2021-11-23T08:36:10Z",
                1_073_741_824, family="debian-11", build="20211123"),
    PublicImage("Rocky Linux 8.5 64bit", "Rocky Linux 8.5 64bit", "Rocky Linux", "2022-02-15T05:55:02Z", "2022-02-15T06:30:44Z",
                1_610_612_736, family="rocky-8", build="20220215"),
    PublicImage("EulerOS 2.10 64bit", "EulerOS 2.10 64bit", "EulerOS", "2022-06-14T03:03:03Z", "2022-06-14T03:47:29Z",
                1_342_177_280, family="euleros-2", build="20220614"),
    PublicImage("openEuler 22.03 64bit", "openEuler 22.03 64bit", "openEuler", "2022-07-05T02:10:10Z", "2022-07-05T02:58:21Z",
                1_181_116_006, family="openeuler-2203", build="20220705"),
    PublicImage("Ubuntu 22.04 server 64bit", "Ubuntu 22.04 server 64bit", "Ubuntu", "2022-09-27T06:30:00Z", "2022-09-27T07:02:55Z",
                1_932_735_283, family="ubuntu-2204-server", build="20220927", tags=_UBUNTU),
    PublicImage("Ubuntu 20.04 server 64bit with Tesla Driver 470 and CUDA 11.4", "Ubuntu 20.04 server 64bit", "Ubuntu",
                "2022-10-18T02:05:51Z", "2022-10-18T03:11:20Z", 6_442_450_944, family="ubuntu-2004-gpu", build="20221018",
                min_disk=60, support=_GPU),
    PublicImage("Rocky Linux 9.0 64bit", "Rocky Linux 9.0 64bit", "Rocky Linux", "2022-11-08T07:45:12Z", "2022-11-08T08:20:36Z",
                1_717_986_918, family="rocky-9", build="20221108"),
    PublicImage("Huawei Cloud EulerOS 2.0 Standard 64 bit", "Huawei Cloud EulerOS 2.0 64bit", "Huawei Cloud EulerOS",
                "2023-03-28T02:00:00Z", "2023-03-28T02:40:18Z", 1_449_551_462, family="hce-2", build="20230328",
                tags=("family=hce",)),
    PublicImage("Huawei Cloud EulerOS 2.0 Standard 64 bit ARM", "Huawei Cloud EulerOS 2.0 64bit", "Huawei Cloud EulerOS",
                "2023-03-28T02:00:00Z", "2023-03-28T02:52:07Z", 1_395_864_371, family="hce-2-arm", build="20230328",
                tags=("family=hce",), arm=True, firmware="uefi"),
    PublicImage("Ubuntu 20.04 server 64bit(40GB)", "Ubuntu 20.04 server 64bit", "Ubuntu", "2023-04-11T07:21:09Z", "2023-04-11T07:48:30Z",
                2_018_508_800, family="ubuntu-2004-server", build="20230411", tags=("family=ubuntu",)),
    PublicImage("Debian 12.0.0 64bit", "Debian GNU/Linux 12.0.0 64bit", "Debian", "2023-08-01T09:12:40Z", "2023-08-01T09:41:03Z",
                1_127_428_915, family="debian-12", build="20230801"),
    PublicImage("Ubuntu 22.04 server 64bit(40GB)", "Ubuntu 22.04 server 64bit", "Ubuntu", "2023-11-21T08:15:27Z", "2023-11-21T08:49:51Z",
                2_147_483_648, family="ubuntu-2204-server", build="20231121", tags=_UBUNTU),
    PublicImage("Ubuntu 22.04 server 64bit with ARM(40GB)", "Ubuntu 22.04 server 64bit", "Ubuntu", "2023-12-05T10:02:11Z",
                "2023-12-05T10:44:38Z", 1_879_048_192, family="ubuntu-2204-arm", build="20231205", tags=_UBUNTU, arm=True,
                firmware="uefi"),
    PublicImage("Windows Server 2022 Datacenter 64bit English", "Windows Server 2022 Datacenter 64bit", "Windows",
                "2024-03-12T09:00:00Z", "2024-03-12T10:25:47Z", 11_811_160_064, os_type="Windows",
                family="windows-2022-datacenter", build="20240312", min_ram=2048, tags=("family=windows",), firmware="uefi"),
    PublicImage("Windows Server 2022 Datacenter 64bit Chinese", "Windows Server 2022 Datacenter 64bit", "Windows",
                "2024-03-12T09:00:00Z", "2024-03-12T10:31:09Z", 12_079_595_520, os_type="Windows",
                family="windows-2022-datacenter", build="20240312", min_ram=2048, tags=("family=windows",), firmware="uefi"),
    PublicImage("Ubuntu 22.04 server 64bit(40GB)", "Ubuntu 22.04 server 64bit", "Ubuntu", "2024-06-18T08:15:27Z", "2024-06-18T08:51:14Z",
                2_254_857_830, family="ubuntu-2204-server", build="20240618", tags=_UBUNTU),
    PublicImage("Ubuntu 24.04 server 64bit", "Ubuntu 24.04 server 64bit", "Ubuntu", "2024-07-16T04:00:00Z", "2024-07-16T04:33:21Z",
                2_040_109_465, family="ubuntu-2404-server", build="20240716", tags=_UBUNTU),
    PublicImage("openEuler 24.03 64bit", "openEuler 24.03 64bit", "openEuler", "2024-08-20T01:48:56Z", "2024-08-20T02:30:12Z",
                1_234_567_168, family="openeuler-2403", build="20240820"),
)
# fmt: on


def public_images() -> list[dict[str, Any]]:
    """Fresh copies of every catalogue image object."""
    return [copy.deepcopy(entry.document()) for entry in ENTRIES]


def is_public(image: Mapping[str, Any]) -> bool:
    """Whether ``image`` belongs to the catalogue (it is owned by the platform project)."""
    return image.get("owner") == PLATFORM_PROJECT_ID
