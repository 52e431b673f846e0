"""The API floor and the provider's own per-call cost, both without the Pulumi engine.

* :func:`api_floor`: the project's ``ImsClient`` doing each scenario's API work for N images
  directly with a thread pool of the same width as ``pulumi --parallel``: N POSTs (create),
  N GETs (refresh), N PATCHes (in-place change), N deletes with their confirmation GET
  (destroy). A no-change preview needs no API call, so its API floor is zero. The create is
  also timed the way the provider does it (token lookup, then POST) as ``create_with_lookup``.
* :func:`provider_calls`: the provider's methods called in-process, one after another, under
  cProfile: the CPU each ``check``/``diff`` costs (the engine calls those one resource at a
  time, so that cost adds up serially) and where the time of each method goes.
"""

from __future__ import annotations

import cProfile
import hashlib
import io
import pstats
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from pulumi.dynamic import Config, ConfigureRequest

from ims_emulator.process import Emulator
from ims_pulumi.core.client import ImsClient, create_token_tag
from ims_pulumi.core.config import resolve
from ims_pulumi.core.image_metadata import IMAGE_METADATA
from ims_pulumi.dynamic import provider as provider_module

REPO_ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")
R = TypeVar("R")

def user_inputs(i: int, generation: str = "1") -> dict[str, Any]:
    """The inputs that the benchmark program declares for image ``i``."""
    return {
        "name": f"bench-{i:05d}",
        "os_version": "Ubuntu 22.04 server 64bit",
        "disk_format": "qcow2",
        "container_format": "bare",
        "min_disk": 40,
        "min_ram": 1024,
        "tags": ["team=bench"],
        "properties": {"generation": generation},
    }


def raw_config(config: dict[str, str], secrets: dict[str, str]) -> dict[str, str]:
    """``ims:*`` stack config as the provider's ``configure`` keeps it."""
    return {k.removeprefix("ims:"): v for k, v in {**config, **secrets}.items() if k.startswith("ims:")}


def _timed_map(workers: int, fn: Callable[[T], R], items: Iterable[T]) -> tuple[float, list[R]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        out = list(pool.map(fn, items))
    return time.perf_counter() - started, out


def api_floor(emu: Emulator, raw: dict[str, str], n: int, workers: int) -> dict[str, Any]:
    """Each scenario's API work for ``n`` images, directly with the client; seconds and requests."""
    cfg = resolve(lambda key: raw.get(key), environ={})
    client = ImsClient.from_config(cfg)
    profile = cfg.profile
    bodies = []
    for i in range(n):
        inputs, failures = IMAGE_METADATA.check({}, user_inputs(i), profile)
        assert not failures, failures
        bodies.append(IMAGE_METADATA.create_body(inputs, profile))
    result: dict[str, Any] = {"n": n, "workers": workers, "scenarios": {}}

    def step(name: str, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        emu.reset_stats()
        seconds, out = _timed_map(workers, fn, items)
        result["scenarios"][name] = {"seconds": round(seconds, 3), "requests": emu.stats()["requests"]}
        return out

    try:
        emu.reset()
        def create(body: dict[str, Any]) -> dict[str, Any]:
            # the documented create, then the custom property by PATCH, as the provider does on IMS
            image = client.create_image(body)
            return client.update_image(image["id"], [{"op": "add", "path": "/generation", "value": "1"}])

        images = step("up", create, bodies)
        ids = [image["id"] for image in images]
        result["scenarios"]["preview"] = {"seconds": 0.0, "requests": {}}
        step("refresh", client.get_image, ids)
        patch = [{"op": "replace", "path": "/generation", "value": "2"}]
        step("update", lambda image_id: client.update_image(image_id, patch), ids)
        step("destroy", client.delete_image, ids)

        # The create as the provider does it: look the token up, then POST.
        emu.reset()
        tokens = [hashlib.sha256(f"bench/{i}".encode()).hexdigest()[:32] for i in range(n)]
        with_token = [{**body, "tags": [*body.get("tags", []), create_token_tag(token)]}
                      for body, token in zip(bodies, tokens, strict=True)]
        emu.reset_stats()
        seconds, _ = _timed_map(workers, client.create_image, with_token)
        result["create_with_lookup"] = {"seconds": round(seconds, 3), "requests": emu.stats()["requests"]}
    finally:
        client.close()
        emu.reset()
    return result


def provider_calls(emu: Emulator, raw: dict[str, str], n: int, top: int = 12) -> dict[str, Any]:
    """The provider's methods in-process for ``n`` images: us per call and cProfile hot spots."""
    prov = provider_module.ImageMetadataProvider()
    configure(prov, raw)
    serialized = "ims_pulumi.provider:ImageMetadataProvider"  # stands in for __provider
    token = lambda i: hashlib.sha256(f"calls/{i}".encode()).hexdigest()[:32]  # noqa: E731
    news = [{**user_inputs(i), "__create_token": token(i), "__provider": serialized} for i in range(n)]
    changed = [{**user_inputs(i, "2"), "__create_token": token(i), "__provider": serialized} for i in range(n)]
    phases: dict[str, Any] = {}
    emu.reset()

    def phase(name: str, fn: Callable[[int], Any]) -> list[Any]:
        profiler = cProfile.Profile()
        out = []
        started = time.perf_counter()
        profiler.enable()
        for i in range(n):
            out.append(fn(i))
        profiler.disable()
        seconds = time.perf_counter() - started
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(top)
        phases[name] = {
            "calls": n,
            "us_per_call": round(seconds / n * 1e6, 1),
            "top_tottime": _rows(stats, top),
        }
        return out

    try:
        checked = phase("check", lambda i: prov.check({}, news[i]).inputs)
        created = phase("create", lambda i: prov.create(checked[i]))
        outs = [{**c.outs, "__provider": serialized} for c in created]
        phase("diff_no_change", lambda i: prov.diff(created[i].id, outs[i], checked[i]))
        checked2 = phase("check_changed", lambda i: prov.check(outs[i], changed[i]).inputs)
        phase("diff_changed", lambda i: prov.diff(created[i].id, outs[i], checked2[i]))
        phase("read", lambda i: prov.read(created[i].id, outs[i]))
        phase("update", lambda i: prov.update(created[i].id, outs[i], checked2[i]))
        phase("delete", lambda i: prov.delete(created[i].id, outs[i]))
    finally:
        configure(prov, {})
        emu.reset()
    return {"n": n, "phases": phases}


def configure(prov: provider_module.ImageMetadataProvider, raw: dict[str, str]) -> None:
    """Configure the provider as the dynamic-provider server does (its public ``configure``)."""
    config = Config(raw_config={f"ims:{k}": v for k, v in raw.items()}, project_name="bench")
    prov.configure(ConfigureRequest(config=config))


def _rows(stats: pstats.Stats, top: int) -> list[dict[str, Any]]:
    """The ``top`` functions by own time: where, calls, own and cumulative seconds."""
    entries = []
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in raw.items():
        entries.append((tottime, cumtime, ncalls, f"{_short(filename)}:{line}({func})"))
    entries.sort(reverse=True)
    return [{"function": where, "calls": calls, "tottime": round(tt, 4), "cumtime": round(ct, 4)}
            for tt, ct, calls, where in entries[:top]]


def _short(filename: str) -> str:
    for marker in ("site-packages/", f"{REPO_ROOT}/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename
