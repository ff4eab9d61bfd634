"""What a Twilio webhook form may hold, beyond a valid signature.

Twilio's signature is over the URL and every name and value joined with no separator, so a
captured, signed form can be re-cut without the token: ``MessageSid=SM…`` followed by
``NumMedia=0`` signs exactly like ``MessageSid=SM…NumMedia0`` with no NumMedia — a new
MessageSid, and so a new message, replies and permanent ledger entries. Such a re-cut always
changes a value's shape or a name, so every SID is held to Twilio's exact shape, names that
repeat or that embed a name we read are refused, and the account must be ours. Parameters
Twilio adds in future, whatever they are called, still pass unless they embed a name we read.
"""

from __future__ import annotations

import re

from werkzeug.datastructures import MultiDict

from bot.messaging.sids import ACCOUNT_SID, MESSAGE_SID, SERVICE_SID

# The names we read; a name that contains one of them but is not a known Twilio parameter
# (e.g. "MessageSidNumMedia") is what a re-cut form looks like.
READ = ("MessageSid", "SmsMessageSid", "SmsSid", "AccountSid", "From", "To", "Body", "NumMedia")
KNOWN = frozenset(
    {
        *READ,
        "MessagingServiceSid",
        "NumSegments",
        "SmsStatus",
        "MessageStatus",
        "ApiVersion",
        "FromCity",
        "FromState",
        "FromZip",
        "FromCountry",
        "ToCity",
        "ToState",
        "ToZip",
        "ToCountry",
        "ProfileName",
        "WaId",
        "Forwarded",
        "FrequentlyForwarded",
        "ButtonText",
        "ButtonPayload",
        "ReferralBody",
        "ReferralHeadline",
        "ReferralNumMedia",
        "ReferralMediaUrl",
        "ReferralMediaContentType",
        "ReferralMediaId",
        "ReferralSourceId",
        "ReferralSourceType",
        "ReferralSourceUrl",
        "ReferralCtwaClid",
        "OriginalRepliedMessageSender",
        "OriginalRepliedMessageSid",
        "ChannelMetadata",
        "MessageType",
        "Latitude",
        "Longitude",
        "Address",
        "Label",
        "ErrorCode",
        "ErrorMessage",
        "RawDlrDoneDate",
        "ChannelInstallSid",
        "ChannelStatusMessage",
        "ChannelPrefix",
        "EventType",
    }
)
_MEDIA = re.compile(r"Media(Url|ContentType)(0|[1-9][0-9]?)")
_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_COUNT = re.compile(r"0|[1-9][0-9]{0,2}")


class FormRefused(ValueError):
    """Why the form is refused; ``status`` is the HTTP answer (400 shape, 403 account)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def check(form: MultiDict, account_sid: str | None) -> None:
    """Raise FormRefused unless ``form`` is shaped as Twilio sends it (for our account)."""
    for name in form:
        if len(form.getlist(name)) > 1:
            raise FormRefused(f"parameter {name[:40]!r} is repeated")
        if not _NAME.fullmatch(name):
            raise FormRefused("a parameter name is not one Twilio sends")
        if name not in KNOWN and not _MEDIA.fullmatch(name) and any(r in name for r in READ):
            raise FormRefused(f"unexpected parameter {name!r}")
    sids = {form[n] for n in ("MessageSid", "SmsMessageSid", "SmsSid") if n in form}
    if not sids or any(not MESSAGE_SID.fullmatch(sid) for sid in sids):
        raise FormRefused("MessageSid is missing or malformed")
    if len(sids) > 1:
        raise FormRefused("MessageSid, SmsMessageSid and SmsSid disagree")
    account = form.get("AccountSid", "")
    if not ACCOUNT_SID.fullmatch(account):
        raise FormRefused("AccountSid is missing or malformed")
    if account_sid and account != account_sid:
        raise FormRefused("AccountSid is not this bot's account", status=403)
    service = form.get("MessagingServiceSid")
    if service is not None and not SERVICE_SID.fullmatch(service):
        raise FormRefused("MessagingServiceSid is malformed")
    for name in ("NumMedia", "NumSegments"):
        if name in form and not _COUNT.fullmatch(form[name]):
            raise FormRefused(f"{name} must be a small whole number")
