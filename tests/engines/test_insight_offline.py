"""The embedding model loads and embeds with outbound network blocked: nothing reaches a model hub.

Runs in a fresh interpreter, so no earlier import or cached model can hide a download: the network is
blocked before anything of wordllama, tokenizers or huggingface_hub is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = textwrap.dedent(
    """
    import ipaddress, json, socket

    attempts = []

    def _blocked(address):
        host = address[0] if isinstance(address, tuple) else address
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host not in ("localhost",)

    _connect = socket.socket.connect
    _create_connection = socket.create_connection
    _getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and _blocked(address):
            attempts.append(repr(address))
            raise OSError("outbound network blocked by the test")
        return _connect(self, address)

    def create_connection(address, *args, **kwargs):
        if _blocked(address):
            attempts.append(repr(address))
            raise OSError("outbound network blocked by the test")
        return _create_connection(address, *args, **kwargs)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and _blocked((host,)):
            attempts.append(repr(host))
            raise socket.gaierror("name resolution blocked by the test")
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.create_connection = create_connection
    socket.getaddrinfo = getaddrinfo

    # The blocker works: a non-loopback connection fails.
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.connect(("10.255.255.1", 80))
        probe_blocked = False
    except OSError as error:
        probe_blocked = "blocked by the test" in str(error)
    finally:
        probe.close()
    attempts.clear()

    from engines.insight import load_embedder

    embedder = load_embedder()
    vectors = embedder.embed(["CSV export crashes", "exporting to csv fails", "please add dark mode"])
    print(json.dumps({
        "probe_blocked": probe_blocked,
        "attempts": attempts,
        "shape": list(vectors.shape),
        "close": float(vectors[0] @ vectors[1]),
        "far": float(vectors[0] @ vectors[2]),
        "name": embedder.name,
    }))
    """
)


def test_the_model_loads_and_embeds_with_the_network_blocked(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        # An empty cache and home: nothing downloaded earlier can be what the model loads from.
        "HF_HOME": str(tmp_path / "hf"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    completed = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["probe_blocked"], "the network blocker must stop a non-loopback connection"
    assert result["attempts"] == [], "loading or embedding tried to reach the network"
    assert result["shape"] == [3, 256]
    assert result["close"] > result["far"] + 0.3
    assert result["name"].startswith("wordllama")
    assert not (tmp_path / "hf").exists() and not (tmp_path / "cache" / "wordllama").exists()
