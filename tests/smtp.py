"""A real SMTP server for tests: aiosmtpd in its own process, mail kept as files.

aiosmtpd runs on asyncio; keeping it out of the eventlet-patched test process
avoids mixing the two loops.
"""
from __future__ import annotations

import email
import subprocess
import sys
import tempfile
from email.policy import default
from pathlib import Path

from zhidu.launcher import answers
from zhidu.testing import free_port, wait_for

SERVER = r'''
import asyncio, sys, uuid
from pathlib import Path
from aiosmtpd.controller import Controller

class Keep:
    async def handle_DATA(self, server, session, envelope):
        name = Path(sys.argv[2]) / f"{uuid.uuid4().hex}.eml"
        name.write_bytes(envelope.original_content or envelope.content)
        return "250 OK"

controller = Controller(Keep(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
asyncio.new_event_loop().run_forever()
'''


class SmtpServer:
    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="zhidu-mail-"))

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, str(self.port),
                                      str(self.dir)])
        wait_for(lambda: answers("127.0.0.1", self.port, 0.2), 20, message="SMTP server")
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait(10)

    def messages(self) -> list:
        return [email.message_from_bytes(path.read_bytes(), policy=default)
                for path in sorted(self.dir.glob("*.eml"))]
