"""The outbound channels: SMTP e-mail, signed webhooks, SMS and chat webhooks.

Each send is one attempt that reports an :class:`Outcome` and never raises:
the caller logs the attempt and schedules the next one. Under eventlet
smtplib, requests and urllib3 run on monkey-patched sockets, so a slow server
only parks its own green thread — and every call has a timeout, so it is
never parked for good. A webhook attempt has one deadline for the whole of
it, since a target dripping a byte at a time would outlast any per-read
timeout.

What an attempt leaves in the delivery log is its status and how long it
took, never what the other side answered: a reply body is the receiver's,
and may hold anything.
"""
from __future__ import annotations

import json
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage

import certifi
import eventlet
import requests
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error
from zhidu.config import setting

from .signing import HEADER as SIGNATURE_HEADER
from .signing import sign
from .targets import SETTING as NETWORKS_SETTING
from .targets import TargetPolicy, TargetRefused, Unresolved, parse_networks


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None = None  # HTTP status or SMTP reply code, when there was one
    error: str | None = None
    final: bool = False  # no retry can help (the subscription is gone)
    seconds: float | None = None  # how long the attempt took
    # The target did not answer at all (no connection, or no reply in time):
    # its other deliveries wait for the next sweep rather than queue behind it.
    unanswered: bool = False

    def attempt(self, at) -> dict:
        record = {"at": at, "ok": self.ok}
        if self.status is not None:
            record["status"] = self.status
        if self.seconds is not None:
            record["ms"] = round(self.seconds * 1000)
        if self.error:
            record["error"] = self.error[:500]
        return record


@dataclass(frozen=True)
class ChannelSettings:
    smtp_host: str | None
    smtp_port: int
    smtp_from: str
    smtp_user: str | None
    smtp_password: str | None
    smtp_starttls: bool
    sms_url: str | None
    chat_url: str | None
    # Trust these CA bundles instead of the usual ones (a company's private CA).
    smtp_ca_file: str | None = None
    webhook_ca_file: str | None = None
    webhook_networks: tuple = ()

    @classmethod
    def from_config(cls, config) -> ChannelSettings:
        return cls(
            smtp_host=setting(config, "ZHIDU_SMTP_HOST") or None,
            smtp_port=int(setting(config, "ZHIDU_SMTP_PORT", "25")),
            smtp_from=setting(config, "ZHIDU_SMTP_FROM", "zhidu@localhost"),
            smtp_user=setting(config, "ZHIDU_SMTP_USER") or None,
            smtp_password=setting(config, "ZHIDU_SMTP_PASSWORD") or None,
            smtp_starttls=str(setting(config, "ZHIDU_SMTP_STARTTLS", "false")).lower()
            in ("1", "true", "yes"),
            sms_url=setting(config, "ZHIDU_SMS_WEBHOOK_URL") or None,
            chat_url=setting(config, "ZHIDU_CHAT_WEBHOOK_URL") or None,
            smtp_ca_file=setting(config, "ZHIDU_SMTP_CA_FILE") or None,
            webhook_ca_file=setting(config, "ZHIDU_WEBHOOK_CA_FILE") or None,
            webhook_networks=parse_networks(setting(config, NETWORKS_SETTING, "")),
        )


