"""Find images instead of hard-coding ids: the newest public Ubuntu 22.04 image, and the Debian
image that the multi-image stack built, found by its tags (no ids exchanged).

The lookups resolve during `pulumi preview`, so a pull request shows which images a change
would boot from before anything is deployed.
"""

import pulumi

from ims_pulumi import get_image, get_image_output, get_images

stack = pulumi.get_stack()
config = pulumi.Config()
source = config.get("imagesStack") or f"organization/multi-image/{stack}"

# A public image: newest build of Ubuntu 22.04 (public images are listed with visibility=public).
ubuntu = get_image(platform="Ubuntu", name_regex=r"^Ubuntu 22\.04", visibility="public", most_recent=True)

# An image of this project, found by the tags the multi-image stack gives it.
debian = get_image(tags=["os=debian", f"stack={stack}"], properties={"hw_disk_bus": "virtio"})

# The same, with an input that is only known through another stack (an Output).
team = pulumi.StackReference(source).get_output("team")
debian_again = get_image_output(tags=team.apply(lambda t: ["os=debian", f"team={t}", f"stack={stack}"]))

# Everything of this stack's team, newest first.
team_images = get_images(tags=[f"stack={stack}"], tags_any=["os=ubuntu", "os=debian"], sort="name:asc")

pulumi.export("ubuntu_id", ubuntu.id)
pulumi.export("ubuntu_name", ubuntu.name)
pulumi.export("debian_id", debian.id)
pulumi.export("debian_id_from_output", debian_again.id)
pulumi.export("team_image_names", [i.name for i in team_images])
