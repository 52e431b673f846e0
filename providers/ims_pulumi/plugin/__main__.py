"""``python -m ims_pulumi.plugin ENGINE``: the same as ``pulumi-resource-ims``."""

from .server import main

main()
