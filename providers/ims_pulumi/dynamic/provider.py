"""The dynamic providers: thin ``pulumi.dynamic.ResourceProvider`` classes over the operations of
:mod:`ims_pulumi.core` (one table and one :class:`~ims_pulumi.core.context.Operations` per resource).

Pickled *by reference* into every resource's state (module path + class name). The address is
part of the state format: each class names it in ``__module__`` (``ims_pulumi.provider`` and
``ims_pulumi.sharing``, the modules of releases 0.2-0.4, which re-export them), so a stack's state
keeps one address whichever module defines the class. The instance pickles empty: ``configure()``
builds a :class:`ProviderContext` (settings, client) on the instance in the provider process, after
the program has pickled it, and ``__getstate__`` keeps it out of any pickle, so credentials never
reach the state.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from ..core.context import Operations, ProviderContext, diff_resource
from ..core.framework import Table
from ..core.image_metadata import IMAGE_METADATA
from ..core.image_ops import IMAGE_METADATA_OPS
from ..core.sharing import IMAGE_MEMBER, IMAGE_MEMBER_ACCEPTANCE, IMAGE_MEMBER_ACCEPTANCE_OPS, IMAGE_MEMBER_OPS


class TableProvider(ResourceProvider):
    """What every provider of this package shares: the context ``configure()`` builds, and
    ``check``/``diff`` driven by the resource's table."""

    # Nothing secret is captured by the instance, so the pickle (module + class name) can be
    # stored as plain text: smaller state, no per-resource encryption.
    serialize_as_secret_always = False
    table: Table
    # Class-level default: unpickling restores no instance state and never calls __init__.
    _context: ProviderContext | None = None

    def __getstate__(self) -> None:
        """Pickle nothing of the instance (the context holds credentials and a live client)."""
        return None

    @classmethod
    def with_context(cls: type[P], context: ProviderContext) -> P:
        """A provider working with ``context`` (what ``configure()`` does, for tests and tools)."""
        provider = cls()
        provider._context = context
        return provider

    @property
    def context(self) -> ProviderContext:
        """The context built by ``configure()`` (settings from the environment alone without it)."""
        if self._context is None:
            self._context = ProviderContext()
        return self._context

    def configure(self, req: ConfigureRequest) -> None:
        """Keep the ``ims:*`` stack config for this provider; validated on first use."""
        self._context = ProviderContext.from_settings(req.config.get)

    #: The operations of this resource on plain values (shared with the ``ims`` plugin).
    ops: Operations

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate and fill defaults; unknown values pass through. The first check of a process
        also proves endpoint and credentials (one request, see ``validate_credentials``)."""
        inputs, failures = self.ops.check(self.context, _olds, news)
        # a failure whose value would not print as itself is reported without its property: the CLI
        # would print the raw value next to the message (see framework.Failure.quote)
        return CheckResult(inputs, [CheckFailure(f.property if f.quote else "", f.reason) for f in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Compare declared fields only (:func:`diff_resource`)."""
        plan, delete_first = diff_resource(self.context, self.table, olds, news)
        return DiffResult(changes=plan.changes, replaces=plan.replaces, delete_before_replace=delete_first)

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Create the object and return every output (:attr:`Operations.create`)."""
        id_, outs = self.ops.create(self.context, props)
        return CreateResult(id_, outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Refresh from the server; an object that is gone reports the resource gone."""
        found = self.ops.read(self.context, id_, props)
        return ReadResult("", {}) if found is None else ReadResult(*found)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Apply in-place changes; returns complete outputs."""
        if self.ops.update is None:
            return super().update(id_, olds, news)
        return UpdateResult(self.ops.update(self.context, id_, olds, news))

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        """Delete the object; one already gone counts as deleted."""
        self.ops.delete(self.context, id_, _props)


P = TypeVar("P", bound=TableProvider)


class ImageMetadataProvider(TableProvider):
    """CRUD for ``ImageMetadata`` (:data:`IMAGE_METADATA_OPS`). See the README for the behaviour of each method."""

    __module__ = "ims_pulumi.provider"  # the pickle address (see the module docstring)

    table: Table = IMAGE_METADATA
    ops = IMAGE_METADATA_OPS


class ImageMemberProvider(TableProvider):
    """Owner side: add the member on create, remove it on delete; refresh reads its status."""

    __module__ = "ims_pulumi.sharing"  # the pickle address (see the module docstring)

    table: Table = IMAGE_MEMBER
    ops = IMAGE_MEMBER_OPS


class ImageMemberAcceptanceProvider(TableProvider):
    """Consumer side: set the membership's status on create and update, back to rejected on delete."""

    __module__ = "ims_pulumi.sharing"  # the pickle address (see the module docstring)

    table: Table = IMAGE_MEMBER_ACCEPTANCE
    ops = IMAGE_MEMBER_ACCEPTANCE_OPS
