"""Email addresses as they appear in headers: parse, validate, refuse injection.

Agents pass addresses as header strings ("Ana Analyst <ana@partner.test>" or a bare address).
Parsing uses the stdlib's RFC 5322 header parser (policy.default) and validates the addr-spec
with email-validator (syntax only, no DNS), which handles internationalised domains and local
parts. CR, LF and NUL are refused outright: they are how header injection starts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from email.errors import NonASCIILocalPartDefect
from email.headerregistry import Address
from email.policy import default as default_policy

from email_validator import EmailNotValidError, validate_email

from .errors import BadRequest
from .headers import refuse_control_chars

MAX_ADDRESS_LENGTH = 998  # RFC 5322 section 2.1.1: a header line is at most 998 characters
MAX_RECIPIENTS = 100


@dataclass(frozen=True)
class ParsedAddress:
    display_name: str
    addr_spec: str  # local@domain, the domain as given (Unicode allowed)

    @property
    def normalized(self) -> str:
        """Lower-case domain for comparison; local parts are case-sensitive by RFC but not in practice."""
        local, _, domain = self.addr_spec.rpartition("@")
        return f"{local.lower()}@{domain.lower()}"

    def formatted(self) -> str:
        if self.display_name:
            # username/domain rather than addr_spec=: the stdlib re-parses an addr_spec and raises
            # on a non-ASCII local part (RFC 6532 allows one; parse_address accepts it).
            local, _, domain = self.addr_spec.rpartition("@")
            return str(Address(display_name=self.display_name, username=local, domain=domain))
        return self.addr_spec


def parse_address(value: str, field: str) -> ParsedAddress:
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be an email address.", code="invalid_address", details={"field": field})
    return _parse_address(value, field)


# Parsing is pure and costs about a millisecond (the stdlib header parser, then email-validator),
# and every send parses the same few addresses again (its sender, twice); refusals raise and are
# not cached.
@functools.lru_cache(maxsize=4096)
def _parse_address(value: str, field: str) -> ParsedAddress:
    if not value.strip():
        raise BadRequest(f"{field} must be an email address.", code="invalid_address", details={"field": field})
    refuse_control_chars(value, field)
    if len(value) > MAX_ADDRESS_LENGTH:
        raise BadRequest(f"{field} is too long.", code="invalid_address", details={"field": field})
    try:
        header = default_policy.header_factory("to", value)
        addresses = list(header.addresses)
        # RFC 6532 (SMTPUTF8) allows a non-ASCII local part; the stdlib flags it as a defect.
        defects = [d for d in header.defects if not isinstance(d, NonASCIILocalPartDefect)]
    except Exception:  # the header parser raises on some malformed input instead of recording a defect
        addresses, defects = [], ["unparseable"]
    if defects or len(addresses) != 1 or not addresses[0].username or not addresses[0].domain:
        raise BadRequest(
            f"{field} is not a valid email address: {value!r}.",
            code="invalid_address",
            details={"field": field, "value": value},
        )
    addr = addresses[0]
    spec = f"{addr.username}@{addr.domain}"
    problem = _addr_spec_problem(spec)
    if problem is not None:
        raise BadRequest(
            f"{field} is not a valid email address: {problem}",
            code="invalid_address",
            details={"field": field, "value": value},
        )
    return ParsedAddress(display_name=addr.display_name or "", addr_spec=spec)


_SPECIAL_USE = "special-use or reserved"


def _validate(spec: str) -> str | None:
    try:
        validate_email(spec, check_deliverability=False, allow_smtputf8=True, globally_deliverable=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


def _addr_spec_problem(spec: str) -> str | None:
    """Why an addr-spec is invalid, or None; special-use domains (.test, localhost, ...) are valid.

    A self-hosted server serves such domains, but email-validator refuses them, and it does so in
    the middle of its checks: the IDNA round trip and the total length (RFC 5321: 254 octets) come
    after that verdict and would be skipped. So a special-use address is checked again with a
    stand-in domain that differs only in its last letter (`x.test` -> `x.tesq`), which runs every
    remaining check and gives the same answer for everything but the special-use verdict.
    """
    problem = _validate(spec)
    if problem is None or _SPECIAL_USE not in problem:
        return problem
    local, _, domain = spec.rpartition("@")
    stand_in = domain[:-1] + ("x" if domain[-1:].lower() == "q" else "q")
    problem = _validate(f"{local}@{stand_in}")
    if problem is None or _SPECIAL_USE in problem:
        return None
    return problem


def normalized_or_none(value: str) -> str | None:
    """The comparable form of an address found in mail (lower-case domain), or None when it is
    not a valid address: received mail may carry anything, and that must not raise."""
    try:
        return parse_address(value, "address").normalized
    except BadRequest:
        return None


def parse_address_list(value: str | list[str] | None, field: str, *, required: bool) -> list[ParsedAddress]:
    """One address or a list of them (the API reference: `to`, `cc`, `bcc`)."""
    if value is None:
        value = []
    if not isinstance(value, (str, list, tuple)):
        raise BadRequest(
            f"{field} must be an address or a list of addresses.", code="invalid_address", details={"field": field}
        )
    items = [value] if isinstance(value, str) else list(value)
    if required and not items:
        raise BadRequest(f"{field} needs at least one address.", code="missing_field", details={"field": field})
    if len(items) > MAX_RECIPIENTS:
        raise BadRequest(
            f"{field} has more than {MAX_RECIPIENTS} addresses.", code="too_many_recipients", details={"field": field}
        )
    return [parse_address(v, f"{field}[{i}]" if not isinstance(value, str) else field) for i, v in enumerate(items)]


def normalize_mailbox_address(value: str) -> str:
    """A hosted mailbox is a bare address; stored with its domain lower-cased."""
    parsed = parse_address(value, "address")
    # Anything but the bare addr-spec (a display name, angle brackets, a comment, group syntax
    # around it) is refused rather than silently dropped.
    if parsed.display_name or value.strip() != parsed.addr_spec:
        raise BadRequest(
            "A mailbox address is a bare address (local@domain): no display name, brackets, comment or group.",
            code="invalid_address",
            details={"field": "address", "value": value},
        )
    return parsed.normalized
