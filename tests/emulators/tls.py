"""Test-only TLS: a throwaway CA (trustme) and the server certificate for 127.0.0.1/localhost.

Clients must trust `ca_path` explicitly. With requests that means a session with
`verify=ca_path` AND `trust_env=False`, because REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (set
globally on some machines, CI included) silently override `verify=`; or, for a subprocess,
REQUESTS_CA_BUNDLE=ca_path with CURL_CA_BUNDLE removed (see `client_environment`).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import trustme

# Variables through which requests (and so both cloud SDKs) pick a CA bundle from the env.
CA_ENVIRONMENT_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@dataclass(frozen=True, slots=True)
class LoopbackTls:
    """A CA written to `ca_path` and a leaf certificate for the loopback address."""

    ca: trustme.CA
    leaf: trustme.LeafCert
    ca_path: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.leaf.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


def make_loopback_tls(directory: Path) -> LoopbackTls:
    """Create a fresh CA and leaf; write the CA certificate (PEM) into `directory`."""
    ca = trustme.CA(organization_name="picsync test CA")
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca_path = directory / "loopback-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return LoopbackTls(ca=ca, leaf=leaf, ca_path=ca_path)


def client_environment(ca_path: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of `base` (default: os.environ) in which requests trusts only `ca_path`."""
    env = dict(os.environ if base is None else base)
    for name in CA_ENVIRONMENT_VARIABLES:
        env.pop(name, None)
    env["REQUESTS_CA_BUNDLE"] = str(ca_path)
    return env
