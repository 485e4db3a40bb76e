"""Payment PINs as salted slow hashes: argon2id (argon2-cffi), never stored or logged in clear.

The parameters are OWASP's smallest recommended for argon2id (19 MiB, 2 passes, 1 lane):
about 20 ms per check here, slow enough to make guessing a stolen table costly, quick
enough for a hotline. They are written into each hash, so raising them later re-hashes each
PIN at its next successful check.
"""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1, type=Type.ID)


def hash_pin(pin: str) -> str:
    """A new salted argon2id hash of ``pin`` (PHC string, ``$argon2id$…``)."""
    return _HASHER.hash(pin)


def pin_matches(hashed: str, pin: str) -> bool:
    """Whether ``pin`` is the PIN ``hashed`` was made from (a damaged hash matches nothing)."""
    try:
        return _HASHER.verify(hashed, pin)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    """Whether ``hashed`` was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(hashed)
