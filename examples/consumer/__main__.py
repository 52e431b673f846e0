"""Use images that another stack manages: ids through a ``StackReference``, details through a read-only reference.

``ImageMetadata.get`` reads the image on every run and never changes or deletes it, so
destroying this stack leaves the image to the multi-image stack that owns it.
"""

import pulumi

from ims_pulumi import ImageMetadata

config = pulumi.Config()
source = config.get("imagesStack") or f"organization/multi-image/{pulumi.get_stack()}"
key = config.get("image") or "ubuntu-22"

images = pulumi.StackReference(source)
image_ids = images.require_output("image_ids")
base_id = image_ids.apply(lambda ids: ids[key])

base = ImageMetadata.get("base", base_id)

pulumi.export("image_ids", image_ids)
pulumi.export("base_image_id", base.id)
pulumi.export("base_image_name", base.name)
pulumi.export("base_image_os", pulumi.Output.all(base.platform, base.os_bit).apply(lambda t: f"{t[0]} {t[1]}-bit"))
