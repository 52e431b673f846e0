"""Run the emulator (``python -m ims_emulator``) as a child process, e.g. from your own tests.

    from ims_emulator.process import DEMO_TOKEN, Emulator

    with Emulator.start() as emu:
        requests.get(emu.url + "/v2/images", headers={"X-Auth-Token": DEMO_TOKEN})
        emu.set_faults([{"kind": "throttle", "count": 1}])
        emu.restart()              # same data directory and, if still free, the same port

Without ``data_dir`` a temporary directory is made and removed by :meth:`Emulator.stop`,
so :meth:`Emulator.restart` keeps the images either way. The child runs with
``--parent-pid`` so it exits even if this process is killed without a chance to stop it.
Needs ``requests`` (a dependency of the provider) besides the emulator's own ``aiohttp``.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests

from ims_emulator import CONTROL_HEADER, DEMO_AK, DEMO_PROJECT_ID, DEMO_SK, DEMO_TOKEN, PLATFORM_PROJECT_ID

__all__ = ["CONTROL_HEADER", "DEMO_AK", "DEMO_PROJECT_ID", "DEMO_SK", "DEMO_TOKEN", "PLATFORM_PROJECT_ID",
           "Emulator", "EmulatorError"]

#: The directory holding this ``emulator`` package: the child's working directory, so that
#: ``python -m ims_emulator`` runs this very package whether or not it is installed.
IMPORT_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class EmulatorError(RuntimeError):
    """The emulator did not start or stop as expected."""


class Emulator:
    """A running emulator process and its control API (``/_emulator/*``)."""

    def __init__(
        self, data_dir: Path, args: tuple[str, ...], env: dict[str, str] | None, owns_data: bool, verify: str | bool
    ) -> None:
        self.data_dir = data_dir
        self.args = args
        self.env = env
        self.verify = verify
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None
        self._owns_data = owns_data
        self._http = requests.Session()
        self._http.trust_env = False  # never send loopback traffic through a proxy
        self._http.headers[CONTROL_HEADER] = "1"  # the control API refuses changes without it

    @classmethod
    def start(
        cls, data_dir: Path | None = None, *args: str, env: dict[str, str] | None = None, verify: str | bool = True
    ) -> Emulator:
        """Start ``python -m ims_emulator --port 0 --data DIR ARGS...`` and wait for its URL.

        ``env`` replaces the child's environment (``None``: inherit). ``verify`` is the CA
        bundle for the control calls when ``args`` turn TLS on.
        """
        owns = data_dir is None
        directory = Path(tempfile.mkdtemp(prefix="ims-emulator-")) if data_dir is None else data_dir
        emulator = cls(directory, args, env, owns, verify)
        try:
            emulator._launch(port=0)
        except BaseException:
            emulator.stop()
            raise
        return emulator

    def _launch(self, port: int) -> None:
        command = [
            *(sys.executable, "-m", "emulator", "--port", str(port), "--data", str(self.data_dir)),
            *("--parent-pid", str(os.getpid())),  # the emulator exits even if this process is SIGKILLed
            *self.args,
        ]
        self.process = subprocess.Popen(command, cwd=IMPORT_ROOT, env=self.env, stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        line = b""
        deadline = time.monotonic() + START_TIMEOUT
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._terminate()
                    raise EmulatorError(f"no URL on stdout within {START_TIMEOUT:.0f}s: {command}")
                if selector.select(remaining):
                    chunk = os.read(self.process.stdout.fileno(), 4096)
                    if not chunk:
                        code = self.process.wait()
                        raise EmulatorError(f"emulator exited with {code} before printing its URL: {command}")
                    line += chunk
        self.url = line.decode().strip()

    @property
    def port(self) -> int:
        """The port the emulator listens on."""
        port = urlsplit(self.url).port
        assert port is not None
        return port

    def _terminate(self) -> int | None:
        """SIGTERM, wait, SIGKILL as a fallback; the exit code (``None`` if not running)."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        return process.returncode

    def stop(self) -> int | None:
        """Stop the process and remove the data directory if this helper made it; the exit code."""
        code = self._terminate()
        self._http.close()
        if self._owns_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return code

    def restart(self) -> int | None:
        """Stop and start again on the same data and, if it can still be bound, the same port.

        Returns the exit code of the stopped process.
        """
        port = self.port
        code = self._terminate()
        try:
            self._launch(port=port)
        except EmulatorError:
            self._launch(port=0)
        return code

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- control API ------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self._http.request(method, self.url + path, timeout=10, verify=self.verify, **kwargs)
        response.raise_for_status()
        return response

    def health(self) -> dict[str, Any]:
        """``GET /_emulator/health``."""
        return dict(self._call("GET", "/_emulator/health").json())

    def stats(self) -> dict[str, Any]:
        """Counters: ``requests``, ``responses``, ``faults``, ``images`` per project, ``writes``."""
        return dict(self._call("GET", "/_emulator/stats").json())

    def reset_stats(self) -> None:
        """Zero the counters."""
        self._call("DELETE", "/_emulator/stats")

    def set_faults(self, rules: list[dict[str, Any]], seed: int | None = None) -> list[dict[str, Any]]:
        """Replace the fault rules (see ``ims_emulator/README.md``); returns them as installed."""
        body: dict[str, Any] = {"rules": rules}
        if seed is not None:
            body["seed"] = seed
        return list(self._call("POST", "/_emulator/faults", json=body).json()["rules"])

    def faults(self) -> list[dict[str, Any]]:
        """The active fault rules with their remaining counts."""
        return list(self._call("GET", "/_emulator/faults").json()["rules"])

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._call("DELETE", "/_emulator/faults")

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change behaviour switches at run time, e.g. ``configure(unique_names=True)``."""
        return dict(self._call("PATCH", "/_emulator/config", json=settings).json())

    def images(self, project: str | None = None, *, public: bool = False) -> list[dict[str, Any]]:
        """User images of every project (or of ``project``), oldest first, bypassing auth.

        The catalogue of public images is not among them unless ``public`` is true.
        """
        params = {"project": project} if project else {}
        if public:
            params["public"] = "true"
        return list(self._call("GET", "/_emulator/images", params=params or None).json()["images"])

    def delete_images(self) -> int:
        """Delete every user image of every project (never the catalogue); returns how many there were."""
        return int(self._call("DELETE", "/_emulator/images").json()["deleted"])

    def reset(self) -> None:
        """No user images, no faults, zero stats, start-up settings (the catalogue stays)."""
        self._call("POST", "/_emulator/reset")
