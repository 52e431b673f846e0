"""Pulumi dynamic providers of this project. See :mod:`providers.ims`."""
