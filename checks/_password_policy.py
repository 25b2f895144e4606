"""The password policy that the account checks and the password checks share.

Stored hashes (``accounts_weak_hash``) and the hash new passwords get
(``password_hash_method``) are judged against one list of schemes; per-user shadow aging
(``accounts_password_aging``) and the login.defs defaults (``password_max_age``) take the
same expiry parameters, so a policy states "expiry forbidden" once for both. login.defs
and offender lists are read and capped the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hygie.facts.password import Setting, parse_login_defs
from hygie.model import Evidence
from hygie.registry import Facts, Param, Verdict, failed, passed
from hygie.text import capped

# Hash schemes a policy may accept (names as in the shadow summary and ENCRYPT_METHOD).
HASH_CHOICES = (
    "yescrypt",
    "gost_yescrypt",
    "sha512",
    "sha256",
    "bcrypt",
    "scrypt",
    "md5",
    "des",
    "bigcrypt",
    "bsdi_des",
    "sha1",
    "sun_md5",
)
STRONG_HASHES = ["yescrypt", "sha512"]
# PASS_MAX_DAYS / shadow max at or above this is "never expires" (99999 by convention).
NO_EXPIRY_DAYS = 10000
MAX_LISTED = 50


def optional_text(facts: Facts, name: str) -> str | None:
    """A file fact's text, or None when the file is absent (``cat`` exits 1 without a
    permission error). Anything else raises MissingFact through ``facts.text``."""
    fact = facts.get(name)
    if fact.exit_status == 1 and "ermission denied" not in fact.stderr_text:
        return None
    return facts.text(name)


def login_defs(facts: Facts) -> dict[str, Setting]:
    if optional_text(facts, "login_defs") is None:
        return {}
    return facts.parsed("login_defs", parse_login_defs)


def listing(items: Sequence[str], limit: int = MAX_LISTED) -> str:
    """Offenders joined for evidence, capped so one bad host cannot flood a report."""
    return capped(items, limit)


def problems_verdict(
    problems: list[str], ok_message: str, fail_prefix: str, expected: str, fact: str
) -> Verdict:
    """One fail listing every offender, or a pass, with the same evidence shape."""
    if problems:
        return failed(
            f"{fail_prefix}: {listing(problems)}",
            Evidence(expected, listing(problems), fact),
        )
    return passed(ok_message, Evidence(expected, ok_message, fact))


def expected_expiry(params: Mapping[str, Any]) -> str:
    if params["forbid_expiry"]:
        return "no forced periodic password change"
    if params["require_expiry"]:
        return f"maximum password age <= {params['max_days']} days"
    return "any maximum age (expiry not required)"


EXPIRY_PARAMS = {
    "max_days": Param(365, "longest allowed password lifetime in days", minimum=1),
    "require_expiry": Param(True, "passwords must expire (CIS, ANSSI); False for NIST"),
    "forbid_expiry": Param(
        False, "fail when periodic expiry is forced (NIST SP 800-63B: SHALL NOT)"
    ),
}
