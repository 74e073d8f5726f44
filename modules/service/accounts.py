"""Accounts for a shared instance: names, password hashes and roles (admin, user).

The same accounts log into the UI (Gradio's login page) and the REST API (HTTP Basic, like A1111's
`--api-auth`). Sources: `--auth name:password[:admin],...` (kept in memory only) and `--auth-file`, a text
file of `name:role:hash` lines with bcrypt (or argon2, when argon2-cffi is installed) hashes. Entries are
created or changed with:

    python -m modules.service.accounts add NAME [--admin] [--file accounts.txt] [--password-stdin]

Checks from the network go through a LoginGuard (back-off per client address and per name, a cap on
concurrent bcrypt checks); unknown names cost the same check as wrong passwords.

Standard library plus bcrypt. Nothing here knows about Gradio or FastAPI.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import hmac
import ipaddress
import logging
import math
import os
import re
import secrets
import sys
import tempfile
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

ADMIN, USER = "admin", "user"
ROLES = (ADMIN, USER)
# A user name becomes a folder (outputs/<user>/): letters, digits and . _ @ -, not starting with a dot.
NAME_RE = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,63}")
BCRYPT_MAX_BYTES = 72
DEFAULT_ROUNDS = 12
DEFAULT_FILE = Path(__file__).resolve().parents[2] / "accounts.txt"
PLAIN_PREFIX = "memory-sha256$"  # for --auth passwords, which exist only in this process


class AccountError(ValueError):
    """A bad account entry or flag; the message says what to fix."""


@dataclass(frozen=True)
class Account:
    name: str
    password_hash: str
    role: str = USER

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise AccountError(f"invalid user name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-', "
                           "not starting with '.'")
    return name


def hash_password(password: str, rounds: int = DEFAULT_ROUNDS) -> str:
    import bcrypt

    data = password.encode("utf-8")
    if not data:
        raise AccountError("the password is empty")
    if len(data) > BCRYPT_MAX_BYTES:
        raise AccountError(f"the password is {len(data)} bytes long; bcrypt uses at most {BCRYPT_MAX_BYTES}")
    return bcrypt.hashpw(data, bcrypt.gensalt(rounds)).decode("ascii")


def _memory_hash(password: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    return f"{PLAIN_PREFIX}{salt}${hashlib.sha256((salt + password).encode('utf-8')).hexdigest()}"


def check_password(password: str, password_hash: str) -> bool:
    """True if password matches the hash (bcrypt, argon2 or an in-memory --auth entry)."""
    data = password.encode("utf-8")
    if password_hash.startswith(PLAIN_PREFIX):
        salt = password_hash[len(PLAIN_PREFIX):].split("$", 1)[0]
        return hmac.compare_digest(_memory_hash(password, salt), password_hash)
    if password_hash.startswith("$argon2"):
        try:
            from argon2 import PasswordHasher
            from argon2.exceptions import VerificationError
        except ImportError:
            log.error("an account uses an argon2 hash but argon2-cffi is not installed: pip install argon2-cffi")
            return False
        try:
            return PasswordHasher().verify(password_hash, password)
        except VerificationError:
            return False
    if password_hash.startswith("$2"):
        import bcrypt

        if len(data) > BCRYPT_MAX_BYTES:
            return False
        try:
            return bcrypt.checkpw(data, password_hash.encode("ascii"))
        except ValueError:
            return False
    return False


def hash_kind(password_hash: str) -> str:
    """What decides the cost of checking a hash: its scheme and parameters, without salt or digest."""
    if password_hash.startswith(PLAIN_PREFIX):
        return PLAIN_PREFIX
    if password_hash.startswith("$2"):
        return password_hash[:7]  # "$2b$12$": variant and rounds
    if password_hash.startswith("$argon2"):
        return password_hash.rsplit("$", 2)[0]  # "$argon2id$v=19$m=65536,t=3,p=4"
    return "unknown"


def hash_like(password_hash: str, password: str) -> str:
    """A hash of `password` made the same way as `password_hash`, so checking it costs the same."""
    if password_hash.startswith(PLAIN_PREFIX):
        return _memory_hash(password)
    if password_hash.startswith("$2"):
        import bcrypt

        variant = password_hash[1:3] if password_hash[1:3] in ("2a", "2b") else "2b"  # $2y$ costs the same
        try:
            salt = bcrypt.gensalt(int(password_hash[4:6]), prefix=variant.encode("ascii"))
        except ValueError:
            return password_hash  # a damaged hash: check_password refuses it at once
        return bcrypt.hashpw(password.encode("utf-8"), salt).decode("ascii")
    if password_hash.startswith("$argon2"):
        try:
            from argon2 import PasswordHasher, extract_parameters
        except ImportError:
            return password_hash  # check_password refuses it at once, as it does the real account's
        return PasswordHasher.from_parameters(extract_parameters(password_hash)).hash(password)
    return password_hash  # an unknown scheme: refused at once, for the real account too


class LoginRefused(Exception):
    """A password was not checked; the message says why and `retry_after` (seconds) when to try again."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyFailures(LoginRefused):
    """Back-off after failed logins from this address or for this name."""


