"""The ``ims`` provider plugin: the same tables and workflow as the dynamic provider, served to the
Pulumi engine as a real resource provider (any language, a schema, invokes, ``pulumi import``).

Run by the engine as ``pulumi-resource-ims`` (or ``python -m ims_pulumi.plugin``); the schema is
:mod:`ims_pulumi.plugin.schema`.
"""
