"""Sending one notification over the wire: webhooks (urllib) and e-mail (smtplib). No SQL here.

The outbox (``outbox.py``) decides what to send, when, and records every attempt; this module only turns a
:class:`Message` into an HTTP request or an e-mail and reports a :class:`SendResult`. It lives in
``queries/ops`` beside the outbox because delivery is an operation the jobs run, and ``queries`` may not
import ``jobs`` (docs/alerts.md, "Where the code is").

Secrets (webhook URLs, signing secrets, SMTP passwords) are arguments here and nothing else: errors are built
from the failure's kind and status, and :func:`scrub` removes any secret that a library might still have put
in a message before it is returned, recorded or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import http.client
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-VenuePulse-Signature"
DELIVERY_HEADER = "X-VenuePulse-Delivery"
USER_AGENT = "VenuePulse-Alerts/1"
DEFAULT_TIMEOUT_S = 10.0
# HTTP answers that reject this very message: sending the same bytes again cannot succeed
PERMANENT_HTTP = frozenset({400, 413, 415, 422})
WEBHOOK_FORMATS = ("json", "slack")
TLS_MODES = ("starttls", "tls", "none")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # e.g. text/csv
    content: bytes


@dataclass(frozen=True)
class Message:
    """What a notification says, independent of the channel.

    ``key`` is the idempotency key (the receiver's way to drop a repeat); ``data`` is the JSON body's content
    for webhooks; ``to`` replaces an e-mail channel's recipients (a report to one owner).
    """

    key: str
    title: str
    text: str
    html: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    to: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()

    @classmethod
    def from_payload(cls, key: str, payload: Mapping[str, Any]) -> Message:
        """The message stored in an outbox row's ``payload`` (see :meth:`payload`)."""
        atts = tuple(Attachment(a["filename"], a.get("content_type", "application/octet-stream"),
                                a["content"].encode("utf-8")) for a in payload.get("attachments") or ())
        return cls(key, payload.get("title", ""), payload.get("text", ""), payload.get("html", ""),
                   dict(payload.get("data") or {}), tuple(payload.get("to") or ()), atts)

    def payload(self) -> dict[str, Any]:
        """JSON for the outbox (attachments as UTF-8 text: reports attach CSV)."""
        out: dict[str, Any] = {"title": self.title, "text": self.text, "html": self.html, "data": dict(self.data)}
        if self.to:
            out["to"] = list(self.to)
        if self.attachments:
            out["attachments"] = [{"filename": a.filename, "content_type": a.content_type,
                                   "content": a.content.decode("utf-8")} for a in self.attachments]
        return out


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None = None  # HTTP status or SMTP reply code, when there was one
    error: str | None = None
    permanent: bool = False  # retrying the same message cannot help


# -- signing ---------------------------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """The ``X-VenuePulse-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of the body under ``secret``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """A receiver's check of :func:`sign` (constant-time)."""
    return bool(header) and hmac.compare_digest(sign(secret, body), header)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (and a URL's query string, for webhook URLs) replaced by ``***``."""
    for s in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(s, "***")
    return text


def secret_values(secrets: Mapping[str, Any]) -> list[str]:
    """Every string that must never show: the values, and a URL's path and query on their own."""
    out = [v for v in secrets.values() if isinstance(v, str)]
    url = secrets.get("url")
    if isinstance(url, str):
        parts = urlsplit(url)
        out += [p for p in (parts.path, parts.query, parts.password or "") if len(p) > 1]
    return out


# -- webhooks --------------------------------------------------------------------------------------------


def check_webhook_url(url: str) -> str:
    """``url`` when it is an http(s) URL with a host; ValueError saying why not (never echoing it)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with https:// (or http://)")
    if not parts.hostname:
        raise ValueError("has no host")
    return url.strip()


def describe_url(url: str) -> str:
    """What people may see of a webhook URL: scheme, host and port (its path often is the secret)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


def webhook_body(fmt: str, message: Message) -> bytes:
    """The request body: the JSON event, or Slack's ``{"text": ...}`` (Slack ignores the signature)."""
    if fmt == "slack":
        doc: dict[str, Any] = {"text": f"*{message.title}*\n{message.text}".strip()}
    else:
        doc = {"idempotency_key": message.key, "title": message.title, "text": message.text, **message.data}
    return json.dumps(doc, sort_keys=True, default=str, separators=(",", ":")).encode("utf-8")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # a redirected POST would become a GET without the body: report the 3xx instead
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def send_webhook(settings: Mapping[str, Any], secrets: Mapping[str, Any], message: Message) -> SendResult:
    body = webhook_body(settings.get("format", "json"), message)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, DELIVERY_HEADER: message.key}
    if secrets.get("signing_secret"):
        headers[SIGNATURE_HEADER] = sign(secrets["signing_secret"], body)
    request = urllib.request.Request(secrets["url"], data=body, headers=headers, method="POST")
    timeout = float(settings.get("timeout_s") or DEFAULT_TIMEOUT_S)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(65536)
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return SendResult(False, exc.code, f"HTTP {exc.code} {exc.reason}", permanent=exc.code in PERMANENT_HTTP)
    except urllib.error.URLError as exc:
        return SendResult(False, None, f"could not connect: {_reason(exc.reason)}")
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        return SendResult(False, None, f"{type(exc).__name__}: {_reason(exc)}")
    if 200 <= status < 300:
        return SendResult(True, status)
    return SendResult(False, status, f"HTTP {status}", permanent=status in PERMANENT_HTTP)


def _reason(exc: Any) -> str:
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# -- e-mail ----------------------------------------------------------------------------------------------


def message_id(key: str) -> str:
    """The same Message-ID for every attempt of one notification, so a repeat is recognisable."""
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@venuepulse.alerts>"


def email_message(settings: Mapping[str, Any], message: Message) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = message.title
    msg["From"] = settings["from"]
    msg["To"] = ", ".join(message.to or settings.get("to") or ())
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id(message.key)
    msg[DELIVERY_HEADER] = message.key
    msg.set_content(message.text)
    msg.add_alternative(message.html or f"<pre>{html.escape(message.text)}</pre>", subtype="html")
    for a in message.attachments:
        maintype, _, subtype = a.content_type.partition("/")
        msg.add_attachment(a.content, maintype=maintype, subtype=subtype or "octet-stream", filename=a.filename)
    return msg


def send_email(settings: Mapping[str, Any], secrets: Mapping[str, Any], message: Message) -> SendResult:
    host, port = settings["host"], int(settings["port"])
    tls = settings.get("tls", "starttls")
    timeout = float(settings.get("timeout_s") or DEFAULT_TIMEOUT_S)
    context = ssl.create_default_context(cafile=settings.get("ca_file") or None)
    msg = email_message(settings, message)
    try:
        if tls == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if tls == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.get("username"):
                smtp.login(settings["username"], secrets.get("password") or "")
            smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        return SendResult(False, codes[0] if codes else None, "every recipient was refused",
                          permanent=all(c >= 500 for c in codes))
    except smtplib.SMTPResponseException as exc:
        what = "authentication failed" if isinstance(exc, smtplib.SMTPAuthenticationError) else "refused"
        permanent = exc.smtp_code >= 500 and isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPDataError)
        return SendResult(False, exc.smtp_code, f"SMTP {exc.smtp_code} {what}", permanent=permanent)
    except smtplib.SMTPNotSupportedError as exc:
        return SendResult(False, None, f"SMTP server does not support it: {exc}")
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        return SendResult(False, None, f"{type(exc).__name__}: {_reason(exc)}")
    return SendResult(True, 250)


# -- dispatch --------------------------------------------------------------------------------------------

SENDERS = {"webhook": send_webhook, "email": send_email}


def send(kind: str, settings: Mapping[str, Any], secrets: Mapping[str, Any], message: Message) -> SendResult:
    """Send ``message`` on a channel of ``kind``; never raises for a delivery failure, and no returned error
    holds a secret."""
    try:
        result = SENDERS[kind](settings, secrets, message)
    except Exception as exc:  # a bug or an unexpected library error: a failed attempt, not a crashed job
        result = SendResult(False, None, f"{type(exc).__name__}: {exc}")
    if result.error:
        result = SendResult(result.ok, result.status_code, scrub(result.error, secret_values(secrets)),
                            result.permanent)
    return result
