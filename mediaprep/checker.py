"""Checking a message against a profile: every problem, not only the first.

Each problem has a stable mediaprep code, the provider's own code where the
profile's source names one, the slide it is on, and a sentence a person can
act on. Warnings (over a "best deliverability" limit, a type that mediaprep
must convert first) are reported but do not make the report fail.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import gsm
from .errors import InputError, UsageError
from .inspection import Inspection, inspect
from .inspection.objects import ObjectFacts
from .message import MediaRef, Message, Slide, load_message, message_from_dict, parse_message
from .profiles import MEDIA_KINDS, Profile, load_profile
from .settings import Settings, resolved_settings
from .wire import estimate_bytes


# Inspection errors, as problems of the slide that holds the file.
_MEDIA_ERROR_CODES = {
    "input.unsupported": "media.unrecognized",
    "input.bomb": "media.bomb",
    "input.too_large": "media.too_large",
    "tool.missing": "media.unchecked",
    "tool.failed": "media.unchecked",
    "tool.timeout": "media.timeout",
}


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    slide: int | None = None
    provider_code: str | None = None
    severity: str = "error"  # or "warning"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Attachment:
    slide: int
    kind: str
    source: str
    bytes: int | None
    mime: str | None
    verdict: str  # accept, convert, reject, unchecked, error


@dataclass(frozen=True)
class Report:
    profile: str
    payload_bytes: int
    estimated_bytes: int
    problems: tuple[Problem, ...] = ()
    attachments: tuple[Attachment, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "profile": self.profile,
            "payload_bytes": self.payload_bytes,
            "estimated_bytes": self.estimated_bytes,
            "problems": [p.to_dict() for p in self.problems],
            "attachments": [asdict(a) for a in self.attachments],
        }


class _Collector:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.problems: list[Problem] = []

    def add(self, code: str, message: str, slide: int | None = None, *, warning: bool = False) -> None:
        self.problems.append(
            Problem(
                code=code,
                message=message,
                slide=slide,
                provider_code=self.profile.provider_codes.get(code),
                severity="warning" if warning else "error",
            )
        )


def check(
    message: Message | dict[str, Any] | bytes | str | Path,
    profile: Profile | str,
    *,
    settings: Settings | None = None,
) -> Report:
    """Check a message (a Message, a dict, its JSON as bytes, or a path to its JSON) against a profile."""
    settings = resolved_settings(settings)
    if isinstance(message, (str, Path)):
        message = load_message(message)
    elif isinstance(message, (bytes, bytearray)):
        message = parse_message(bytes(message))  # a request body, as a sidecar receives it
    elif isinstance(message, dict):
        message = message_from_dict(message)
    elif not isinstance(message, Message):
        raise UsageError(f"a message is a Message, a dict, JSON bytes or a path, not {type(message).__name__}")
    profile = load_profile(profile, settings)
    out = _Collector(profile)
    _check_recipients(message, profile, out)
    _check_slide_count(message, profile, out)
    attachments: list[Attachment] = []
    inspected: dict[Path, Inspection | InputError] = {}
    for number, slide in enumerate(message.slides, 1):
        _check_slide_layout(slide, number, profile, out)
        for ref in slide.media:
            attachments.append(_check_media(ref, number, profile, settings, inspected, out))
    _check_texts(message, profile, out)
    payload = sum(a.bytes or 0 for a in attachments) + _text_bytes(message)
    estimate = estimate_bytes(payload)
    limit = profile.message.max_bytes
    if limit is not None and estimate > limit:
        out.add(
            "message.too_big",
            f"the message would be about {estimate} bytes on the wire ({payload} bytes x 1.37 + 814), "
            f"over the {limit} byte limit of {profile.name}: make the media smaller "
            f"(mediaprep convert --budget) or split it into several messages",
        )
    # Message-wide problems first, then slide by slide; each group keeps the order it was found in.
    problems = sorted(out.problems, key=lambda p: p.slide or 0)
    return Report(profile.name, payload, estimate, tuple(problems), tuple(attachments))


def _check_recipients(message: Message, profile: Profile, out: _Collector) -> None:
    if not message.recipients:
        out.add("recipients.none", "the message has no recipients: add at least one phone number")
    limit = profile.message.max_recipients
    if limit is not None and len(message.recipients) > limit:
        out.add(
            "recipients.too_many",
            f"{len(message.recipients)} recipients, but {profile.name} takes {limit} per send: split the list",
        )


def _check_slide_count(message: Message, profile: Profile, out: _Collector) -> None:
    slides = message.slides
    if not slides and not message.text:
        out.add("slides.none", "the message has no slides and no text: add at least one slide")
    limit = profile.message.max_slides
    if limit is not None and len(slides) > limit:
        out.add(
            "slides.too_many",
            f"{len(slides)} slides, but {profile.name} takes at most {limit}: merge or drop "
            f"{len(slides) - limit} of them",
        )
    media = sum(len(s.media) for s in slides)
    limit = profile.message.max_media
    if limit is not None and media > limit:
        out.add(
            "media.too_many",
            f"{media} media files, but {profile.name} takes at most {limit} in one message: drop "
            f"{media - limit} of them or send them in another message",
        )
    if profile.message.require_media and not any(s.media for s in slides):
        out.add("media.missing", f"{profile.name} sends MMS with a media file: add an image")


def _check_slide_layout(slide: Slide, number: int, profile: Profile, out: _Collector) -> None:
    if not slide.media and not slide.text:
        out.add("slide.empty", f"slide {number} is empty: give it media or text, or remove it", number)
    kinds = slide.kinds
    if profile.message.one_file_per_kind:
        for kind in sorted({k for k in kinds if kinds.count(k) > 1}):
            out.add(
                "slide.kind_repeated",
                f"slide {number} has {kinds.count(kind)} {kind} files; only the first would be sent: "
                f"put each on its own slide",
                number,
            )
    present = set(kinds)
    for mix in profile.slide_mixes:
        left = sorted(present & set(mix.kinds))
        right = sorted(present & set(mix.with_))
        pairs = {tuple(sorted((a, b))) for a in left for b in right if a != b}
        for a, b in sorted(pairs):
            out.add(
                mix.problem,
                f"slide {number} has {a} and {b} together, which {profile.name} does not allow: "
                f"move the {b} to a slide of its own",
                number,
            )


def _check_media(
    ref: MediaRef,
    number: int,
    profile: Profile,
    settings: Settings,
    cache: dict[Path, Inspection | InputError],
    out: _Collector,
) -> Attachment:
    if ref.url is not None:
        return _check_remote(ref, number, profile, out)
    assert ref.path is not None
    try:
        key = ref.path.resolve()
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        key = ref.path
    if key not in cache:
        try:
            cache[key] = inspect(ref.path, settings=settings)
        except InputError as exc:
            cache[key] = exc
    found = cache[key]
    if isinstance(found, InputError):
        out.add("media.unreadable", f"slide {number}: {found.message}", number)
        return Attachment(number, ref.kind, ref.label, None, None, "error")
    info = found
    if info.error is not None:
        code = _MEDIA_ERROR_CODES.get(info.error.code, f"{info.kind}.corrupt")
        if info.kind not in MEDIA_KINDS:
            code = "media.unrecognized"
        out.add(code, f"slide {number}: {info.error.message}", number)
        return Attachment(number, ref.kind, ref.label, info.bytes, info.mime, "error")
    if info.kind != ref.kind:
        out.add(
            "media.wrong_kind",
            f"slide {number}: {ref.label} is given as {ref.kind} but its content is {info.mime} ({info.kind}): "
            f"put it under the right key, or give the right file",
            number,
        )
        return Attachment(number, ref.kind, ref.label, info.bytes, info.mime, "reject")
    if info.extension_mismatch:
        out.add(
            "media.extension_mismatch",
            f"slide {number}: {ref.label} is named .{info.extension} but holds {info.mime}; "
            f"mediaprep stores it as .{_ext(info.mime)}",
            number,
            warning=True,
        )
    if info.kind == "pdf" and info.object is not None:
        _check_pdf(info.object, number, profile, out)
    return _judge(ref, number, info.kind, info.mime, info.bytes, profile, out)


def _check_pdf(facts: ObjectFacts, number: int, profile: Profile, out: _Collector) -> None:
    if facts.encrypted:
        out.add("pdf.encrypted", f"slide {number}: the PDF is encrypted; a phone cannot open it", number)
    rule = profile.rule_for("pdf")
    refused = sorted(set(facts.features) & set(rule.forbid if rule else ()))
    if refused:
        out.add(
            "pdf.active_content",
            f"slide {number}: the PDF holds {', '.join(refused)}, which {profile.name} does not allow: "
            f"export a plain PDF",
            number,
        )
    allowed = sorted(set(facts.features) - set(refused))
    if allowed:
        out.add("pdf.active_content_found", f"slide {number}: the PDF holds {', '.join(allowed)}", number, warning=True)


def _check_remote(ref: MediaRef, number: int, profile: Profile, out: _Collector) -> Attachment:
    if ref.declared_mime is None or ref.declared_bytes is None:
        out.add(
            "media.unchecked",
            f"slide {number}: {ref.url} was not fetched; give its bytes and mime, or a local path, to check it",
            number,
            warning=True,
        )
        return Attachment(number, ref.kind, ref.label, ref.declared_bytes, ref.declared_mime, "unchecked")
    return _judge(ref, number, ref.kind, ref.declared_mime, ref.declared_bytes, profile, out)


def _judge(
    ref: MediaRef, number: int, kind: str, mime: str, size: int, profile: Profile, out: _Collector
) -> Attachment:
    verdict = profile.verdict(kind, mime)
    rule = profile.rule_for(kind)
    if verdict == "reject":
        allowed = ", ".join(sorted({*rule.accept, *rule.convert})) if rule else f"no {kind} at all"
        out.add(
            "media.not_allowed",
            f"slide {number}: {profile.name} does not take {mime}; it takes {allowed}",
            number,
        )
    elif verdict == "convert":
        out.add(
            "media.needs_conversion",
            f"slide {number}: {profile.name} takes {mime} only once converted; run mediaprep convert on {ref.label}",
            number,
            warning=True,
        )
    if rule is not None and rule.max_bytes is not None and size > rule.max_bytes:
        out.add(
            f"{kind}.too_big",
            f"slide {number}: the {kind} is {size} bytes, over {profile.name}'s {rule.max_bytes} byte limit: "
            f"run mediaprep convert --budget {rule.max_bytes}",
            number,
        )
    return Attachment(number, kind, ref.label, size, mime, verdict)


def _check_texts(message: Message, profile: Profile, out: _Collector) -> None:
    rules = profile.text
    if message.text:
        c = gsm.count(message.text)
        limit: int | None
        if rules.counting == "gsm" and rules.body is not None:
            limit = rules.body_unicode if c.encoding == "unicode" and rules.body_unicode else rules.body
            used = c.units
            why = (
                f" because {c.non_gsm[:10]!r} is outside GSM 03.38 and makes it Unicode"
                if c.encoding == "unicode"
                else " in GSM 03.38 units (extension characters count 2)"
            )
        else:
            limit = rules.body if rules.body is not None else rules.slide_text
            used, why = c.characters, ""
        if limit is not None and used > limit:
            out.add(
                "text.too_long",
                f"the text is {used} long{why}; {profile.name} takes {limit}: shorten it by {used - limit}",
            )
    if rules.slide_text is not None:
        for number, slide in enumerate(message.slides, 1):
            if slide.text and len(slide.text) > rules.slide_text:
                out.add(
                    "slide.text_too_long",
                    f"slide {number}: text is {len(slide.text)} characters; {profile.name} takes "
                    f"{rules.slide_text}: shorten it or move some to another slide",
                    number,
                )
    _check_subject(message, profile, out)
    _check_fallback(message, profile, out)


def _check_subject(message: Message, profile: Profile, out: _Collector) -> None:
    rules = profile.text
    subject = message.subject
    if not subject:
        return
    # Infobip calls the subject a title; either limit applies to the same field.
    limits = [(n, v) for n, v in (("subject", rules.subject), ("title", rules.title)) if v is not None]
    for what, limit in limits:
        if len(subject) > limit:
            out.add(
                "subject.too_long",
                f"the {what} is {len(subject)} characters; {profile.name} takes {limit} and would cut the rest",
            )
    recommended = rules.subject_recommended
    ceiling = min((v for _, v in limits), default=len(subject))
    if recommended is not None and recommended < len(subject) <= ceiling:
        out.add(
            "subject.long",
            f"the subject is {len(subject)} characters; {profile.name} advises at most {recommended} "
            f"for best deliverability",
            warning=True,
        )
    if not rules.subject_unicode and not gsm.is_gsm(subject):
        out.add(
            "subject.unicode",
            f"the subject holds {gsm.count(subject).non_gsm!r}; {profile.name} advises no Unicode (emoji) "
            f"in subjects",
            warning=True,
        )


def _check_fallback(message: Message, profile: Profile, out: _Collector) -> None:
    rules = profile.text
    fallback = message.fallback_sms_text
    required = (rules.fallback_required == "without_subject" and not message.subject) or (
        rules.fallback_required == "unless_disabled" and not message.disable_fallback_sms
    )
    if required and not fallback:
        reason = (
            "when there is no subject"
            if rules.fallback_required == "without_subject"
            else "unless disable_fallback_sms is true"
        )
        out.add(
            "fallback.missing",
            f"{profile.name} needs fallback_sms_text {reason}: it is what phones without MMS receive",
        )
    if not fallback:
        return
    if rules.fallback_sms is not None and len(fallback) > rules.fallback_sms:
        out.add(
            "fallback.too_long",
            f"the fallback SMS text is {len(fallback)} characters; {profile.name} takes {rules.fallback_sms}",
        )
    elif rules.fallback_sms_recommended is not None and len(fallback) > rules.fallback_sms_recommended:
        out.add(
            "fallback.long",
            f"the fallback SMS text is {len(fallback)} characters; {profile.name} advises at most "
            f"{rules.fallback_sms_recommended} for best deliverability",
            warning=True,
        )


def _text_bytes(message: Message) -> int:
    texts = [message.subject, message.text, *(s.text for s in message.slides)]
    return sum(len(t.encode("utf-8")) for t in texts if t)


def _ext(mime: str) -> str:
    from .inspection.sniff import EXTENSION_BY_MIME

    return EXTENSION_BY_MIME.get(mime, "bin")
