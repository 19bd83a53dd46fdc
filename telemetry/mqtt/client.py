"""paho's MQTT client, made cheaper per message: a read buffer, and properties decoded without
rebuilding their tables (no Django here: the bench's publisher uses this too)."""

from __future__ import annotations

from typing import Any

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

READ_SIZE = 64 * 1024
CHECKED_PAHO = "2.2.0"


class BufferedClient(mqtt.Client):
    """paho's client, reading its socket 64 KiB at a time.

    paho asks the socket for a packet in three or more recv calls (its first byte, each byte of
    its length, then the rest), so a stream of small PUBLISH packets costs several system calls
    apiece. This keeps what one recv returned and hands it out as paho asks for it; `buffered`
    tells the loop that packets are waiting without a select.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._chunk = b""
        self._at = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._at >= len(self._chunk):
            self._chunk = super()._sock_recv(READ_SIZE)  # BlockingIOError when nothing came
            self._at = 0
            if not self._chunk:
                return b""  # the broker closed the connection
        part = self._chunk[self._at : self._at + bufsize]
        self._at += len(part)
        return part

    def buffered(self) -> int:
        """Bytes read from the socket that paho has not taken yet (including TLS's own)."""
        sock = self.socket()
        pending = sock.pending() if sock is not None and hasattr(sock, "pending") else 0
        return len(self._chunk) - self._at + pending

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        # Straight to on_message: paho first matches every topic against the callbacks of
        # message_callback_add (none here), under two locks (one thread here), which was a
        # tenth of the consumer's time with single-reading messages.
        on_message = self.on_message
        if on_message is not None:
            on_message(self, self._userdata, message)

    def reconnect(self) -> MQTTErrorCode:
        self._chunk, self._at = b"", 0  # bytes of the old connection mean nothing on the new
        return super().reconnect()


# --- paho's MQTT v5 properties, without their per-packet set-up -------------------------------
_PAHO = Properties(PacketTypes.PUBLISH)
# The lookup tables paho builds for every Properties object (27 names, the types, which packet
# takes which property), built once. Names are kept without their spaces, the form in which
# every method of Properties uses them (each one strips the spaces first).
_NAMES = {name.replace(" ", ""): ident for name, ident in _PAHO.names.items()}
_NAME_OF = {ident: name for name, ident in _NAMES.items()}


class SharedTableProperties(Properties):
    """paho's Properties, with its tables shared instead of rebuilt for each packet.

    paho decodes the properties of every MQTT v5 PUBLISH into a new Properties, whose
    constructor builds three lookup tables and whose name lookups strip spaces from 27 names
    each time: about 30 µs a message, a quarter of the consumer's time with single-reading
    messages (py-spy on the consumer in make bench's MQTT phase). Same tables, same checks,
    same packing and unpacking code (paho's own); only the set-up and the two lookups are
    faster.
    """

    def __init__(self, packetType: int) -> None:
        state = self.__dict__
        state["packetType"] = packetType
        state["types"] = _PAHO.types
        state["names"] = _NAMES
        state["properties"] = _PAHO.properties

    # paho's method names.
    def getIdentFromName(self, compressedName: str) -> int:
        return _NAMES.get(compressedName, -1)

    def getNameFromIdent(self, identifier: int) -> str | None:
        return _NAME_OF.get(identifier)

    def clear(self) -> None:
        for name in [n for n in self.__dict__ if n in _NAMES]:
            del self.__dict__[name]


def decode_properties_faster() -> None:
    """Have paho decode received packets' properties with SharedTableProperties (both the
    consumer and the bench's publisher call this). Only for the paho release it was checked
    against (requirements.txt pins it; tests/mqtt/test_units.py compares the two)."""
    if paho.mqtt.__version__ == CHECKED_PAHO:
        _packet.Properties = SharedTableProperties  # type: ignore[attr-defined]
