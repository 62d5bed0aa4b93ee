"""The one error tree of mediaprep.

Every error carries a stable machine ``code`` (never reworded once released),
the provider's own code where a seed names one (``provider_code``, e.g. Sinch
``E341``), the HTTP status a service shell should answer with, and a message a
person can act on::

    MediaprepError                      code               http
    ├── UsageError                      usage.invalid       400
    ├── ProfileError
    │   ├── UnknownProfile              profile.unknown     404
    │   └── InvalidProfile              profile.invalid     500
    ├── InputError
    │   ├── SourceNotFound              input.not_found     404
    │   ├── NotAFile                    input.not_a_file    400
    │   ├── UnreadableInput             input.unreadable    400
    │   ├── EmptyInput                  input.empty         400
    │   ├── InputTooLarge               input.too_large     413
    │   ├── UnsupportedType             input.unsupported   415  (E629)
    │   ├── CorruptInput                input.corrupt       422  (E341 for images)
    │   ├── EncryptedInput              input.encrypted     422
    │   └── DecompressionBomb           input.bomb          413
    ├── ConvertError
    │   ├── CannotFit                   convert.cannot_fit  422
    │   └── NotAllowed                  convert.not_allowed 415  (E229)
    ├── MessageError
    │   └── InvalidMessage              message.invalid     400
    ├── StorageError
    │   ├── StorageUnavailable          storage.unavailable 503
    │   ├── StorageTimeout              storage.timeout     504
    │   ├── StorageDenied               storage.denied      403
    │   ├── NoSuchBucket                storage.no_bucket   404
    │   └── StorageFailed               storage.failed      502
    ├── UrlError
    │   ├── UrlRefused                  url.refused         400  (private address, bad scheme)
    │   └── UrlUnreachable              url.unreachable     502
    ├── OutputUnwritable                output.unwritable   500  (no permission, disk full, name too long)
    └── ToolError
        ├── ToolMissing                 tool.missing        500
        ├── ToolTimeout                 tool.timeout        504
        └── ToolFailed                  tool.failed         500

The CLI prints ``code`` and ``message`` for any MediaprepError, never a traceback, and exits
with 1 for a ConvertError or StorageError (a problem found), else 2.
"""

from __future__ import annotations

from typing import Any


class MediaprepError(Exception):
    code = "mediaprep.error"
    http_status = 500
    provider_code: str | None = None

    def __init__(self, message: str, *, provider_code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if provider_code is not None:
            self.provider_code = provider_code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.provider_code:
            out["provider_code"] = self.provider_code
        if self.details:  # the figures a caller acts on (a refusal's longest length): not only in the words
            out["details"] = self.details
        return out

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class UsageError(MediaprepError):
    code = "usage.invalid"
    http_status = 400


class ProfileError(MediaprepError):
    code = "profile.error"
    http_status = 500


class UnknownProfile(ProfileError):
    code = "profile.unknown"
    http_status = 404


class InvalidProfile(ProfileError):
    code = "profile.invalid"


class InputError(MediaprepError):
    code = "input.error"
    http_status = 400


class SourceNotFound(InputError):
    code = "input.not_found"
    http_status = 404


class NotAFile(InputError):
    code = "input.not_a_file"


class UnreadableInput(InputError):
    code = "input.unreadable"


class EmptyInput(InputError):
    code = "input.empty"


class InputTooLarge(InputError):
    code = "input.too_large"
    http_status = 413


class UnsupportedType(InputError):
    code = "input.unsupported"
    http_status = 415
    provider_code = "E629"


class CorruptInput(InputError):
    code = "input.corrupt"
    http_status = 422


class EncryptedInput(InputError):
    code = "input.encrypted"
    http_status = 422


class DecompressionBomb(InputError):
    code = "input.bomb"
    http_status = 413


class ConvertError(MediaprepError):
    code = "convert.error"
    http_status = 422


class CannotFit(ConvertError):
    """Nothing within the profile's floors (size, quality, frame rate) fits the byte budget."""

    code = "convert.cannot_fit"


class NotAllowed(ConvertError):
    code = "convert.not_allowed"
    http_status = 415
    provider_code = "E229"


class MessageError(MediaprepError):
    code = "message.error"
    http_status = 400


class InvalidMessage(MessageError):
    code = "message.invalid"


class StorageError(MediaprepError):
    code = "storage.error"
    http_status = 502


class StorageUnavailable(StorageError):
    code = "storage.unavailable"
    http_status = 503


class StorageTimeout(StorageError):
    code = "storage.timeout"
    http_status = 504


class StorageDenied(StorageError):
    code = "storage.denied"
    http_status = 403


class NoSuchBucket(StorageError):
    code = "storage.no_bucket"
    http_status = 404


class StorageFailed(StorageError):
    code = "storage.failed"


class UrlError(MediaprepError):
    code = "url.error"
    http_status = 400


class UrlRefused(UrlError):
    code = "url.refused"


class UrlUnreachable(UrlError):
    code = "url.unreachable"
    http_status = 502


class OutputUnwritable(MediaprepError):
    """The result could not be written where it was asked to go."""

    code = "output.unwritable"
    http_status = 500


class ToolError(MediaprepError):
    code = "tool.error"
    http_status = 500


class ToolMissing(ToolError):
    code = "tool.missing"


class ToolTimeout(ToolError):
    code = "tool.timeout"
    http_status = 504


class ToolFailed(ToolError):
    code = "tool.failed"


__all__ = [
    "CannotFit",
    "ConvertError",
    "NotAllowed",
    "CorruptInput",
    "DecompressionBomb",
    "EmptyInput",
    "EncryptedInput",
    "InputError",
    "InputTooLarge",
    "InvalidMessage",
    "InvalidProfile",
    "MediaprepError",
    "MessageError",
    "NotAFile",
    "ProfileError",
    "NoSuchBucket",
    "OutputUnwritable",
    "SourceNotFound",
    "StorageDenied",
    "StorageError",
    "StorageFailed",
    "StorageTimeout",
    "StorageUnavailable",
    "UrlError",
    "UrlRefused",
    "UrlUnreachable",
    "ToolError",
    "ToolFailed",
    "ToolMissing",
    "ToolTimeout",
    "UnknownProfile",
    "UnreadableInput",
    "UnsupportedType",
    "UsageError",
]
