"""Property keys with ``/``, ``~``, spaces and non-ASCII letters, through the provider against the
emulator: stored under the declared key, and the next plan shows no change (issue 24: ``/`` failed
at ``up`` with ``400 Invalid JSON pointer``; ``~1`` was stored as another key, never converging)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ims_emulator.process import Emulator
from ims_pulumi.dynamic.provider import ImageMetadataProvider
from tests.contract.test_provider import checked, context_for

pytestmark = pytest.mark.contract

KEYS = {
    "a/b": "slash",           # would name a nested attribute unescaped
    "x~1": "tilde-one",       # unescaped, the server reads '~1' as '/' and stores 'x/'
    "c~d": "tilde",
    "build id": "space",
    "équipe-镜像": "non-ASCII",
}


@pytest.fixture
def prov(emu: Emulator) -> Iterator[ImageMetadataProvider]:
    context = context_for(emu)
    yield ImageMetadataProvider.with_context(context)
    context.close()


def test_keys_that_need_escaping_converge(prov: ImageMetadataProvider, emu: Emulator) -> None:
    inputs = checked(prov, name="keys", properties=KEYS)
    created = prov.create(inputs)
    outs = created.outs or {}
    (image,) = emu.images()
    assert {k: image.get(k) for k in KEYS} == KEYS, "each key stored as declared"
    assert outs["properties"] == KEYS
    assert not prov.diff(created.id, outs, inputs).changes, "a second plan shows no change"

    read = prov.read(created.id, outs)
    assert (read.inputs or {})["properties"] == KEYS and (read.outs or {})["properties"] == KEYS, "refresh reads"

    news = checked(prov, name="keys", properties={"a/b": "changed", "x~1": "tilde-one", "new/~key": "1"})
    assert prov.diff(created.id, outs, news).changes
    updated = prov.update(created.id, outs, news).outs or {}
    (image,) = emu.images()
    assert (image["a/b"], image["new/~key"]) == ("changed", "1")
    assert not {"c~d", "build id", "équipe-镜像"} & set(image), "dropped keys are removed by their escaped pointer"
    assert not prov.diff(created.id, updated, news).changes, "converged after the update too"
