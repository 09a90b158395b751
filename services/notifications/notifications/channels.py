"""The outbound channels: SMTP e-mail, signed webhooks, SMS and chat webhooks.

Each send is one attempt that reports an :class:`Outcome` and never raises:
the caller logs the attempt and schedules the next one. Under eventlet both
smtplib and requests run on monkey-patched sockets, so a slow server only
parks its own green thread — and every call has a timeout, so it is never
parked for good.
"""
from __future__ import annotations

import json
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

import requests
from zhidu.config import setting

from .signing import HEADER as SIGNATURE_HEADER
from .signing import sign


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None = None  # HTTP status or SMTP reply code, when there was one
    error: str | None = None
    final: bool = False  # no retry can help (the subscription is gone)

    def attempt(self, at) -> dict:
        record = {"at": at, "ok": self.ok}
        if self.status is not None:
            record["status"] = self.status
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
        )


class Senders:
    def __init__(self, settings: ChannelSettings, smtp_timeout: float, http_timeout: float):
        self.settings = settings
        self.smtp_timeout = smtp_timeout
        self.http_timeout = http_timeout
        self.http = requests.Session()

    def close(self) -> None:
        self.http.close()

    def send(self, delivery: dict, secret: str | None = None) -> Outcome:
        channel = delivery["channel"]
        try:
            if channel == "email":
                return self.email(delivery)
            if channel == "webhook":
                return self.webhook(delivery, secret)
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
        try:
            with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=self.smtp_timeout) as smtp:
                if cfg.smtp_starttls:
                    smtp.starttls()
                if cfg.smtp_user:
                    smtp.login(cfg.smtp_user, cfg.smtp_password or "")
                refused = smtp.send_message(msg)
        except smtplib.SMTPResponseException as exc:
            return Outcome(False, status=exc.smtp_code, error=_smtp_error(exc))
        except (smtplib.SMTPException, OSError) as exc:
            return Outcome(False, error=f"{type(exc).__name__}: {exc}")
        if refused:
            return Outcome(False, error=f"refused: {refused}")
        return Outcome(True, status=250)

    def webhook(self, delivery: dict, secret: str | None) -> Outcome:
        if secret is None:
            return Outcome(False, error="subscription no longer exists", final=True)
        body = delivery["message"]["body"].encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(secret, body),
            "X-Zhidu-Event-Id": delivery["event_id"],
            "X-Zhidu-Event-Type": delivery["event_type"],
            "X-Zhidu-Delivery-Id": delivery["_id"],
            "User-Agent": "zhidu-notifications",
        }
        return self._post(delivery["target"], body, headers)

    def _post_json(self, url: str | None, payload: dict) -> Outcome:
        if not url:
            return Outcome(False, error="webhook URL is not set")
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return self._post(url, body, {"Content-Type": "application/json; charset=utf-8"})

    def _post(self, url: str, body: bytes, headers: dict) -> Outcome:
        try:
            reply = self.http.post(url, data=body, headers=headers, timeout=self.http_timeout,
                                   allow_redirects=False)
        except requests.RequestException as exc:
            return Outcome(False, error=f"{type(exc).__name__}: {exc}")
        if 200 <= reply.status_code < 300:
            return Outcome(True, status=reply.status_code)
        return Outcome(False, status=reply.status_code,
                       error=f"HTTP {reply.status_code}: {reply.text[:200]}")


def _text(delivery: dict) -> str:
    message = delivery["message"]
    return f"{message['subject']}\n{message['body']}"


def _smtp_error(exc: smtplib.SMTPResponseException) -> str:
    detail = exc.smtp_error
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    return f"SMTP {exc.smtp_code}: {detail}"
