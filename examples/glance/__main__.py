"""Image metadata in an OpenStack Glance (``ims:server: glance`` in ``Pulumi.yaml``).

Glance accepts more than IMS: other disk and container formats, ``shared``/``community``
visibility and free-form tags, which change in place there (on IMS a tag change replaces
the image). The Huawei-only outputs (``os_type``, ``platform``...) are empty strings.
"""

import pulumi

from ims_pulumi import ImageMetadata

config = pulumi.Config()
prefix = config.get("namePrefix") or "glance-demo"

cirros = ImageMetadata(
    "cirros",
    name=f"{prefix}-cirros-0.6",
    disk_format="qcow2",
    container_format="bare",
    min_disk=1,
    min_ram=128,
    visibility="shared",
    tags=["test", "tiny"],
    properties={"hw_disk_bus": "virtio", "os_distro": "cirros"},
)

appliance = ImageMetadata(
    "appliance",
    name=f"{prefix}-appliance",
    disk_format="vmdk",
    container_format="ova",
    visibility="private",
    description="Vendor appliance, imported as OVA",
    protected=False,
)

pulumi.export("cirros_id", cirros.id)
pulumi.export("cirros_status", cirros.status)
pulumi.export("appliance_id", appliance.id)
pulumi.export("appliance_owner", appliance.owner)
