"""Password hashing for people who sign in: argon2id (argon2-cffi), off the event loop.

Hashing is memory-hard on purpose, so it costs tens of milliseconds of CPU; it runs in worker
threads (argon2-cffi releases the GIL), at most ``CONCURRENT_HASHES`` at a time, so the event loop
keeps serving while people sign in. The parameters are OWASP's argon2id baseline (19 MiB, 2
passes, 1 lane): about 25 ms a check on this machine's cores. A stored hash made with other
parameters still verifies (argon2 encodes them in the hash) and is rehashed at the next sign-in.

A login that does not exist is checked against a dummy hash, so an unknown login and a wrong
password take the same time and get the same answer.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
CONCURRENT_HASHES = 4
MIN_LENGTH, MAX_LENGTH = 8, 256
_DUMMY = HASHER.hash("not a password anybody has: timing filler")


class Passwords:
    """Hashes and checks passwords in worker threads, a few at a time."""

    def __init__(self, concurrent: int = CONCURRENT_HASHES) -> None:
        self._slots = asyncio.Semaphore(concurrent)

    async def hash(self, password: str) -> str:
        """The stored form of a new password."""
        async with self._slots:
            return await asyncio.to_thread(HASHER.hash, password)

    async def check(self, stored: str | None, password: str) -> bool:
        """Whether the password matches the stored hash (None: no such user; still costs one check)."""
        async with self._slots:
            return await asyncio.to_thread(_verify, stored, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        HASHER.verify(stored or _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return stored is not None


def needs_rehash(stored: str) -> bool:
    """Whether a stored hash was made with other parameters than today's."""
    return HASHER.check_needs_rehash(stored)


def password_problem(password: str) -> str | None:
    """Why a new password cannot be used, or None."""
    if len(password) < MIN_LENGTH:
        return f"at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"at most {MAX_LENGTH} characters"
    return None
