"""Principals, roles, API keys (SHA-256 at rest), passwords (scrypt), web session ids, sign-in throttling."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path


class Role(StrEnum):
    """Role of a platform user: trader, customs officer, risk analyst or administrator."""
    TRADER = "trader"
    OFFICER = "officer"
    ANALYST = "analyst"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user with a role, acting for an enterprise when a trader."""

    user_id: int
    username: str
    role: Role
    enterprise_code: str | None = None
    #: the platform itself (demo loader, history replay, warm-up, local CLI), never a signed-in user or key
    internal: bool = False
    #: the user who made the API key this call came with, when not the key's own user (audited)
    acting_via: str | None = None

    @property
    def is_customs(self) -> bool:
        """Whether the principal is customs staff (officer, analyst or admin)."""
        return self.role in (Role.OFFICER, Role.ANALYST, Role.ADMIN)


#: the platform's own processes: they lodge on the declarant's behalf without a user, key or mandate
SYSTEM = Principal(0, "system", Role.ADMIN, internal=True)


KEY_PREFIX = "sck"


def new_api_key() -> tuple[str, str, str]:
    """A fresh key ``sck_<prefix>_<secret>``, its lookup prefix and its SHA-256 digest."""
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, api_key_digest(key)


def api_key_digest(key: str) -> str:
    """SHA-256 hex digest under which an API key is stored."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_prefix(key: str) -> str | None:
    """The lookup prefix of a well-formed API key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


def digests_match(a: str, b: str) -> bool:
    """Compare two digests in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())


SCRYPT_N = 2**17  # OWASP's scrypt cost for passwords (N=2^17, r=8, p=1): ~0.3 s and 128 MiB per hash
_SCRYPT = {"n": SCRYPT_N, "r": 8, "p": 1}
_MAX_N, _MAX_R, _MAX_P = 2**20, 32, 16  # a stored hash asking for more is refused, not computed


def set_password_cost(n: int) -> None:
    """The scrypt cost N of new hashes (a power of two >= 1024; tests lower it, old hashes keep theirs)."""
    if n < 1024 or n > _MAX_N or n & (n - 1):
        raise ValueError(f"scrypt N must be a power of two in 1024..{_MAX_N}, not {n}")
    _SCRYPT["n"] = n


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # OpenSSL's default memory cap (32 MiB) is below what N=2^17 needs (128 * r * N * p bytes)
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=dklen,
                          maxmem=128 * r * n * p + (1 << 20))


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$digest`` at today's cost."""
    salt = secrets.token_bytes(16)
    n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
    dk = _scrypt(password, salt, n, r, p, 32)
    enc = base64.b64encode
    return f"scrypt${n}${r}${p}${enc(salt).decode()}${enc(dk).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``, with the cost parameters stored in it."""
    if not stored:
        return False
    try:
        algo, n, r, p, salt_b64, dk_b64 = stored.split("$")
        if algo != "scrypt" or int(n) > _MAX_N or int(r) > _MAX_R or int(p) > _MAX_P:
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(dk_b64)
        dk = _scrypt(password, salt, int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError, MemoryError):
        return False
    return hmac.compare_digest(dk, expected)


def needs_rehash(stored: str | None) -> bool:
    """Whether ``stored`` was made with other cost parameters than today's (it is re-hashed at sign-in)."""
    if not stored:
        return False
    parts = stored.split("$")
    return len(parts) != 6 or parts[1:4] != [str(_SCRYPT["n"]), str(_SCRYPT["r"]), str(_SCRYPT["p"])]


@cache
def _dummy_hash(n: int) -> str:
    return hash_password(secrets.token_urlsafe(16))


def verify_dummy(password: str) -> bool:
    """As long as a real verification, for an unknown user or one without a password: always False."""
    verify_password(password, _dummy_hash(_SCRYPT["n"]))
    return False


