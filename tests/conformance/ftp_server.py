"""A pyftpdlib FTP/FTPS server for the conformance suite (run as a subprocess).

Usage: python ftp_server.py PORT ROOT USER [CERTFILE KEYFILE]
The password is read from the FTP_TEST_PASSWORD environment variable. With a
certificate the server requires explicit TLS on control and data channels.
"""

from __future__ import annotations

import logging
import os
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
from pyftpdlib.servers import ThreadedFTPServer


def main() -> None:
    port, root, user = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    logging.basicConfig(level=logging.WARNING)
    authorizer = DummyAuthorizer()
    authorizer.add_user(user, os.environ["FTP_TEST_PASSWORD"], root, perm="elradfmwMT")
    handler: type[FTPHandler]
    if len(sys.argv) > 5:

        class Handler(TLS_FTPHandler):
            certfile = sys.argv[4]
            keyfile = sys.argv[5]
            tls_control_required = True
            tls_data_required = True

        handler = Handler
    else:

        class PlainHandler(FTPHandler):
            pass

        handler = PlainHandler
    handler.authorizer = authorizer
    handler.banner = "keyark test server"
    handler.auth_failed_timeout = 0.1  # default 3 s per failed login slows the tests
    server = ThreadedFTPServer(("127.0.0.1", port), handler)
    server.max_cons = 64
    server.serve_forever()


if __name__ == "__main__":
    main()
