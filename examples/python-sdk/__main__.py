"""The ``ims`` provider plugin from Python through its generated SDK, ``pulumi_ims`` (``make sdk``).

The same program as ``examples/yaml``: an image with its content, a public image and this image
found with ``get_image`` (an invoke the plugin serves), the image shared with another project.
Unlike ``ims_pulumi`` (the dynamic provider), nothing of this program runs in the provider: the
engine starts the plugin ``pulumi-resource-ims`` and the SDK only describes the resources.
"""

import pulumi
import pulumi_ims as ims

config = pulumi.Config()
prefix = config.get("namePrefix") or "py"
consumer = config.get("consumerProject")

app = ims.ImageMetadata(
    "app",
    name=f"{prefix}-app-2026.12",
    disk_format="raw",
    min_disk=1,
    os_version="Ubuntu 22.04 server 64bit",
    description="Web front end, built by CI",
    tags=["team=web", f"stack={pulumi.get_stack()}"],
    source=pulumi.FileAsset("disk.raw"),
)

# A public image, found instead of hard-coded: the newest Ubuntu 22.04 (resolves during preview).
base = ims.get_image(platform="Ubuntu", name_regex=r"^Ubuntu 22\.04", visibility="public", most_recent=True)
# This stack's image, looked up once it exists (its id is an Output until then).
found = ims.get_image_output(id=app.id, tags=["team=web"])

pulumi.export("image_id", app.id)
pulumi.export("status", app.status)
pulumi.export("os_type", app.os_type)
pulumi.export("platform", app.platform)
pulumi.export("size", app.size)
pulumi.export("base_image_id", base.id)
pulumi.export("base_image_name", base.name)
pulumi.export("found_name", found.name)

if consumer:
    share = ims.ImageMember("share", image_id=app.id, member_id=consumer)
    pulumi.export("share_status", share.status)
