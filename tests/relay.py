"""A scriptable aiosmtpd relay for worker tests: scripted DATA and RCPT replies, a DATA phase held
open, a QUIT never answered, implicit TLS or STARTTLS with a self-signed certificate."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, message_from_string, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from tests.conftest import free_port


class Relay:
    """What the relay saw and how it answers.

    ``accepted``: envelopes answered 250. ``data_replies``: replies for the next DATA commands
    (then 250). ``rcpt_replies``: address → reply for RCPT (refusing that recipient).
    ``hold_next_data``: the next DATA is held open until ``release`` is set, then answered 451
    without counting (the client is gone by then). ``hang_quit``: QUIT is never answered.
    """

    def __init__(self) -> None:
        self.accepted: list[Envelope] = []
        self.data_attempts = 0
        self.changed = threading.Condition()
        self.data_replies: list[str] = []
        self.rcpt_replies: dict[str, str] = {}
        self.hold_next_data = False
        self.data_started = threading.Event()
        self.release = threading.Event()
        self.hang_quit = False
        self.stopping = threading.Event()

    async def handle_RCPT(
        self,
        server: Any,
        session: Any,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        if self.hold_next_data:
            self.hold_next_data = False
            self.data_started.set()
            while not (self.release.is_set() or self.stopping.is_set()):
                await asyncio.sleep(0.05)
            return "451 4.3.0 held and dropped"
        reply = self.data_replies.pop(0) if self.data_replies else "250 2.0.0 queued as test"
        with self.changed:
            self.data_attempts += 1
            if reply.startswith("250"):
                self.accepted.append(envelope)
            self.changed.notify_all()
        return reply

    async def handle_QUIT(self, server: Any, session: Any, envelope: Envelope) -> str:
        while self.hang_quit and not self.stopping.is_set():
            await asyncio.sleep(0.05)
        return "221 Bye"

    def messages(self) -> list[EmailMessage]:
        """Every accepted message, parsed with ``email.policy.strict``; one sent with SMTPUTF8 is
        UTF-8 text (RFC 6532), which ``message_from_bytes`` would leave as surrogate escapes.
        """
        return [
            message_from_string(raw.decode(), policy=policy.strict)  # type: ignore[arg-type]
            if "SMTPUTF8" in e.mail_options
            else message_from_bytes(raw, policy=policy.strict)  # type: ignore[arg-type]
            for e in self.accepted
            for raw in [e.original_content or b""]
        ]

    def wait(self, count: int = 1, timeout: float = 15.0) -> list[EmailMessage]:
        """Wait until ``count`` messages were accepted (or ``timeout`` s passed); all of them."""
        with self.changed:
            self.changed.wait_for(lambda: len(self.accepted) >= count, timeout=timeout)
        return self.messages()

    def wait_attempts(self, count: int, timeout: float = 15.0) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.data_attempts >= count, timeout=timeout)


@contextmanager
def running(relay: Relay, **kwargs: Any) -> Iterator[int]:
    """Serve ``relay`` on an ephemeral port; ``kwargs`` go to aiosmtpd's ``Controller``."""
    port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        relay.stopping.set()
        controller.stop()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost made with the openssl CLI:
    ``(cert.pem, key.pem)``. The certificate is its own CA (trust it via FRONTDESK_SMTP_CA_FILE).
    """
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
