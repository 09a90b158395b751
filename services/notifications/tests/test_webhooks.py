"""Webhooks and mail against real sockets: an HTTP receiver, targets that hang or
drip, a TLS receiver and an SMTP server offering STARTTLS with certificates
made for the test (trustme). No broker, no database.

Host names are resolved by the rules' own resolver, given here: a delivery
that reaches the receiver on 127.0.0.1 through ``hooks.example`` went to the
address the rules checked, since no system resolver knows that name.
"""
import ipaddress
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import eventlet
import pytest
import trustme
from cryptography.fernet import Fernet
from notifications.channels import ChannelSettings, Senders
from notifications.rulebook import load_rules
from notifications.signing import parse, verify
from notifications.targets import TargetPolicy, TargetRefused, parse_networks
from zhidu.launcher import answers
from zhidu.secretbox import InvalidToken, SecretBox, SecretKeyError, ensure_key_file
from zhidu.testing import free_port, wait_for

LOOPBACK = parse_networks("127.0.0.0/8")


# -- the address rules ---------------------------------------------------------------------
def public(host, port):
    return {"hooks.example": ["93.184.216.34"], "v6.example": ["2606:2800:220:1::1"],
            "inside.example": ["10.20.30.40"], "mixed.example": ["93.184.216.34", "::1"],
            "meta.example": ["169.254.169.254"]}.get(host, [])


