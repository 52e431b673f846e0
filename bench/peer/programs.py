"""The sides' configurations: the same N images of the same 1 KiB file, one resource per image.

terraform-provider-openstack cannot create an image without data (``local_file_path`` or
``image_source_url``; "no file specified" otherwise), so every side uploads the same small file:
the peer with ``local_file_path``, ours with ``source=pulumi.FileAsset`` (the dynamic provider from a
Python program) or ``fn::fileAsset`` (the ``ims`` plugin from a YAML program). Everything else is the
fewest inputs all take: name, ``raw``/``bare``, ``private``.
"""

from __future__ import annotations

from pathlib import Path

#: The peer's image names (every side's stack shares the bench project in Glance; ours: :func:`prefix`).
TOFU_PREFIX = "peer-tofu-"


def prefix(variant: str) -> str:
    """The image names of one of our variants (``peer-dynamic-skip-``...): each side counts only its own."""
    return f"peer-{variant}-"

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


#: Ours, the dynamic provider: N ``ImageMetadata`` of the same file (``bench:n``, ``bench:file``, ``bench:prefix``).
PULUMI_PROGRAM = '''
"""A Pulumi side of bench/peer: N images of one 1 KiB file (written by bench/peer/run.py)."""
import pulumi

from ims_pulumi import ImageMetadata

config = pulumi.Config("bench")
n = config.require_int("n")
image_file = config.require("file")
prefix = config.require("prefix")
for i in range(n):
    ImageMetadata(
        f"img-{i:05d}",
        name=f"{prefix}{i:05d}",
        container_format="bare",
        disk_format="raw",
        visibility="private",
        source=pulumi.FileAsset(image_file),
    )
pulumi.export("count", n)
'''


def yaml_program(n: int, image_file: Path, name_prefix: str, project: str) -> str:
    """Ours, the ``ims`` plugin: ``Pulumi.yaml`` of a ``runtime: yaml`` project with N ``ims:index:ImageMetadata``
    (YAML has no loops: a generated program lists every resource, as a generated stack would)."""
    lines = [f"# A Pulumi side of bench/peer: {n} images of one 1 KiB file (written by bench/peer/run.py).",
             f"name: {project}", "runtime: yaml", "resources:"]
    for i in range(n):
        lines += [f"  img-{i:05d}:", "    type: ims:index:ImageMetadata", "    properties:",
                  f"      name: {name_prefix}{i:05d}", "      containerFormat: bare", "      diskFormat: raw",
                  "      visibility: private", "      source:", f"        fn::fileAsset: {image_file}"]
    lines += ["outputs:", f"  count: {n}"]
    return "\n".join(lines) + "\n"
