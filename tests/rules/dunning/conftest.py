"""The dunning tests' fixtures; their builders are in ``tests.rules.dunning.builders``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.rules.dunning.builders import Received, free_port


@pytest.fixture
def smtp_server() -> Iterator[tuple[str, int, Received]]:
    """A real SMTP server on loopback (aiosmtpd), yielding host, port and what it received."""
    from aiosmtpd.controller import Controller

    handler = Received()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield "127.0.0.1", port, handler
    finally:
        controller.stop()
