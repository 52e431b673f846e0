"""Example stack: a few images that show the provider's features, one of them with its file.

`make up` runs it against the local IMS emulator; point it at Huawei Cloud or Glance with
stack config (see README "Configuration").
"""

from pathlib import Path

import pulumi

from ims_pulumi import ImageMetadata, ImageMetadataArgs

config = pulumi.Config()
prefix = config.get("namePrefix") or "demo"

ubuntu = ImageMetadata(
    "ubuntu",
    name=f"{prefix}-ubuntu-22-base",
    os_version="Ubuntu 22.04 server 64bit",
    disk_format="qcow2",
    container_format="bare",
    min_disk=40,
    min_ram=1024,
    tags=["team=infra", "env=dev"],
    protected=False,
    visibility="private",
)

centos = ImageMetadata(
    "centos",
    ImageMetadataArgs(
        name=f"{prefix}-centos-7.9",
        os_version="CentOS 7.9 64bit",
        disk_format="zvhd2",
        min_disk=20,
        description="Legacy workloads; retire by 2027",
        properties={"owner_team": "platform", "cost_center": "cc-1234"},
        tags=["team=platform"],
    ),
)

windows = ImageMetadata(
    "windows",
    name=f"{prefix}-windows-2019",
    os_version="Windows Server 2019 Datacenter 64bit",
    disk_format="vhd",
    min_disk=50,
    min_ram=4096,
    tags=["team=apps", "os=windows"],
)

# Default OS version (Other Linux(64 bit)) and default formats, filled in as IMS does.
minimal = ImageMetadata("minimal", name=f"{prefix}-minimal")



def tiny_disk(path: Path) -> Path:
    """A small raw disk image, the same bytes on every run (so it is uploaded once)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        block = b"ims-pulumi example disk\n".ljust(512, b"\0")
        path.write_bytes(block * 2048)  # 1 MiB
    return path


# Metadata and content: the file is uploaded after the metadata, then the image is `active`.
# Its identity is the bytes: moving or touching the file changes nothing.
tiny = ImageMetadata(
    "tiny",
    name=f"{prefix}-tiny-raw",
    os_version="Other Linux(64 bit)",
    disk_format="raw",
    min_disk=1,
    source=pulumi.FileAsset(str(tiny_disk(Path("build") / "tiny.raw"))),
)
pulumi.export("tiny_size", tiny.size)
pulumi.export("tiny_checksum", tiny.checksum)

for key, image in {"ubuntu": ubuntu, "centos": centos, "windows": windows, "minimal": minimal,
                   "tiny": tiny}.items():
    pulumi.export(f"{key}_id", image.id)
    pulumi.export(f"{key}_status", image.status)
    pulumi.export(f"{key}_os", pulumi.Output.all(image.os_type, image.platform, image.os_bit).apply(
        lambda t: {"os_type": t[0], "platform": t[1], "os_bit": t[2]}))
