"""A mosquitto of our own, configured by deploy/mosquitto/mosquitto.conf, in a temporary folder.

Debian's /usr/sbin/mosquitto with the production file: only the ports and folders are
substituted (as its header says an install does), the ACL files are the deployed ones, and the
password files and a TLS certificate (a throwaway CA, for 127.0.0.1) are made here. Never the
machine's own broker on 1883. Used by tests/mqtt and by `make bench`.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "mosquitto"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

INGEST_USER, INGEST_PASSWORD = "fleet-ingest", "ingest-secret"
OPS_USER, OPS_PASSWORD = "fleet-ops", "ops-secret"
DEVICE_PASSWORD = "device-secret"  # every test device's


def missing() -> str | None:
    """Why the broker cannot run here, or None."""
    for tool in (MOSQUITTO, MOSQUITTO_PASSWD, OPENSSL):
        if not os.path.exists(tool):
            return f"{tool} is not installed (apt-get install mosquitto mosquitto-clients openssl)"
    return None


class PortTaken(RuntimeError):
    """mosquitto could not bind a port it was given."""


def _distinct_free_ports(names: Iterable[str]) -> dict[str, int]:
    """A free loopback port per name, no two alike (free_port may hand out one port twice)."""
    ports: dict[str, int] = {}
    for name in names:
        port = free_port()
        while port in ports.values():
            port = free_port()
        ports[name] = port
    return ports


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=60)


def make_certificates(folder: Path) -> None:
    """ca.crt, and server.crt/server.key that it signed for 127.0.0.1 and localhost."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = folder / "ca.key", folder / "ca.crt"
    key, csr, crt = folder / "server.key", folder / "server.csr", folder / "server.crt"
    _run(
        OPENSSL,
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=fleet test CA",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca_crt),
    )
    _run(
        OPENSSL,
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        str(key),
        "-out",
        str(csr),
    )
    extensions = folder / "san.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _run(
        OPENSSL,
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca_crt),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(extensions),
        "-out",
        str(crt),
    )


def _write_passwords(path: Path, users: Iterable[tuple[str, str]]) -> None:
    # mosquitto_passwd -U hashes a whole file of user:password lines in one run.
    lines = [f"{user}:{password}\n" for user, password in users]
    path.write_text("".join(lines))
    if lines:  # (it refuses an empty file; mosquitto takes one: nobody may log in)
        _run(MOSQUITTO_PASSWD, "-U", str(path))


class Broker:
    """mosquitto with the production configuration on five free loopback ports.

    devices: the usernames allowed on each device listener ({"vehicles": ["VH1"], ...}), all
    with DEVICE_PASSWORD; the two ingest listeners have fleet-ingest and fleet-ops.
    """

    LISTENERS = ("local", "ingest", "vehicles", "meters", "gateways")

    def __init__(
        self,
        devices: dict[str, list[str]] | None = None,
        certificates: Path | None = None,
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fleet-mosquitto-"))
        self.process: subprocess.Popen[bytes] | None = None
        try:
            self._configure(devices, certificates)
            for attempt in range(5):
                try:
                    self.start()
                    break
                except PortTaken:
                    # Another process took one of the ports between free_port() and mosquitto
                    # binding it: take new ones. (Only here: a restart keeps its ports, which
                    # the clients of the session know.)
                    if attempt == 4:
                        raise
                    self.ports = _distinct_free_ports(self.LISTENERS)
                    self._write_config()
                    self.log.write_bytes(b"")  # the next attempt's log only
        except BaseException:
            self.destroy()
            raise

    def _configure(self, devices: dict[str, list[str]] | None, certificates: Path | None) -> None:
        self.data = self.dir / "data"
        self.data.mkdir()
        self.tls = self.dir / "tls"
        if certificates is not None:
            shutil.copytree(certificates, self.tls)
        else:
            make_certificates(self.tls)
        self.ca_file = str(self.tls / "ca.crt")
        self.ports = _distinct_free_ports(self.LISTENERS)
        for acl in DEPLOY.glob("*.acl"):
            shutil.copy(acl, self.dir / acl.name)
        _write_passwords(
            self.dir / "ingest.passwd", [(INGEST_USER, INGEST_PASSWORD), (OPS_USER, OPS_PASSWORD)]
        )
        for kind in ("vehicles", "meters", "gateways"):
            names = (devices or {}).get(kind, [])
            _write_passwords(self.dir / f"{kind}.passwd", [(n, DEVICE_PASSWORD) for n in names])
        self.conf = self.dir / "mosquitto.conf"
        self.log = self.dir / "mosquitto.log"
        self._write_config()

    def _write_config(self) -> None:
        self.conf.write_text(
            substitute(
                (DEPLOY / "mosquitto.conf").read_text(),
                {
                    "MQTT_CONF_DIR": str(self.dir),
                    "MQTT_DATA_DIR": str(self.data),
                    "MQTT_TLS_DIR": str(self.tls),
                    "MQTT_LOCAL_PORT": str(self.ports["local"]),
                    "MQTT_INGEST_ADDRESS": "127.0.0.1",
                    "MQTT_INGEST_PORT": str(self.ports["ingest"]),
                    "MQTT_DEVICE_ADDRESS": "127.0.0.1",
                    "MQTT_VEHICLES_PORT": str(self.ports["vehicles"]),
                    "MQTT_METERS_PORT": str(self.ports["meters"]),
                    "MQTT_GATEWAYS_PORT": str(self.ports["gateways"]),
                },
            )
        )
        self._hand_to_mosquitto_user()

    def _hand_to_mosquitto_user(self) -> None:
        """Run as root, mosquitto drops to its own user, which must read the configuration
        and write its data folder."""
        if os.geteuid() != 0:
            return
        try:
            user = pwd.getpwnam("mosquitto")
        except KeyError:
            return
        for path in [self.dir, *self.dir.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid)

    @property
    def ingest_url(self) -> str:
        """The consumer's URL on the TLS ingest listener (with MQTT_CA_FILE=ca_file)."""
        return f"mqtts://{INGEST_USER}:{INGEST_PASSWORD}@127.0.0.1:{self.ports['ingest']}"

    @property
    def local_url(self) -> str:
        """The consumer's URL on the loopback listener, without TLS."""
        return f"mqtt://{INGEST_USER}:{INGEST_PASSWORD}@127.0.0.1:{self.ports['local']}"

    def start(self) -> None:
        log = self.log.open("ab")
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stderr=log, stdout=log)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_tail()
                if "Address already in use" in tail:
                    raise PortTaken(tail)
                raise RuntimeError(f"mosquitto exited:\n{tail}")
            if all(_listening(port) for port in self.ports.values()):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen in time:\n{self.log_tail()}")

    def stop(self) -> None:
        """A clean stop (SIGTERM): mosquitto saves its sessions and messages to disk."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def destroy(self) -> None:
        with suppress(Exception):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def substitute(text: str, values: dict[str, str]) -> str:
    """envsubst for the ${NAME} the file names; every one of them must be given."""
    names = set(re.findall(r"\$\{(MQTT_[A-Z_]+)\}", text))
    if names - values.keys():
        raise KeyError(f"no value for {sorted(names - values.keys())}")
    return re.sub(r"\$\{(MQTT_[A-Z_]+)\}", lambda m: values[m.group(1)], text)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False
