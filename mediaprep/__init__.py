"""mediaprep: make every MMS asset deliverable before the send is built.

The public API; the CLI (and later shells) only call these.
"""

from __future__ import annotations

from .checker import Attachment, Problem, Report, check, estimate_bytes
from .converters import Converted, convert
from .errors import MediaprepError
from .inspection import Inspection, inspect
from .message import Message, Slide, load_message, parse_message
from .profiles import Profile, list_profiles, load_profile
from .settings import Settings, unknown_variables
from .storage import Stored, open_store
from .storage.verify import UrlReport, verify_url

__version__ = "0.1.0"

__all__ = [
    "Attachment",
    "Converted",
    "Inspection",
    "MediaprepError",
    "Message",
    "Problem",
    "Profile",
    "Report",
    "Settings",
    "Slide",
    "Stored",
    "UrlReport",
    "check",
    "convert",
    "estimate_bytes",
    "inspect",
    "list_profiles",
    "load_message",
    "load_profile",
    "open_store",
    "parse_message",
    "unknown_variables",
    "verify_url",
]
