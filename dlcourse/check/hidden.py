"""Hidden cases' seeds: drawn from the course's secret, so only who knows it knows the cases.

A hidden test line seeds its case with ``hidden(k)``; the grader sets the course's secret
(``use_secret``), new each term. A ``HiddenSeed`` prints as ``hidden(k)``, never as its value,
and ``dlcourse.check.report`` records every comparison of its case redacted.
"""

from __future__ import annotations

import hashlib
import hmac
import os

SECRET_ENV = "DLCOURSE_HIDDEN_SECRET"
"""Where ``hidden`` finds the course's secret when the grader has set none: instructors' own
runs of the solution notebooks. The grader never passes it to a student's kernel."""
_secret: str | None = None


class HiddenSeed(int):
    """The seed of hidden case ``k``: an int that prints as ``hidden(k)``, never as its value,
    and travels to a student's kernel (or a copy) as a plain int."""

    k: int

    def __new__(cls, value: int, k: int) -> HiddenSeed:
        seed = super().__new__(cls, value)
        seed.k = k
        return seed

    def __repr__(self) -> str:
        return f"hidden({self.k})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[type, tuple[int]]:
        return int, (int(self),)


def use_secret(secret: str | None) -> None:
    """Draw hidden cases' seeds from ``secret`` from now on (None: unset). The grader calls it
    with the course's secret, new each term, so last term's cases tell nothing about this one's."""
    global _secret
    _secret = secret


def hidden(k: int) -> HiddenSeed:
    """The seed of hidden case ``k`` (1, 2, ... in a test cell): 31 bits of
    HMAC-SHA256(course secret, 'hidden-k'), so only who knows the secret knows the case.

    Raises:
        RuntimeError: no secret was set (``use_secret``) and ``$DLCOURSE_HIDDEN_SECRET`` is empty.
    """
    secret = _secret if _secret is not None else os.environ.get(SECRET_ENV)
    if not secret:
        raise RuntimeError(
            f"hidden cases need the course's secret: the grader sets it; to run "
            f"hidden tests yourself, set ${SECRET_ENV}"
        )
    digest = hmac.new(secret.encode(), f"hidden-{k}".encode(), hashlib.sha256).digest()
    # 31 bits: a check's seed + 1 is still < 2**32, as np.random.seed (``seed_all``) needs
    return HiddenSeed(int.from_bytes(digest[:4], "big") >> 1, k)
