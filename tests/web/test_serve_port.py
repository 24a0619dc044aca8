"""The test server's port is held from the moment it is chosen (tests/web/conftest.py ``serve``).

Before, a free port was looked up, released, and bound again by uvicorn: another process on this machine (CI
shares it with other runs) could take it in between, and the server never started.
"""

from __future__ import annotations

import errno
import socket

import pytest

from tests.web.conftest import _listening_socket


def test_the_chosen_port_cannot_be_taken_before_the_server_listens_on_it() -> None:
    sock = _listening_socket()
    try:
        port = sock.getsockname()[1]
        with socket.socket() as other, pytest.raises(OSError) as taken:
            other.bind(("127.0.0.1", port))  # what another process would do in the old gap
        assert taken.value.errno == errno.EADDRINUSE
    finally:
        sock.close()
