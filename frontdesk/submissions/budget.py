"""What a flood of posts may cost, decided at intake and in the submission's one script.

- **Auto-replies only for posts from the form page.** A submission flagged ``no_token`` (no
  time-trap token: not from the form page, or no JavaScript) or ``origin_unknown`` (neither
  ``Origin`` nor ``Referer``: curl, an API client) gets no auto-reply: its ``auto_reply`` message is
  ``skipped`` with that flag as ``skip_reason``, no job is queued, and the worker obeys the record.
  Anyone can type a third party's address into a form; only a browser on the form page makes the
  post look like one, and the confirmation is not worth mailing a stranger for.
- **Auto-replies bounded per recipient.** ``FRONTDESK_AUTO_REPLY_PER_ADDRESS_DAY`` (3) per mailbox
  (case-folded, without a ``+tag``, Gmail's dots ignored: :func:`mailbox`) and
  ``FRONTDESK_AUTO_REPLY_PER_DOMAIN_HOUR`` (50) per domain, over every form, in fixed windows
  counted by the submission script. Past either the staff mail still goes; the auto-reply is
  ``skipped`` with ``address_limit`` or ``domain_limit``. Keys hold a hash of the mailbox or
  domain, never the visitor's text. The domain count is shared by everyone at a domain, so a
  flood can spend a large provider's hour: then its visitors get no courtesy auto-reply that hour,
  and their inquiries still reach staff (docs/security.md weighs this).
- **The form's hour in tiers.** Every post counts in the first tier with room: the form's cap
  (``per_form_hour``); for a post from the form page (a valid token and an allowed ``Origin``) its
  own budget (``verified_hour``), still delivered; then the held budget (``held_hour``): stored
  quarantined with reason ``form_cap`` (releasable by staff, answered 201 like any accepted post)
  and counted for the hourly digest (:mod:`worker.digest`). Past every tier: 429.

The submission script (:mod:`frontdesk.submissions.script`) chooses among versions of the record
Python encodes here: the record as built, the held one, and the auto-reply's skipped state spliced
in place of its queued state (an exact byte range of the record: JSON strings escape every ``"``, so
no visitor text can fake the range, and it is located here, not searched for in Lua).
"""

from __future__ import annotations

import hashlib
import time

import msgspec

from frontdesk.settings import Settings
from frontdesk.submissions.definition import FormDefinition
from frontdesk.submissions.keys import held_count_key
from frontdesk.submissions.ratelimit import Limit, Tier
from frontdesk.submissions.record import MessageKind, MessageState, Submission, encoder

# The flags that mean "not from the form page", in the order their reason is recorded.
UNVERIFIED_FLAGS = ("no_token", "origin_unknown")
HELD_REASON = "form_cap"
# How long the hourly count of held submissions is kept for the digest: a worker down for a day
# still reports every hour of it.
HELD_COUNT_TTL = 2 * 86_400
# Recipient bounds in the order the script checks them, and the reason recorded when one is full.
RECIPIENT_REASONS = ("address_limit", "domain_limit")


class Budget(msgspec.Struct, frozen=True, kw_only=True):
    """The submission script's choices besides the hard limits (see
    :data:`frontdesk.submissions.script.SUBMIT_LUA`).

    ``tiers``: the form's hourly tiers (empty: no form limits). ``held_record``: the record stored
    when a ``hold`` tier takes the post (empty: the record as built, already quarantined).
    ``held_key``: the counter of held posts this hour. ``recipients``: the auto-reply's bounds
    (empty: no auto-reply to bound), ``skipped_states`` the auto-reply's state to splice in when
    bound ``i`` is full, at byte ``reply_at`` (length ``reply_length``) of the record, and
    ``reply_job`` the 1-based index of the auto-reply among the record's jobs.
    """

    tiers: list[Tier] = []
    held_record: bytes = b""
    held_key: str = ""
    recipients: list[Limit] = []
    skipped_states: list[bytes] = []
    reply_at: int = 0
    reply_length: int = 0
    reply_job: int = 0


NO_BUDGET = Budget()


def auto_reply_skip(flags: list[str]) -> str | None:
    """Why a submission with ``flags`` gets no auto-reply (its first unverified flag), or ``None``."""
    return next((flag for flag in UNVERIFIED_FLAGS if flag in flags), None)


def skipped(kind: MessageKind, reason: str) -> MessageState:
    """The state of a message decided against at intake."""
    return MessageState(kind=kind, status="skipped", skip_reason=reason)


