"""systemd readiness (``Type=notify``): ``READY=1`` once serving, ``STOPPING=1`` on stop.

systemd gives a ``Type=notify`` service the address of a datagram socket in
``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace); the service
sends ``KEY=value`` lines to it. Outside systemd the variable is unset and
:func:`notify` does nothing, so the daemon calls it unconditionally.
"""

from __future__ import annotations

import os
import socket

#: The variable systemd sets for a ``Type=notify`` service.
NOTIFY_SOCKET = "NOTIFY_SOCKET"


def notify(state: str, environ: dict[str, str] | None = None) -> bool:
    """Send ``state`` (``READY=1``, ``STOPPING=1``, ``STATUS=...``) to systemd.

    Returns True when a notification socket was set and the message was sent; False
    when there is none (not run by systemd) or sending failed (never raises: a
    missed notification must not stop the daemon).
    """
    address = (environ if environ is not None else os.environ).get(NOTIFY_SOCKET)
    if not address or address[0] not in "/@":
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(target)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True