def tls_context(ca_file: str | None, setting_name: str) -> ssl.SSLContext:
    """Certificates verified and the host name checked; a CA file that cannot be
    read stops start-up."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"{setting_name}: cannot use {ca_file}: {exc}") from None


class Senders:
    def __init__(self, settings: ChannelSettings, smtp_timeout: float, http_timeout: float,
                 webhook_seconds: float | None = None, targets: TargetPolicy | None = None):
        self.settings = settings
        self.smtp_timeout = smtp_timeout
        self.http_timeout = http_timeout
        self.webhook_seconds = webhook_seconds or http_timeout
        self.targets = targets or TargetPolicy(settings.webhook_networks)
        self.smtp_tls = tls_context(settings.smtp_ca_file, "ZHIDU_SMTP_CA_FILE") \
            if settings.smtp_starttls else None
        self.webhook_tls = tls_context(settings.webhook_ca_file or certifi.where(),
                                       "ZHIDU_WEBHOOK_CA_FILE")
        self.http = requests.Session()

    def close(self) -> None:
        self.http.close()

    def send(self, delivery: dict, secrets: list[str] | None = None) -> Outcome:
        channel = delivery["channel"]
        try:
            if channel == "email":
                return self.email(delivery)
            if channel == "webhook":
                return self.webhook(delivery, secrets)
            if channel == "sms":
                return self._post_json(self.settings.sms_url, {
                    "to": delivery["target"], "text": _text(delivery),
                    "event_id": delivery["event_id"], "delivery_id": delivery["_id"]})
            if channel == "chat":
                # WeCom/DingTalk-style bot: text, with the person @-mentioned by phone.
                mention = [delivery["target"]] if delivery.get("target") else []
                return self._post_json(self.settings.chat_url, {
                    "msgtype": "text", "text": {"content": _text(delivery),
                                                "mentioned_mobile_list": mention}})
            return Outcome(False, error=f"unknown channel {channel!r}")
        except Exception as exc:  # one attempt's failure, whatever it was
            return Outcome(False, error=f"{type(exc).__name__}: {exc}")

    def email(self, delivery: dict) -> Outcome:
        cfg = self.settings
        if not cfg.smtp_host:
            return Outcome(False, error="ZHIDU_SMTP_HOST is not set")
        msg = EmailMessage()
        msg["Subject"] = delivery["message"]["subject"]
        msg["From"] = cfg.smtp_from
        msg["To"] = delivery["target"]
        # One Message-ID per delivery: a retry after a lost reply is
        # recognisable as the same mail.
        msg["Message-ID"] = f"<{delivery['_id']}@zhidu>"
        msg["X-Zhidu-Event-Id"] = delivery["event_id"]
        msg.set_content(delivery["message"]["body"])
        started = time.monotonic()
        try:
            with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=self.smtp_timeout) as smtp:
                if self.smtp_tls is not None:
                    # Refused when the server does not offer it: never a silent plain send.
                    smtp.starttls(context=self.smtp_tls)
                if cfg.smtp_user:
                    smtp.login(cfg.smtp_user, cfg.smtp_password or "")
                refused = smtp.send_message(msg)
        except smtplib.SMTPResponseException as exc:
            return Outcome(False, status=exc.smtp_code, error=_smtp_error(exc),
                           seconds=time.monotonic() - started)
        except (smtplib.SMTPException, OSError) as exc:
            return Outcome(False, error=f"{type(exc).__name__}: {exc}",
                           seconds=time.monotonic() - started)
        seconds = time.monotonic() - started
        if refused:
            return Outcome(False, error=f"refused: {refused}", seconds=seconds)
        return Outcome(True, status=250, seconds=seconds)

    def webhook(self, delivery: dict, secrets: list[str] | None) -> Outcome:
        """One signed POST to the address checked just now, all within one deadline."""
        if secrets is None:
            return Outcome(False, error="subscription no longer exists", final=True)
        if not secrets:
            return Outcome(False, error="the subscription's secret could not be opened")
        started = time.monotonic()
        timer = eventlet.Timeout(self.webhook_seconds)
        try:
            target = self.targets.parse(delivery["target"])
            address = self.targets.addresses(target)[0]
            body = delivery["message"]["body"].encode("utf-8")
            headers = {
                "Host": target.host_header,
                "Content-Type": "application/json; charset=utf-8",
                SIGNATURE_HEADER: sign(secrets, body),
                "X-Zhidu-Event-Id": delivery["event_id"],
                "X-Zhidu-Event-Type": delivery["event_type"],
                "X-Zhidu-Delivery-Id": delivery["_id"],
                "User-Agent": "zhidu-notifications",
            }
            status = self._post_to(target, address, body, headers)
        except TargetRefused as exc:
            # The name now points somewhere no webhook may go: no retry will help.
            return Outcome(False, error=f"refused: {exc}", final=True,
                           seconds=time.monotonic() - started)
        except Unresolved as exc:
            return Outcome(False, error=str(exc), seconds=time.monotonic() - started,
                           unanswered=True)
        except eventlet.Timeout as exc:
            if exc is not timer:
                raise
            return Outcome(False, error=f"no reply within {self.webhook_seconds:g} s",
                           seconds=time.monotonic() - started, unanswered=True)
        except (Urllib3Error, OSError) as exc:
            return Outcome(False, error=f"{type(exc).__name__}: {exc}",
                           seconds=time.monotonic() - started, unanswered=True)
        finally:
            timer.cancel()
        seconds = time.monotonic() - started
        if 200 <= status < 300:
            return Outcome(True, status=status, seconds=seconds)
        return Outcome(False, status=status, error=f"HTTP {status}", seconds=seconds)

    def _post_to(self, target, address, body: bytes, headers: dict) -> int:
        """POST to ``address`` itself, speaking to it as ``target.host`` (Host, SNI, the
        certificate's name); the reply's status only, its body unread."""
        timeout = self.webhook_seconds
        if target.scheme == "https":
            conn = HTTPSConnection(str(address), target.port, timeout=timeout,
                                   server_hostname=target.host, assert_hostname=target.host,
                                   ssl_context=self.webhook_tls)
        else:
            conn = HTTPConnection(str(address), target.port, timeout=timeout)
        try:
            conn.request("POST", target.path, body=body, headers=headers)
            return conn.getresponse().status
        finally:
            conn.close()

    def _post_json(self, url: str | None, payload: dict) -> Outcome:
        if not url:
            return Outcome(False, error="webhook URL is not set")
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return self._post(url, body, {"Content-Type": "application/json; charset=utf-8"})

    def _post(self, url: str, body: bytes, headers: dict) -> Outcome:
        started = time.monotonic()
        try:
            with self.http.post(url, data=body, headers=headers, timeout=self.http_timeout,
                                allow_redirects=False, stream=True) as reply:
                status = reply.status_code
        except requests.RequestException as exc:
            return Outcome(False, error=f"{type(exc).__name__}: {exc}",
                           seconds=time.monotonic() - started)
        seconds = time.monotonic() - started
        if 200 <= status < 300:
            return Outcome(True, status=status, seconds=seconds)
        return Outcome(False, status=status, error=f"HTTP {status}", seconds=seconds)


def _text(delivery: dict) -> str:
    message = delivery["message"]
    return f"{message['subject']}\n{message['body']}"


def _smtp_error(exc: smtplib.SMTPResponseException) -> str:
    detail = exc.smtp_error
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    return f"SMTP {exc.smtp_code}: {detail}"
