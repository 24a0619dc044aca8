"""Shared bench helpers: a platform on a temp SQLite file with demo parties, a served uvicorn process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    a = np.asarray(samples_ms, dtype=float)
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p99_ms": round(float(np.percentile(a, 99)), 3),
            "max_ms": round(float(a.max()), 3)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_platform(data_dir: Path, seed: int = 7):
    """A migrated platform on SQLite under ``data_dir`` with the demo parties and fresh API keys."""
    from smartcustoms.core.config import Settings
    from smartcustoms.platform import build_platform
    from smartcustoms.simulate.demo import load_demo

    platform = build_platform(Settings(data_dir=data_dir))
    access = load_demo(platform, declarations=0, seed=seed)
    return platform, access


@contextmanager
def served(data_dir: Path, env: dict | None = None):
    """``smartcustoms serve`` on a free loopback port with its data in ``data_dir``; yields the base URL."""
    port = free_port()
    environ = {**os.environ, "SMARTCUSTOMS_DATA_DIR": str(data_dir), **(env or {})}
    exe = str(Path(sys.executable).with_name("smartcustoms"))
    proc = subprocess.Popen([exe, "serve", "--host", "127.0.0.1", "--port", str(port)], env=environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        else:
            raise RuntimeError("server did not answer /healthz within 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
