"""Lookups against a real OpenStack Glance 33.0.0: server-side filters Glance documents, the
rest over every page, and the IMS-only fields refused clearly."""

from __future__ import annotations

import uuid

import pytest
import requests

from ims_pulumi.core import lookup
from ims_pulumi.core.client import ImsClient
from ims_pulumi.core.lookup import ImageLookupError, Lookups
from ims_pulumi.core.profiles import GLANCE
from ims_pulumi.core.transport import Credentials, Transport
from tests.support.glance import GlanceServer

pytestmark = [pytest.mark.glance, pytest.mark.contract]

JSON = {"Accept": "application/json"}


def test_lookups_on_glance(glance: GlanceServer, monkeypatch: pytest.MonkeyPatch) -> None:
    run = uuid.uuid4().hex[:8]  # the Glance is shared by the session
    created = []
    for i, (tags, props) in enumerate([(["web", run], {"role": "web"}), (["db", run], {"role": "db"}),
                                        (["web", run, "old"], {"role": "web"})]):
        body = {"name": f"lk-{run}-{i}", "disk_format": "qcow2", "container_format": "bare", "tags": tags, **props}
        r = requests.post(f"{glance.url}/v2/images", json=body, headers=JSON, timeout=30)
        r.raise_for_status()
        created.append(r.json()["id"])
    monkeypatch.setattr(lookup, "PAGE_SIZE", 1)  # every image on its own page
    lookups = Lookups(ImsClient(Transport(glance.url, Credentials())), GLANCE)
    try:
        found = lookups.get_images(tags=["web", run], not_tags=["old"], properties={"role": "web"})
        assert [i.id for i in found] == [created[0]]
        assert lookups.get_image(name=f"lk-{run}-1").id == created[1]
        assert {i.id for i in lookups.get_images(name_regex=f"^lk-{run}-")} == set(created)
        with pytest.raises(ImageLookupError, match="cannot be used on a Glance server"):
            lookups.get_image(platform="Ubuntu")
        with pytest.raises(ImageLookupError, match="3 images match"):
            lookups.get_image(tags=[run])
    finally:
        for image_id in created:
            requests.delete(f"{glance.url}/v2/images/{image_id}", headers=JSON, timeout=30)
