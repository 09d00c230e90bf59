"""A storage URL's password: never stored, printed, or put on a command line.

``optuna_storage`` may be a database URL with a password (``postgresql://ohgw:secret@host/db``).
What a study records and shows (its settings in the store and in ``study.json``, messages) is
the redacted URL, ``postgresql://ohgw:***@host/db``; URLs that differ only in the password are
the same setting, so a study continues after its password changed. At run time the password
comes from the URL as given or, for a URL without one (or with ``***`` in its place), from the
environment variable :data:`PASSWORD_ENV`; child processes get it through that variable, which
only their user can read (``/proc/PID/environ``), never through their command line
(``/proc/PID/cmdline``, readable by every user). Imports nothing of ohgw.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import quote
from urllib.parse import unquote

PASSWORD_ENV = "OHGW_OPTUNA_STORAGE_PASSWORD"
"""The environment variable that gives a storage URL's password."""
MASK = "***"
# scheme://user:password@, the password up to the URL's last '@' (an unescaped '@' in a
# password is hidden too; at worst more than the password), and password=... in the query.
_USERINFO = re.compile(
    r"^(?P<head>[A-Za-z][\w+.-]*://)(?P<user>[^:/@?#]*)(?::(?P<pw>.*))?@(?=[^@]*$)"
)
_QUERY = re.compile(r"(?i)(?P<key>[?&](?:password|passwd)=)(?P<pw>[^&#]*)")


def redact(value: Any) -> Any:
    """``value`` with a URL's password replaced by ``***`` (other values as they are)."""
    if not isinstance(value, str) or "://" not in value:
        return value
    value = _QUERY.sub(lambda m: m["key"] + MASK, value)
    match = _USERINFO.match(value)
    if match is None or match["pw"] is None:
        return value
    return f"{match['head']}{match['user']}:{MASK}@{value[match.end() :]}"


def without_password(value: Any) -> Any:
    """``value`` with a URL's password left out: what two settings are compared by."""
    redacted = redact(value)
    if not isinstance(redacted, str):
        return redacted
    return redacted.replace(f":{MASK}@", "@", 1)


def password(value: Any) -> str | None:
    """The password a storage URL connects with: its own, else ``$OHGW_OPTUNA_STORAGE_PASSWORD``
    (None: neither gives one)."""
    if isinstance(value, str) and "://" in value:
        match = _USERINFO.match(value)
        if match is not None and match["pw"] not in (None, MASK):
            return unquote(match["pw"])  # as SQLAlchemy reads it
    return os.environ.get(PASSWORD_ENV) or None


def connect_url(value: str) -> str:
    """The URL to connect with: as given when it holds its password, else with the password of
    ``$OHGW_OPTUNA_STORAGE_PASSWORD`` put in. A ``***`` in place of the password with the
    variable unset is a ``ValueError`` saying to set it."""
    match = _USERINFO.match(value)
    if match is None or match["pw"] not in (None, MASK):
        return value
    secret = os.environ.get(PASSWORD_ENV)
    if not secret:
        if match["pw"] == MASK:
            raise ValueError(
                f"The value of `optuna_storage` is {value}, whose password is not given: set "
                f"the environment variable {PASSWORD_ENV} to it."
            )
        return value
    return f"{match['head']}{match['user']}:{quote(secret, safe='')}@{value[match.end() :]}"


def hide(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (and its URL-quoted form) masked: for
    messages of database drivers, which may echo what they were given."""
    if not secret:
        return text
    return text.replace(secret, MASK).replace(quote(secret, safe=""), MASK)


def check_url(value: Any) -> None:
    """A ``ValueError`` for a password in the query string (``?password=``): it could not reach
    a child process, which gets the URL without it; the user part or the variable can."""
    if isinstance(value, str) and _QUERY.search(value):
        raise ValueError(
            f"The value of `optuna_storage` is {redact(value)}, with a password in its query "
            "string: give it in the URL's user part (postgresql://user:PASSWORD@host/db) or in "
            f"the environment variable {PASSWORD_ENV}."
        )


def holds_password(value: Any) -> bool:
    """Whether a URL holds a password itself (``***`` in its place does not count)."""
    if not isinstance(value, str) or "://" not in value:
        return False
    match = _USERINFO.match(value)
    return (match is not None and match["pw"] not in (None, MASK)) or bool(_QUERY.search(value))