class TooManyChecks(LoginRefused):
    """All password-check slots are busy (each check is ~250 ms of a CPU core with bcrypt)."""


@dataclass
class _Failures:
    times: deque[float] = field(default_factory=lambda: deque(maxlen=64))  # of recent failures
    blocked_until: float = 0.0


class LoginGuard:
    """Limits password guessing: back-off per client address and per user name, and a cap on concurrent checks.

    Failures are counted over the last `window` seconds. Past `free_failures` for a name (or
    `free_client_failures` for an address: behind a reverse proxy every user shares one), each further
    failure blocks the name or the address for twice as long as the one before: `first_delay`, 2x, 4x ...
    up to `max_delay`. Unknown names are counted like real ones, so a refusal tells nothing about which
    names exist. IPv6 clients are counted by their /64 network (one machine usually holds a whole /64).
    """

    def __init__(self, max_checks: int = 2, free_failures: int = 5, free_client_failures: int = 20,
                 window: float = 3600.0, first_delay: float = 2.0, max_delay: float = 900.0,
                 max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.free_failures, self.free_client_failures, self.window = free_failures, free_client_failures, window
        self.first_delay, self.max_delay, self.max_entries = first_delay, max_delay, max_entries
        self.clock = clock
        self._slots = threading.BoundedSemaphore(max_checks)
        self._failures: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _keys(client: str, name: str) -> tuple[str, str]:
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            address = None
        if address is not None and address.version == 6 and address.ipv4_mapped is None:
            client = str(ipaddress.ip_network(f"{address}/64", strict=False))
        return f"client:{client}", f"name:{name}"

    def _current(self, key: str, now: float) -> _Failures | None:
        """The failures of a key within the window (dropping the key once it has none and is not blocked)."""
        entry = self._failures.get(key)
        if entry is None:
            return None
        while entry.times and now - entry.times[0] > self.window:
            entry.times.popleft()
        if not entry.times and entry.blocked_until <= now:
            del self._failures[key]
            return None
        return entry

    def retry_after(self, client: str, name: str) -> float:
        """Seconds until this address may try this name again (0: now)."""
        now = self.clock()
        with self._lock:
            entries = [self._current(key, now) for key in self._keys(client, name)]
        return max([e.blocked_until - now for e in entries if e is not None] + [0.0])

    def admit(self, client: str, name: str) -> None:
        """Raise TooManyFailures while this address or this name is backing off."""
        wait = self.retry_after(client, name)
        if wait > 0:
            raise TooManyFailures(f"Too many failed logins from this address or for this name: try again in "
                                  f"{math.ceil(wait)} s.", math.ceil(wait))

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the `max_checks` password-check slots; TooManyChecks when none is free (no queueing)."""
        if not self._slots.acquire(blocking=False):
            raise TooManyChecks("The server is busy checking other logins: try again in a second.", 1)
        try:
            yield
        finally:
            self._slots.release()

    def record(self, client: str, name: str, ok: bool) -> None:
        client_key, name_key = self._keys(client, name)
        now = self.clock()
        with self._lock:
            if ok:  # the user got in: their typos are forgiven (the address's count stays)
                self._failures.pop(name_key, None)
                return
            for key, free in ((client_key, self.free_client_failures), (name_key, self.free_failures)):
                entry = self._current(key, now) or _Failures()
                entry.times.append(now)
                over = len(entry.times) - free
                if over >= 0:
                    delay = min(self.max_delay, self.first_delay * 2 ** min(over, 32))
                    entry.blocked_until = now + delay
                    log.warning("login back-off: %s refused for %.0f s after %d failed logins within %.0f s",
                                key, delay, len(entry.times), self.window)
                self._failures[key] = entry
                self._failures.move_to_end(key)
            while len(self._failures) > self.max_entries:
                self._failures.popitem(last=False)


def parse_auth_arg(text: str) -> list[Account]:
    """`--auth alice:secret:admin,bob:pw` -> accounts. A trailing ':admin' or ':user' is the role."""
    accounts = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        name, sep, password = entry.partition(":")
        if not sep or not password:
            raise AccountError(f"--auth entry {name!r} has no password; write NAME:PASSWORD[:admin]")
        role = USER
        head, _, tail = password.rpartition(":")
        if head and tail in ROLES:
            password, role = head, tail
        accounts.append(Account(check_name(name), _memory_hash(password), role))
    return accounts


def parse_auth_file(text: str, source: str = "accounts file") -> list[Account]:
    accounts = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":", 2)
        if len(parts) != 3 or parts[1] not in ROLES or not parts[2].startswith("$"):
            raise AccountError(f"{source} line {number}: expected NAME:ROLE:HASH with ROLE admin or user and a "
                               "bcrypt/argon2 hash (plain passwords are not accepted); create entries with "
                               "`python -m modules.service.accounts add NAME`")
        accounts.append(Account(check_name(parts[0]), parts[2], parts[1]))
    return accounts


def format_auth_file(accounts: Iterable[Account]) -> str:
    lines = ["# name:role:password hash. Edit with: python -m modules.service.accounts add NAME [--admin]"]
    lines += [f"{a.name}:{a.role}:{a.password_hash}" for a in accounts]
    return "\n".join(lines) + "\n"


class Accounts:
    """The known accounts. Empty means no login (a local single-user instance)."""

    CACHE_SIZE = 1024
    CACHE_SECONDS = 300.0

    def __init__(self, accounts: Iterable[Account] = (), guard: LoginGuard | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._accounts: dict[str, Account] = {}
        for account in accounts:
            if account.name in self._accounts:
                log.warning("account %s is defined twice; the later entry wins", account.name)
            self._accounts[account.name] = account
        # For logins from the network: back-off after failures and a cap on concurrent checks.
        self.guard = guard or LoginGuard()
        self._clock = clock
        # A correct password is checked with bcrypt once in a while, not on each of the API's HTTP Basic
        # requests: keyed by an HMAC of name and password (never the password itself), with an expiry.
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._dummies: dict[str, str] = {}  # hash kind -> a hash of a random password made that way
        for account in self._accounts.values():  # made now: making one at the first unknown name would show
            self._dummy_for(account.name)
    @classmethod
    def load(cls, auth: str | None = None, auth_file: Path | None = None) -> Accounts:
        found: list[Account] = []
        if auth_file is not None:
            try:
                found += parse_auth_file(auth_file.read_text(encoding="utf-8"), str(auth_file))
            except OSError as exc:
                raise AccountError(f"cannot read the accounts file {auth_file}: {exc}") from exc
        if auth:
            found += parse_auth_arg(auth)
        return cls(found)

    @property
    def enabled(self) -> bool:
        return bool(self._accounts)

    def __len__(self) -> int:
        return len(self._accounts)

    def names(self) -> list[str]:
        return sorted(self._accounts)

    def get(self, name: str | None) -> Account | None:
        return self._accounts.get(name) if name else None

    def is_admin(self, name: str | None) -> bool:
        account = self.get(name)
        return account is not None and account.is_admin

    def _cache_key(self, name: str, password: str) -> bytes:
        return hmac.new(self._key, f"{name}\0{password}".encode(), hashlib.sha256).digest()

    def recently_verified(self, name: str, password: str) -> Account | None:
        """The account if this very name and password passed a full check less than CACHE_SECONDS ago."""
        account = self._accounts.get(name)
        if account is None:
            return None
        key = self._cache_key(name, password)
        with self._lock:
            entry = self._verified.get(key)
            if entry is None:
                return None
            if entry[0] != account.password_hash or entry[1] <= self._clock():
                del self._verified[key]
                return None
            self._verified.move_to_end(key)
        return account

    def _dummy_for(self, name: str) -> str:
        """A hash to check an unknown name's password against, costing what a real account's check costs.

        The kind (scheme, rounds) is that of an account picked by a keyed hash of the name, so unknown names
        take as long as real ones, however the accounts' hashes are mixed.
        """
        hashes = [a.password_hash for a in self._accounts.values()] or [_memory_hash("")]
        pick = int.from_bytes(hmac.new(self._key, name.encode(), hashlib.sha256).digest()[:4], "big")
        model = hashes[pick % len(hashes)]
        kind = hash_kind(model)
        if kind not in self._dummies:
            self._dummies[kind] = hash_like(model, secrets.token_hex(16))
        return self._dummies[kind]

    def verify(self, name: str, password: str) -> Account | None:
        """The account if the password is right, else None. Without limits: see LoginGuard for those."""
        account = self.recently_verified(name, password)
        if account is not None:
            return account
        account = self._accounts.get(name)
        if account is None:
            # The same work as a wrong password, so timing doesn't tell which names exist.
            check_password(password, self._dummy_for(name))
            return None
        if not check_password(password, account.password_hash):
            log.warning("failed login for %s", name)
            return None
        with self._lock:
            self._verified[self._cache_key(name, password)] = (account.password_hash,
                                                               self._clock() + self.CACHE_SECONDS)
            while len(self._verified) > self.CACHE_SIZE:
                self._verified.popitem(last=False)
        return account

    def gradio_auth(self, username: str, password: str) -> bool:
        """For gr.mount_gradio_app(auth=...)."""
        return self.verify(username, password) is not None


def check_serving(listen: bool, accounts: Accounts, insecure_no_auth: bool) -> str | None:
    """Refuse to serve the LAN without accounts, unless explicitly told to. Returns a warning or None."""
    if accounts.enabled or not listen:
        return None
    if not insecure_no_auth:
        raise AccountError(
            "--listen serves this machine to the whole network, so it needs accounts: pass --auth NAME:PASSWORD "
            "or --auth-file FILE (create one with `python -m modules.service.accounts add NAME --admin`). "
            "To serve without login anyway, add --insecure-no-auth.")
    return ("This server is open to the network without login (--insecure-no-auth): anyone who can reach it "
            "can use it, see outputs and stop jobs.")


def set_account(path: Path, name: str, password: str, role: str, rounds: int = DEFAULT_ROUNDS) -> bool:
    """Create or update an entry of an accounts file (atomically). True if it was new."""
    check_name(name)
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    existing = parse_auth_file(path.read_text(encoding="utf-8"), str(path)) if path.exists() else []
    new = Account(name, hash_password(password, rounds), role)
    created = all(a.name != name for a in existing)
    accounts = [new if a.name == name else a for a in existing] + ([new] if created else [])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".accounts-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(format_auth_file(accounts))
    os.chmod(tmp, 0o600)  # hashes are still worth keeping from other local users
    os.replace(tmp, path)
    return created


def remove_account(path: Path, name: str) -> bool:
    existing = parse_auth_file(path.read_text(encoding="utf-8"), str(path)) if path.exists() else []
    kept = [a for a in existing if a.name != name]
    if len(kept) == len(existing):
        return False
    path.write_text(format_auth_file(kept), encoding="utf-8")
    return True


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat the password: "):
        raise AccountError("the passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modules.service.accounts", description="Manage WebUI accounts.")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help=f"accounts file (default {DEFAULT_FILE})")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create an account or change its password/role")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="admins can stop anyone's jobs and see all outputs")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help=argparse.SUPPRESS)
    remove = sub.add_parser("remove", help="delete an account")
    remove.add_argument("name")
    sub.add_parser("list", help="list accounts and roles")
    args = parser.parse_args(argv)
    try:
        if args.command == "add":
            password = _read_password(args.password_stdin)
            created = set_account(args.file, args.name, password, ADMIN if args.admin else USER, args.rounds)
            print(f"{'Created' if created else 'Updated'} {args.name} in {args.file}; restart the WebUI "
                  f"with --auth-file {args.file} to use it.")
        elif args.command == "remove":
            print(f"Removed {args.name}." if remove_account(args.file, args.name) else f"No account {args.name}.")
        else:
            text = args.file.read_text(encoding="utf-8") if args.file.exists() else ""
            for account in parse_auth_file(text, str(args.file)):
                print(f"{account.name}\t{account.role}")
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
