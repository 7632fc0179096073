"""Credentials for trial deployments: a self-signed CA + server certificate for the SuperLink's TLS,
and EC key pairs (OpenSSH format) for SuperNode authentication.

Made with the ``cryptography`` package (installed with flwr). For production sites use
certificates from your institution's CA; these are for loopback and lab trials.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from automri.atomic import atomic_open

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TLSFiles:
    """Paths of the CA certificate (give it to every SuperNode and the CLI) and the server pair."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


@dataclass(frozen=True)
class NodeKey:
    """One SuperNode's EC key pair in OpenSSH format (register the public key with the SuperLink)."""

    private: Path
    public: Path


def _write(path: Path, data: bytes, private: bool = False) -> None:
    """Write ``data`` atomically; a ``private`` file is owner-only (0600) before any byte is written."""
    with atomic_open(path, "wb") as handle:
        if private:
            os.fchmod(handle.fileno(), 0o600)
        handle.write(data)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def make_self_signed(folder: str | os.PathLike, hosts: tuple[str, ...] = DEFAULT_HOSTS, days: int = 365) -> TLSFiles:
    """Write ``ca.crt``, ``server.pem`` and ``server.key`` into ``folder``.

    The server certificate is signed by the new CA and valid for ``hosts`` (DNS names or IP
    addresses, as subjectAltName) for ``days`` days.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "AutoMRI"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "AutoMRI trial CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name).public_key(server_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    files = TLSFiles(folder / "ca.crt", folder / "server.pem", folder / "server.key")
    _write(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM))
    _write(files.server_cert, server_cert.public_bytes(serialization.Encoding.PEM))
    _write(files.server_key, _pem_key(server_key), private=True)
    return files


def make_node_key(folder: str | os.PathLike, name: str) -> NodeKey:
    """An EC (SECP384R1) key pair ``<name>`` / ``<name>.pub`` in OpenSSH format, as
    ``flower-supernode --auth-supernode-private-key`` and ``flwr supernode register`` expect."""
    folder = Path(folder)
    key = ec.generate_private_key(ec.SECP384R1())
    pair = NodeKey(folder / name, folder / f"{name}.pub")
    _write(pair.private, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()), private=True)
    _write(pair.public, key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                      serialization.PublicFormat.OpenSSH) + b"\n")
    return pair