def queued_messages(
    kinds: list[MessageKind], flags: list[str]
) -> tuple[list[MessageKind], list[MessageState]]:
    """The jobs to queue of a submission that would get ``kinds``, and its message states: the
    auto-reply of a post not from the form page is left out and recorded ``skipped``.
    """
    reason = auto_reply_skip(flags)
    if reason is None or "auto_reply" not in kinds:
        return kinds, [MessageState(kind=k) for k in kinds]
    states = [skipped(k, reason) if k == "auto_reply" else MessageState(kind=k) for k in kinds]
    return [k for k in kinds if k != "auto_reply"], states


def form_tiers(form: FormDefinition, verified: bool) -> list[Tier]:
    """The hourly tiers of a post to ``form``; ``verified``: a valid time-trap token and an
    allowed ``Origin`` (or ``Referer``), and not quarantined for another reason.
    """
    rules = form.spam.rate_limits
    tiers = [Tier(Limit(f"form:{form.id}", rules.per_form_hour, 3600), hold=False)]
    if verified:
        tiers.append(Tier(Limit(f"verified:{form.id}", rules.verified_hour, 3600), hold=False))
    tiers.append(Tier(Limit(f"held:{form.id}", rules.held_hour, 3600), hold=True))
    return tiers


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# Domains whose mailboxes ignore dots in the local part, and the domain each one is counted as.
_DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def mailbox(address: str) -> tuple[str, str]:
    """The mailbox ``address`` reaches, as ``(address, domain)``, case-folded: the bounds count
    this, so the spellings of one mailbox share one count.

    A subaddress (``local+tag``, RFC 5233) is dropped at every domain: the common servers deliver
    it to ``local``, and where one does not, two visitors share a count (fewer auto-replies, never
    more mail). At gmail.com and googlemail.com (one service) dots in the local part are ignored
    too, as Gmail does; elsewhere a dot is part of the name. Quoted local parts are refused at
    intake (:mod:`frontdesk.submissions.emails`), so the last ``@`` splits the address.
    """
    local, _, domain = address.casefold().rpartition("@")
    local = local.partition("+")[0]
    if domain in _DOTLESS_DOMAINS:
        domain = _DOTLESS_DOMAINS[domain]
        local = local.replace(".", "")
    return f"{local}@{domain}", domain


def recipient_limits(settings: Settings, address: str) -> list[Limit]:
    """The auto-reply bounds of ``address``: per :func:`mailbox` a day, per domain an hour."""
    folded, domain = mailbox(address)
    return [
        Limit(f"reply:address:{_digest(folded)}", settings.auto_reply_per_address_day, 86_400),
        Limit(f"reply:domain:{_digest(domain)}", settings.auto_reply_per_domain_hour, 3600),
    ]


def _visitor_address(form: FormDefinition, submission: Submission) -> str | None:
    """The address an auto-reply goes to: the form's first ``email`` field (as the worker's)."""
    field = next((f for f in form.fields if f.type == "email"), None)
    value = submission.fields.get(field.name, "") if field else ""
    return value if "@" in value else None


def plan(
    settings: Settings,
    form: FormDefinition,
    submission: Submission,
    kinds: list[MessageKind],
    record: bytes,
    tiers: list[Tier],
) -> Budget:
    """The :class:`Budget` of ``submission`` (encoded as ``record``, with jobs ``kinds``)."""
    if not tiers and "auto_reply" not in kinds:
        return NO_BUDGET  # rate limits off and no auto-reply: nothing to choose
    held = b""
    if tiers and submission.status != "quarantined":
        held = encoder.encode(
            msgspec.structs.replace(
                submission,
                status="quarantined",
                quarantine_reason=HELD_REASON,
                flags=[*submission.flags, HELD_REASON],
                messages=[],
            )
        )
    budget = Budget(
        tiers=tiers,
        held_record=held,
        held_key=held_count_key(form.id, int(time.time() // 3600)),
    )
    state = submission.message("auto_reply")
    address = _visitor_address(form, submission)
    if "auto_reply" not in kinds or state is None or address is None:
        return budget
    queued = encoder.encode(state)
    at = record.find(queued)
    if at < 0:  # cannot happen: the record holds the state encoded alike
        raise ValueError("the auto-reply's state is not in the encoded record")
    states = [
        encoder.encode(msgspec.structs.replace(state, status="skipped", skip_reason=reason))
        for reason in RECIPIENT_REASONS
    ]
    return msgspec.structs.replace(
        budget,
        recipients=recipient_limits(settings, address),
        skipped_states=states,
        reply_at=at,
        reply_length=len(queued),
        reply_job=kinds.index("auto_reply") + 1,
    )