# -- password policy --------------------------------------------------------------------------------------
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 200
_STRIP = "0123456789!@#$%^&*()_-+=.,;:?~ "


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list of the most common passwords and their base words (lower case)."""
    text = (Path(__file__).parent / "data" / "common_passwords.txt").read_text("utf-8")
    return frozenset(w.strip().lower() for w in text.splitlines() if w.strip() and not w.startswith("#"))


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why ``password`` is refused (too short, a common password or one made from it), or None."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"the password needs at least {PASSWORD_MIN_LENGTH} characters"
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"the password has more than {PASSWORD_MAX_LENGTH} characters"
    low = password.lower()
    words = common_passwords()
    stems = {low, low.strip(_STRIP), low.rstrip(_STRIP), low.lstrip(_STRIP), low.replace(" ", "")}
    if len(set(low)) <= 3 or any(s in words for s in stems):
        return "the password is too common: choose a phrase of unrelated words"
    if username and username.lower() in low:
        return "the password must not contain the user name"
    return None


# -- web sessions -----------------------------------------------------------------------------------------
def new_session_id() -> tuple[str, str]:
    """A fresh web session id (for the cookie) and its SHA-256 digest (for the database)."""
    token = secrets.token_urlsafe(32)
    return token, session_digest(token)


def session_digest(token: str) -> str:
    """SHA-256 hex digest under which a web session token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def load_or_create_secret(path: Path) -> str:
    """The secret kept in ``path`` (mode 0600), made on first use so that restarts keep sessions."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text("ascii").strip()
        if len(secret) >= 32:
            return secret
        raise ValueError(f"{path} holds no usable secret: remove it to make a new one") from None
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


# -- sign-in throttling -----------------------------------------------------------------------------------
class LoginThrottle:
    """Failed sign-ins per account and per client address, answered with an exponential back-off.

    After ``free`` failures of an account (``free_address`` of an address) each further attempt waits
    ``base_s * 2**k`` seconds after the last failure (capped at ``max_s``); a failure older than
    ``max_s`` is forgotten; a successful sign-in clears its account. In memory: one process.
    """

    def __init__(self, free: int = 5, free_address: int = 20, base_s: float = 1.0, max_s: float = 900.0,
                 clock: Callable[[], float] = time.monotonic, max_entries: int = 100_000) -> None:
        self.free, self.free_address, self.base_s, self.max_s = free, free_address, base_s, max_s
        self.clock, self.max_entries = clock, max_entries
        self._fails: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(username: str, address: str) -> tuple[str, str]:
        return "u:" + username.strip().lower()[:200], "a:" + address

    def _wait(self, key: str, free: int, now: float) -> float:
        count, last = self._fails.get(key, (0, 0.0))
        if count < free or now - last >= self.max_s:
            return 0.0
        return max(0.0, last + min(self.base_s * 2 ** min(count - free, 30), self.max_s) - now)

    def retry_after(self, username: str, address: str) -> float:
        """Seconds before the next attempt for this account from this address is heard (0: now)."""
        account, addr = self._keys(username, address)
        now = self.clock()
        with self._lock:
            return max(self._wait(account, self.free, now), self._wait(addr, self.free_address, now))

    def failed(self, username: str, address: str) -> None:
        """Count a failed sign-in against the account and the address (pruning the oldest entries)."""
        now = self.clock()
        with self._lock:
            for key in self._keys(username, address):
                count, last = self._fails.pop(key, (0, now))
                self._fails[key] = (1 if now - last >= self.max_s else count + 1, now)
            if len(self._fails) > self.max_entries:
                self._fails = {k: v for k, v in self._fails.items() if now - v[1] < self.max_s}
                while len(self._fails) > self.max_entries:  # oldest first (insertion order)
                    del self._fails[next(iter(self._fails))]

    def succeeded(self, username: str) -> None:
        """Clear the account's failure count after a successful sign-in."""
        with self._lock:
            self._fails.pop(self._keys(username, "")[0], None)
