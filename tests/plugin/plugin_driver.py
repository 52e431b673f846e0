"""Drive the plugin's Provider methods in-process, as the engine's gRPC calls would (no engine)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pulumi.provider.experimental import provider as p
from pulumi.provider.experimental.property_value import PropertyValue

from harness.pulumi_cli import ims_config
from ims_pulumi.plugin.provider import ImsProvider
from ims_pulumi.plugin.values import from_plain, to_plain

STACK_URN = "urn:pulumi:dev::plugin-test::"


def urn(token: str, name: str) -> str:
    """A resource URN of the test stack."""
    return f"{STACK_URN}{token}::{name}"


def pv(values: Mapping[str, Any]) -> dict[str, PropertyValue]:
    """Plain engine-named values as PropertyValues."""
    return {k: v if isinstance(v, PropertyValue) else from_plain(v) for k, v in values.items()}


def plain(values: Mapping[str, PropertyValue] | None) -> dict[str, Any]:
    """PropertyValues as plain values."""
    return {k: to_plain(v) for k, v in (values or {}).items()}


def run_once(coro: Any) -> Any:
    """Run ``coro`` to completion on a new event loop, leaving the thread's current loop as it was."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


class Driver:
    """One plugin provider configured for an endpoint, and the engine's calls on it."""

    def __init__(self, url: str, extra: Mapping[str, str] | None = None) -> None:
        self.provider = ImsProvider()
        config, secrets = ims_config(url)
        variables = {**config, **secrets, **{f"ims:{k}": v for k, v in (extra or {}).items()}}
        self.run(self.provider.configure(p.ConfigureRequest(variables, {}, True, True)))

    @staticmethod
    def run(coro: Any) -> Any:
        """Await one call (on a loop of its own: ``asyncio.run`` would reset the thread's event loop,
        which the SDK's mocks in later test modules rely on)."""
        return run_once(coro)

    def check(self, token: str, name: str, news: Mapping[str, Any],
              olds: Mapping[str, Any] | None = None) -> p.CheckResponse:
        """The engine's Check."""
        return self.run(self.provider.check(p.CheckRequest(urn(token, name), pv(olds or {}), pv(news), b"")))

    def checked(self, token: str, name: str, news: Mapping[str, Any],
                olds: Mapping[str, Any] | None = None) -> dict[str, PropertyValue]:
        """Check that must pass; the checked inputs."""
        resp = self.check(token, name, news, olds)
        assert not resp.failures, [(f.property, f.reason) for f in resp.failures]
        return dict(resp.inputs or {})

    def create(self, token: str, name: str, inputs: Mapping[str, PropertyValue],
               preview: bool = False) -> p.CreateResponse:
        """The engine's Create."""
        return self.run(self.provider.create(p.CreateRequest(urn(token, name), dict(inputs), 60.0, preview)))

    def diff(self, token: str, name: str, id_: str, olds: Mapping[str, PropertyValue],
             news: Mapping[str, PropertyValue]) -> p.DiffResponse:
        """The engine's Diff (old outputs, new checked inputs)."""
        return self.run(self.provider.diff(p.DiffRequest(urn(token, name), id_, dict(olds), dict(news), [])))

    def update(self, token: str, name: str, id_: str, olds: Mapping[str, PropertyValue],
               news: Mapping[str, PropertyValue], preview: bool = False) -> p.UpdateResponse:
        """The engine's Update."""
        return self.run(self.provider.update(p.UpdateRequest(urn(token, name), id_, dict(olds), dict(news), 60.0,
                                                             [], preview)))

    def read(self, token: str, name: str, id_: str, props: Mapping[str, PropertyValue] | None = None,
             inputs: Mapping[str, PropertyValue] | None = None) -> p.ReadResponse:
        """The engine's Read (import: no properties, no inputs)."""
        return self.run(self.provider.read(p.ReadRequest(urn(token, name), id_, dict(props or {}),
                                                         dict(inputs or {}))))

    def delete(self, token: str, name: str, id_: str, props: Mapping[str, PropertyValue]) -> None:
        """The engine's Delete."""
        self.run(self.provider.delete(p.DeleteRequest(urn(token, name), id_, dict(props), 60.0)))

    def invoke(self, tok: str, args: Mapping[str, Any]) -> p.InvokeResponse:
        """The engine's Invoke."""
        return self.run(self.provider.invoke(p.InvokeRequest(tok, pv(args))))
