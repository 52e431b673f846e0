"""Several images from one table, with their ids exported for other stacks.

``image_ids`` (key -> image id) is what ``examples/consumer`` reads through a
``StackReference``. Adding a row creates an image, removing one deletes it, and a change is
applied in place or by replacement as the README's input table says.
"""

import pulumi

from ims_pulumi import ImageMetadata, ImageMetadataArgs

config = pulumi.Config()
prefix = config.get("namePrefix") or "demo"
team = config.get("team") or "platform"
common_tags = [f"team={team}", f"stack={pulumi.get_stack()}"]

IMAGES: dict[str, ImageMetadataArgs] = {
    "ubuntu-22": ImageMetadataArgs(
        name=f"{prefix}-ubuntu-22.04",
        os_version="Ubuntu 22.04 server 64bit",
        disk_format="qcow2",
        min_disk=40,
        min_ram=1024,
        tags=[*common_tags, "os=ubuntu"],
        description="Base image for Linux services",
    ),
    "debian-12": ImageMetadataArgs(
        name=f"{prefix}-debian-12",
        os_version="Debian GNU/Linux 12.0.0 64bit",
        disk_format="qcow2",
        min_disk=20,
        tags=[*common_tags, "os=debian"],
        properties={"hw_disk_bus": "virtio"},
    ),
    "euler-2": ImageMetadataArgs(
        name=f"{prefix}-hce-2.0",
        os_version="Huawei Cloud EulerOS 2.0 64bit",
        disk_format="zvhd2",
        min_disk=40,
        tags=[*common_tags, "os=hce"],
    ),
    "windows-2019": ImageMetadataArgs(
        name=f"{prefix}-windows-2019",
        os_version="Windows Server 2019 Datacenter 64bit",
        disk_format="vhd",
        min_disk=50,
        min_ram=4096,
        tags=[*common_tags, "os=windows"],
    ),
}

images = {key: ImageMetadata(key, args) for key, args in IMAGES.items()}

pulumi.export("image_ids", {key: image.id for key, image in images.items()})
pulumi.export("image_names", {key: image.name for key, image in images.items()})
pulumi.export("platforms", {key: image.platform for key, image in images.items()})
pulumi.export("team", team)
