"""Accounts for a shared instance: names, password hashes and roles (admin, user).

The same accounts log into the UI (Gradio's login page) and the REST API (HTTP Basic, like A1111's
`--api-auth`). Sources: `--auth name:password[:admin],...` (kept in memory only) and `--auth-file`, a text
file of `name:role:hash` lines with bcrypt (or argon2, when argon2-cffi is installed) hashes. Entries are
created or changed with:

    python -m modules.service.accounts add NAME [--admin] [--file accounts.txt] [--password-stdin]

Standard library plus bcrypt. Nothing here knows about Gradio or FastAPI.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import hmac
import logging
import os
import re
import secrets
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
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

    def __init__(self, accounts: Iterable[Account] = ()) -> None:
        self._accounts: dict[str, Account] = {}
        for account in accounts:
            if account.name in self._accounts:
                log.warning("account %s is defined twice; the later entry wins", account.name)
            self._accounts[account.name] = account
        # A correct password is checked with bcrypt once; the API's HTTP Basic sends it on every request.
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, str] = OrderedDict()
        self._lock = threading.Lock()
        self._dummy_hash: str | None = None

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

    def verify(self, name: str, password: str) -> Account | None:
        """The account if the password is right, else None."""
        account = self._accounts.get(name)
        key = hmac.new(self._key, f"{name}\0{password}".encode(), hashlib.sha256).digest()
        with self._lock:
            if account is not None and self._verified.get(key) == account.password_hash:
                self._verified.move_to_end(key)
                return account
        if account is None:
            # Same work as a real check, so timing doesn't tell which names exist.
            if self._dummy_hash is None:
                self._dummy_hash = hash_password(secrets.token_hex(8))
            check_password(password, self._dummy_hash)
            return None
        if not check_password(password, account.password_hash):
            log.warning("failed login for %s", name)
            return None
        with self._lock:
            self._verified[key] = account.password_hash
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
