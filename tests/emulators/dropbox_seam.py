"""Point the real Dropbox SDK at a loopback emulator, whatever the import order.

`dropbox.session` reads DROPBOX_API_HOST once at import and binds it into
`Dropbox._host_map` (per instance, in `__init__`) and into the default argument of
`refresh_access_token`. `loopback_dropbox_class(netloc)` returns a subclass that overrides
both; `clone()` and `with_path_root()` build `self.__class__`, so clones keep pointing at the
emulator. `_host_map` is private SDK API (verified with dropbox 12.2.4): if an upgrade breaks
it, `test_dropbox_emulator.py` fails loudly, and the subprocess seam (environment variables)
still works.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import dropbox
import requests


@cache
def loopback_dropbox_class(netloc: str) -> type[dropbox.Dropbox]:
    """A dropbox.Dropbox subclass whose api, content and notify hosts are all `netloc`."""

    class LoopbackDropbox(dropbox.Dropbox):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._host_map = {"api": netloc, "content": netloc, "notify": netloc}

        def refresh_access_token(self, host: str | None = None, scope: Any = None) -> None:
            super().refresh_access_token(host=host or netloc, scope=scope)

    LoopbackDropbox.__qualname__ = f"LoopbackDropbox[{netloc}]"
    return LoopbackDropbox


def loopback_session(ca_path: Path) -> requests.Session:
    """An SDK session that trusts only the test CA, whatever REQUESTS_CA_BUNDLE says."""
    session: requests.Session = dropbox.create_session(ca_certs=str(ca_path))
    session.trust_env = False  # else REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override verify=
    return session


def loopback_dropbox(netloc: str, ca_path: Path, **kwargs: Any) -> dropbox.Dropbox:
    """A real `dropbox.Dropbox(**kwargs)` talking to the emulator at `netloc`."""
    kwargs.setdefault("session", loopback_session(ca_path))
    return loopback_dropbox_class(netloc)(**kwargs)
