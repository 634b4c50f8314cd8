"""What the OpenFX plugin's tests share: the project's OFX host with the plugin loaded, and
`frameloom serve` processes for it to reach."""
from __future__ import annotations

import pytest

from ofx_host import Serve, load_host, servers


@pytest.fixture(scope="module")
def host():
    """The host, one per test module; it must end without property errors or leaked images."""
    h = load_host()
    yield h
    assert h.property_errors == 0, h.log()
    assert h.images_outstanding == 0


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    """A `frameloom serve` on loopback for the whole module."""
    srv = Serve(tmp_path_factory.mktemp(request.module.__name__.replace("test_", "") + "-serve"))
    yield srv
    srv.stop()


@pytest.fixture
def serve():
    """Start servers of one's own (stopped at the end of the test)."""
    with servers() as start:
        yield start
