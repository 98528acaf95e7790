"""moto's AWS emulator for the ECS backend's tests.

One ``ThreadedMotoServer`` per test session on 127.0.0.1 at a free port; ``POST
/moto-api/reset`` clears its state before each test that uses it. Dummy credentials are set
in the test environment only (and the user's AWS config files are hidden), so nothing here can
reach a real account.
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator

import pytest

from backends.ecs_checks import ENDPOINT_ENV

#: Dummy keys; tests check that none of them ever appears in output or logs.
DUMMY_KEY_ID = "AKIAFAKEFAKEFAKE1234"
DUMMY_SECRET = "fakeSecretKeyNeverPrinted/0123456789abcdEF"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Dummy credentials and region; the user's AWS config and credentials files hidden."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "fakeSessionToken")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def moto(moto_server: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """The emulator's URL, its state reset."""
    req = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    monkeypatch.setenv(ENDPOINT_ENV, moto_server)
    return moto_server


@pytest.fixture(autouse=True)
def _emulator_for_ecs_conformance(request: pytest.FixtureRequest) -> None:
    """The conformance suite (tests/backends/test_backend_checks.py) parametrizes over every
    registered backend; the ECS one needs the emulator."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("backend_name") == "ecs":
        request.getfixturevalue("moto")
