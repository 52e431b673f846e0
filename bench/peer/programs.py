"""The two sides' configurations: the same N images of the same 1 KiB file, one resource per image.

terraform-provider-openstack cannot create an image without data (``local_file_path`` or
``image_source_url``; "no file specified" otherwise), so both sides upload the same small file:
the peer with ``local_file_path``, ours with ``source=pulumi.FileAsset``. Everything else is the
fewest inputs both take: name, ``raw``/``bare``, ``private``.
"""

from __future__ import annotations

from pathlib import Path

#: The image names of each side (both stacks share the bench project in Glance).
TOFU_PREFIX = "peer-tofu-"
PULUMI_PREFIX = "peer-pulumi-"

#: The provider's address; a ``dev_overrides`` entry points it at the directory of the built binary.
TPO_ADDRESS = "terraform-provider-openstack/openstack"


def tofu_main(n: int, image_file: Path) -> str:
    """``main.tf`` of N images. Credentials come from the ``OS_*`` environment (never written to a file)."""
    return f'''# The peer side of bench/peer: {n} images of one 1 KiB file (written by bench/peer/run.py).
terraform {{
  required_providers {{
    openstack = {{ source = "{TPO_ADDRESS}" }}
  }}
}}

provider "openstack" {{}}

resource "openstack_images_image_v2" "img" {{
  count            = {n}
  name             = format("{TOFU_PREFIX}%05d", count.index)
  container_format = "bare"
  disk_format      = "raw"
  visibility       = "private"
  local_file_path  = "{image_file}"
}}
'''


def tofu_cli_config(provider_dir: Path) -> str:
    """The CLI configuration (``TF_CLI_CONFIG_FILE``): TPO from the local build, no registry, no ``tofu init``."""
    return f'''provider_installation {{
  dev_overrides {{
    "{TPO_ADDRESS}" = "{provider_dir}"
  }}
  direct {{}}
}}
'''


#: Ours: N ``ImageMetadata`` of the same file (``bench:n``, ``bench:file``), the dynamic provider.
PULUMI_PROGRAM = f'''
"""The Pulumi side of bench/peer: N images of one 1 KiB file (written by bench/peer/run.py)."""
import pulumi

from ims_pulumi import ImageMetadata

config = pulumi.Config("bench")
n = config.require_int("n")
image_file = config.require("file")
for i in range(n):
    ImageMetadata(
        f"img-{{i:05d}}",
        name=f"{PULUMI_PREFIX}{{i:05d}}",
        container_format="bare",
        disk_format="raw",
        visibility="private",
        source=pulumi.FileAsset(image_file),
    )
pulumi.export("count", n)
'''