@pytest.mark.parametrize("url, rule", [
    ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
    ("http://127.8.9.10:8080/", "loopback"),
    ("http://10.0.0.1/", "private"), ("http://172.16.5.4/", "private"),
    ("http://192.168.0.1/", "private"), ("http://100.64.0.1/", "not a public address"),
    ("http://169.254.10.10/", "link-local"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://100.100.100.200/", "metadata"),  # Alibaba Cloud's
    ("http://0.0.0.0/", "unspecified"), ("http://224.0.0.1/", "multicast"),
    ("http://[::1]/", "loopback"), ("http://[::]/", "unspecified"),
    ("http://[fe80::1]/", "link-local"), ("http://[fc00::1]/", "private"),
    ("http://[fd00:ec2::254]/", "metadata"),
    # IPv4 inside IPv6 is judged as the IPv4 address it carries.
    ("http://[::ffff:127.0.0.1]/", "loopback"), ("http://[::ffff:7f00:1]/", "loopback"),
    ("http://[::ffff:169.254.169.254]/", "metadata"), ("http://[::ffff:10.0.0.1]/", "private"),
    ("http://[64:ff9b::a9fe:a9fe]/", "metadata"), ("http://[2002:7f00:1::]/", "loopback"),
    # Other ways of writing a number are refused before anything resolves them.
    ("http://2130706433/", "four decimal parts"), ("http://0x7f000001/", "four decimal parts"),
    ("http://0177.0.0.1/", "four decimal parts"), ("http://127.1/", "four decimal parts"),
    ("http://0x7f.0.0.1/", "four decimal parts"), ("http://017700000001/", "four decimal"),
    ("http://[fe80::1%25eth0]/", "zone"),
    # Credentials in the URL, in any form.
    ("http://user:secret@hooks.example/", "user name or password"),
    ("http://user@hooks.example/", "user name or password"),
    ("http://:secret@hooks.example/", "user name or password"),
    # Names: every address they resolve to counts.
    ("http://inside.example/", "resolves to 10.20.30.40, a private address"),
    ("http://mixed.example/", "resolves to ::1, a loopback address"),
    ("http://meta.example/", "metadata"), ("http://nowhere.example/", "does not resolve"),
    ("ftp://hooks.example/", "http or https"), ("http://hooks.example:0/", "port 0"),
])
def test_what_no_webhook_may_reach(url, rule):
    with pytest.raises((TargetRefused, OSError), match=rule):
        TargetPolicy((), public).vet(url)


@pytest.mark.parametrize("url", [
    "http://hooks.example/", "https://hooks.example:8443/in?token=abc", "http://8.8.8.8/",
    "http://[2606:2800:220:1::1]/", "http://v6.example/", "http://[::ffff:8.8.8.8]/",
])
def test_public_addresses_are_reachable(url):
    assert TargetPolicy((), public).vet(url)


def test_a_listed_network_is_reachable_but_a_metadata_address_never_is():
    rules = TargetPolicy(parse_networks("127.0.0.0/8, 10.0.0.0/8, 169.254.0.0/16, ::1/128"),
                         public)
    for url in ("http://127.0.0.1:9000/", "http://[::ffff:127.0.0.1]/", "http://[::1]/",
                "http://inside.example/", "http://169.254.10.10/"):
        assert rules.vet(url), url
    for url in ("http://169.254.169.254/", "http://meta.example/",
                "http://[::ffff:169.254.169.254]/", "http://192.168.1.1/"):
        with pytest.raises(TargetRefused):
            rules.vet(url)


def test_a_malformed_allowed_network_stops_the_service_from_starting():
    with pytest.raises(ValueError, match="ZHIDU_WEBHOOK_ALLOWED_NETWORKS: '10.0.0.1/8'"):
        load_rules({"ZHIDU_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,10.0.0.1/8"})
    with pytest.raises(ValueError, match="not a network"):
        parse_networks("localhost")
    assert parse_networks(" 127.0.0.0/8 , ,fd00::/8") == (
        ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


# -- the key that seals secrets --------------------------------------------------------------
def test_without_a_key_a_service_refuses_to_start_and_never_makes_one(tmp_path, monkeypatch):
    monkeypatch.delenv("ZHIDU_SECRET_KEY", raising=False)
    with pytest.raises(SecretKeyError, match="ZHIDU_SECRET_KEY is not set"):
        SecretBox.from_config({"ZHIDU_KEY_DIR": str(tmp_path)})
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SecretKeyError, match="Fernet key"):
        SecretBox.from_config({"ZHIDU_SECRET_KEY": "not-a-key"})


def test_make_run_and_the_tests_make_a_key_file_once_readable_by_its_owner_only(tmp_path):
    path = ensure_key_file(tmp_path / "keys")
    first = path.read_bytes()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert ensure_key_file(tmp_path / "keys").read_bytes() == first
    box = SecretBox.from_config({"ZHIDU_KEY_DIR": str(tmp_path / "keys")})
    assert box.open(box.seal("s" * 20)) == "s" * 20
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["secrets.key"]


def test_a_new_key_listed_first_seals_and_the_old_one_still_opens():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = SecretBox.from_config({"ZHIDU_SECRET_KEY": old}).seal("the secret")
    assert "the secret" not in sealed
    both = SecretBox.from_config({"ZHIDU_SECRET_KEY": f"{new}, {old}"})
    assert both.open(sealed) == "the secret" and not both.is_current(sealed)
    resealed = both.reseal(sealed)
    assert both.is_current(resealed)
    assert SecretBox.from_config({"ZHIDU_SECRET_KEY": new}).open(resealed) == "the secret"
    with pytest.raises(InvalidToken):
        SecretBox.from_config({"ZHIDU_SECRET_KEY": new}).open(sealed)


# -- a real receiver ------------------------------------------------------------------------
class Receiver:
    """Records each POST; answers 200, or the status and body a test sets."""

    def __init__(self, tls=None):
        self.received, self.status, self.body = [], 200, b"ok"
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append({"path": self.path, "headers": dict(self.headers),
                                          "body": body})
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    rec = Receiver()
    yield rec
    rec.close()


def senders(names=None, allowed=LOOPBACK, seconds=2.0, **config):
    """Senders whose rules resolve ``names`` (host → addresses) and nothing else."""
    names = names or {}

    def resolve(host, port):
        return names.get(host, [])
    settings = ChannelSettings.from_config(config)
    return Senders(settings, smtp_timeout=seconds, http_timeout=seconds,
                   webhook_seconds=seconds, targets=TargetPolicy(allowed, resolve))


def delivery(url, body='{"id":"EV1"}'):
    return {"_id": "D1", "channel": "webhook", "event_id": "EV1",
            "event_type": "penalties.penalty_issued", "target": url,
            "message": {"body": body}}


def test_a_delivery_goes_to_the_address_checked_and_carries_both_signatures(receiver):
    out = senders({"hooks.example": ["127.0.0.1"]})
    before = int(time.time())
    outcome = out.send(delivery(f"http://hooks.example:{receiver.port}/in?x=1"),
                       ["new-secret-0123456789", "old-secret-0123456789"])
    assert outcome.ok and outcome.status == 200 and outcome.seconds is not None
    [post] = receiver.received
    assert post["path"] == "/in?x=1"
    assert post["headers"]["Host"] == f"hooks.example:{receiver.port}"
    header = post["headers"]["X-Zhidu-Signature"]
    timestamp, signatures = parse(header)
    assert before <= timestamp <= time.time() and len(signatures) == 2
    assert verify("new-secret-0123456789", post["body"], header)
    assert verify("old-secret-0123456789", post["body"], header)
    assert not verify("new-secret-0123456789", post["body"] + b" ", header)


def test_the_log_keeps_the_status_and_the_time_never_the_reply(receiver):
    receiver.status, receiver.body = 500, b"Traceback: db password is hunter2"
    outcome = senders().send(delivery(f"http://127.0.0.1:{receiver.port}/"), ["s" * 20])
    record = outcome.attempt(at="now")
    assert record["status"] == 500 and record["error"] == "HTTP 500"
    assert isinstance(record["ms"], int) and "hunter2" not in json.dumps(record)


def test_a_name_re_pointed_inside_after_registration_is_refused_at_delivery(receiver):
    """DNS rebinding: public when registered, loopback when delivered."""
    answers_now = {"hooks.example": ["93.184.216.34"]}
    rules = TargetPolicy((), lambda host, port: answers_now.get(host, []))
    url = f"http://hooks.example:{receiver.port}/"
    rules.vet(url)
    answers_now["hooks.example"] = ["127.0.0.1"]
    out = Senders(ChannelSettings.from_config({}), 2, 2, 2, rules)
    outcome = out.send(delivery(url), ["s" * 20])
    assert not outcome.ok and outcome.final
    assert "resolves to 127.0.0.1, a loopback address" in outcome.error
    assert receiver.received == []


def test_a_redirect_is_not_followed(receiver):
    receiver.status = 307
    outcome = senders().send(delivery(f"http://127.0.0.1:{receiver.port}/"), ["s" * 20])
    assert not outcome.ok and outcome.status == 307 and len(receiver.received) == 1


class SlowTarget:
    """Accepts connections and answers nothing (``drip=False``) or a byte at a time."""

    def __init__(self, drip=False):
        self.listener = eventlet.listen(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.drip, self.held, self.holding = drip, [], []
        self.thread = eventlet.spawn(self._serve)

    def _serve(self):
        while True:
            conn, _ = self.listener.accept()
            self.held.append(conn)
            self.holding.append(eventlet.spawn(self._hold, conn))

    def _hold(self, conn):
        try:
            conn.recv(65536)
            if self.drip:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while True:
                    conn.sendall(b"X")
                    eventlet.sleep(0.1)
            eventlet.sleep(60)
        except OSError:
            pass

    def close(self):
        for thread in (self.thread, *self.holding):
            thread.kill()
        for conn in self.held:
            conn.close()
        self.listener.close()


@pytest.mark.parametrize("drip", [False, True], ids=["silent", "dripping"])
def test_a_target_that_hangs_or_drips_costs_one_deadline_at_most(drip):
    target = SlowTarget(drip)
    try:
        started = time.monotonic()
        outcome = senders(seconds=0.5).send(delivery(f"http://127.0.0.1:{target.port}/"),
                                            ["s" * 20])
        took = time.monotonic() - started
    finally:
        target.close()
    assert not outcome.ok and outcome.unanswered and not outcome.final
    assert outcome.error == "no reply within 0.5 s"
    assert 0.5 <= took < 2.0


# -- TLS: the name checked is the URL's, on the connection to the checked address ------------
@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


def test_https_to_the_checked_address_verifies_the_certificate_of_the_name(ca, tmp_path):
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("hooks.example").configure_cert(server_tls)
    rec = Receiver(tls=server_tls)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    url = f"https://hooks.example:{rec.port}/tls"
    names = {"hooks.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]}
    try:
        trusted = senders(names, ZHIDU_WEBHOOK_CA_FILE=str(ca_file))
        assert trusted.send(delivery(url), ["s" * 20]).ok
        # The usual CAs do not know this one; nor does the certificate name another host.
        refused = senders(names).send(delivery(url), ["s" * 20])
        assert not refused.ok and "CERTIFICATE_VERIFY_FAILED" in refused.error
        wrong = trusted.send(delivery(f"https://other.example:{rec.port}/"), ["s" * 20])
        assert not wrong.ok and "other.example" in wrong.error
    finally:
        rec.close()
    assert [r["path"] for r in rec.received] == ["/tls"]


# -- SMTP STARTTLS -----------------------------------------------------------------------------
SMTP_SERVER = r'''
import asyncio, ssl, sys, uuid
from pathlib import Path
from aiosmtpd.controller import Controller

class Keep:
    async def handle_DATA(self, server, session, envelope):
        (Path(sys.argv[2]) / f"{uuid.uuid4().hex}.eml").write_bytes(envelope.content)
        return "250 OK"

tls = None
if sys.argv[3] != "-":
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(sys.argv[3])
controller = Controller(Keep(), hostname="127.0.0.1", port=int(sys.argv[1]), tls_context=tls,
                        require_starttls=tls is not None)
controller.start()
asyncio.new_event_loop().run_forever()
'''


@pytest.fixture
def smtp_server(tmp_path):
    """aiosmtpd in its own process (as tests/smtp.py runs it), with STARTTLS when given
    a certificate file."""
    started = []

    def start(cert_file=None):
        port, mail = free_port(), tmp_path / f"mail-{len(started)}"
        mail.mkdir()
        proc = subprocess.Popen([sys.executable, "-c", SMTP_SERVER, str(port), str(mail),
                                 str(cert_file) if cert_file else "-"])
        started.append(proc)
        wait_for(lambda: answers("127.0.0.1", port, 0.2), 20, message="SMTP server")
        return port, mail
    yield start
    for proc in started:
        proc.kill()
        proc.wait(10)


def mail():
    return {"_id": "D2", "channel": "email", "event_id": "EV2", "target": "li@example.com",
            "message": {"subject": "奖罚通知单", "body": "正文"}}


def test_starttls_verifies_the_servers_certificate(ca, tmp_path, smtp_server):
    cert = tmp_path / "smtp.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(cert))
    port, box = smtp_server(cert)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    config = {"ZHIDU_SMTP_HOST": "127.0.0.1", "ZHIDU_SMTP_PORT": str(port),
              "ZHIDU_SMTP_STARTTLS": "true"}
    # A certificate from a CA the system does not trust: refused, nothing sent.
    refused = senders(**config).send(mail())
    assert not refused.ok and "CERTIFICATE_VERIFY_FAILED" in refused.error
    assert list(box.iterdir()) == []
    # The company's CA configured: sent, encrypted.
    sent = senders(ZHIDU_SMTP_CA_FILE=str(ca_file), **config).send(mail())
    assert sent.ok and sent.status == 250
    assert len(list(box.iterdir())) == 1


def test_starttls_required_but_not_offered_sends_nothing(ca, tmp_path, smtp_server):
    port, box = smtp_server()  # no STARTTLS
    config = {"ZHIDU_SMTP_HOST": "127.0.0.1", "ZHIDU_SMTP_PORT": str(port),
              "ZHIDU_SMTP_STARTTLS": "true"}
    outcome = senders(**config).send(mail())
    assert not outcome.ok and "STARTTLS" in outcome.error
    assert list(box.iterdir()) == []


def test_a_ca_file_that_cannot_be_read_stops_the_service_from_starting(tmp_path):
    with pytest.raises(ValueError, match="ZHIDU_SMTP_CA_FILE"):
        senders(ZHIDU_SMTP_HOST="mail.example", ZHIDU_SMTP_STARTTLS="true",
                ZHIDU_SMTP_CA_FILE=str(tmp_path / "missing.pem"))


def test_the_slow_target_fixture_really_holds_the_connection():
    target = SlowTarget()
    try:
        with socket.create_connection(("127.0.0.1", target.port), timeout=1) as conn:
            conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n")
            conn.settimeout(0.3)
            with pytest.raises(socket.timeout):
                conn.recv(1)
    finally:
        target.close()


def test_the_readmes_recipe_accepts_our_signatures_and_refuses_old_or_forged_ones():
    from notifications.signing import sign

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    start = readme.index("  import hashlib, hmac, time")
    code = textwrap.dedent(readme[start:readme.index("```", start)])
    recipe = {}
    exec(code, recipe)  # noqa: S102 - the README's own example, run as a receiver would
    verify_ = recipe["verify"]
    body = b'{"id":"EV1","type":"penalties.penalty_issued"}'
    header = sign(["new-secret-0123456789", "old-secret-0123456789"], body)
    assert verify_("new-secret-0123456789", body, header)
    assert verify_("old-secret-0123456789", body, header)
    assert not verify_("another-secret-012345", body, header)
    assert not verify_("new-secret-0123456789", body + b" ", header)
    stale = sign("new-secret-0123456789", body, timestamp=int(time.time()) - 301)
    assert not verify_("new-secret-0123456789", body, stale)
