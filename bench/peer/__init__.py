"""The peer benchmark: OpenTofu + terraform-provider-openstack against this provider on the same real Glance."""
