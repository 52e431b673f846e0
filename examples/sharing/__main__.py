"""Share an image between projects: two stacks of this project, each with its own credentials.

* The **owner** stack (config `role: owner`, credentials of project A) builds an image with its
  file and shares it with project B (`ImageMember`); it exports the image id.
* The **consumer** stack (config `role: consumer`, credentials of project B) reads that id
  through a `StackReference`, accepts the share (`ImageMemberAcceptance`) and looks the image up.
"""

from pathlib import Path

import pulumi

from ims_pulumi import ImageMember, ImageMemberAcceptance, ImageMetadata, get_image_output

config = pulumi.Config()
role = config.require("role")

if role == "owner":
    disk = Path("build") / "golden.raw"
    if not disk.exists():
        disk.parent.mkdir(parents=True, exist_ok=True)
        disk.write_bytes(b"golden image\n".ljust(512, b"\0") * 1024)
    golden = ImageMetadata("golden", name="golden-2026.11", disk_format="raw", min_disk=1,
                           source=pulumi.FileAsset(str(disk)))
    pulumi.export("golden_id", golden.id)
    consumer_project = config.get("consumerProject")
    if consumer_project:  # unset it to stop sharing
        share = ImageMember("to-consumer", image_id=golden.id, member_id=consumer_project)
        pulumi.export("share_status", share.status)  # the consumer's answer, read on refresh
elif role == "consumer":
    owner = pulumi.StackReference(config.get("ownerStack") or "organization/sharing/owner")
    golden_id = owner.require_output("golden_id")
    accepted = ImageMemberAcceptance("golden", image_id=golden_id, status="accepted")
    # looked up once the acceptance exists (depends_on): the image is then in this project's list; during
    # the preview of the first deploy, while the acceptance is still to be created, the result is unknown
    found = get_image_output(id=golden_id, member_status="accepted",
                             opts=pulumi.InvokeOutputOptions(depends_on=[accepted]))
    pulumi.export("golden_id", golden_id)
    pulumi.export("acceptance", accepted.status)
    pulumi.export("found_name", found.name)
else:
    raise ValueError(f"config role must be 'owner' or 'consumer', not {role!r}")
