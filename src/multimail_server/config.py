"""Settings from flags, environment (`MULTIMAIL_*`) and defaults, in one pydantic-settings class."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROLES = ("api", "smtp", "worker")  # what `serve --role` may run; "all" is every one


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MULTIMAIL_", extra="ignore")

    data_dir: Path = Field(Path("multimail-data"), description="Where the embedded database and files live.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in data_dir.")
    host: str = "127.0.0.1"
    http_port: int = 8025
    smtp_port: int = 2525
    smtp_enabled: bool = True
    reuse_port: bool = Field(
        False, description="Bind the API port with SO_REUSEPORT, so several `serve --role api` processes on one machine "
        "share one port (the kernel spreads connections among them). Linux; PostgreSQL for more than one process.",
    )
    role: str = Field(
        "all", description="What this `serve` process runs: api (HTTP and long-polls), smtp (the inbound receiver), "
        "worker (outbox delivery, webhooks, the periodic jobs), or all; several comma-separated (api,worker). "
        "Any number of each against one PostgreSQL; see docs/architecture.md \"Running several processes\".",
    )
    hostname: str = Field("localhost", description="Name this server gives itself in SMTP and Message-IDs.")
    outbound: str = Field("capture", description="capture: store what would be sent; nothing leaves the machine.")
    smtp_relay: str | None = Field(
        None, description="Outbound relay, smtp://user:pass@host:port (STARTTLS) or smtps:// (TLS); sets outbound=smtp."
    )
    smtp_tls_cert: Path | None = Field(None, description="Certificate (PEM) for inbound STARTTLS.")
    smtp_tls_key: Path | None = Field(None, description="Private key (PEM) for inbound STARTTLS.")
    smtp_auth_required: bool = Field(False, description="Require SMTP AUTH (an API key as password) for inbound submission.")
    decisions_require_verified_sender: bool = Field(
        False, description="Strict decisions: a reply to decide_email decides only when its sender passes DMARC; "
        "by default a reply sent to the question's private reply address also proves itself (core/decision_proof.py).",
    )
    decision_link_ttl_seconds: int = Field(7 * 24 * 3600, description="How long one-click decision links stay valid.")
    # Approval policies (core/approval_policy.py) -------------------------------------------
    allow_approve_on_timeout: bool = Field(
        False, description="Allow mailboxes (and admin calls) to choose on_timeout: approve, so a held message leaves "
        "unapproved when nobody decides in time. Off: such a policy is refused with a clear error.")
    approval_link_ttl_seconds: int = Field(3 * 24 * 3600, description="How long the approval link in an approver's notice stays valid.")
    approval_poll_seconds: float = Field(5.0, description="How often the approval worker looks for due timeouts and digests.")
    digest_period_seconds: int | None = Field(
        None, description="Testing only: the length of every digest period in seconds, instead of an hour or a day.")
    max_request_bytes: int = Field(35 * 1024 * 1024, description="Largest HTTP request body (base64 attachments included).")
    max_message_bytes: int = Field(25 * 1024 * 1024, description="Largest message: body plus decoded attachments.")
    decided_visible_seconds: int = Field(24 * 3600, description="How long list_pending keeps decided messages.")
    delivery_poll_seconds: float = 1.0
    delivery_lease_seconds: int = 120
    webhook_retry_schedule: list[float] = Field(
        [2, 10, 60, 300, 1800, 3600, 7200, 14400, 28800, 28800],
        description="Seconds before each webhook retry (with ±20% jitter): seconds at first, about a day in all.",
    )
    webhook_timeout_seconds: float = 10.0
    webhook_allow_private: bool | None = Field(
        None, description="Allow receivers on loopback/private addresses; default: only while the server listens on loopback."
    )
    webhook_disable_after_failures: int = Field(5, description="Disable an endpoint after this many failed deliveries in a row.")
    webhook_poll_seconds: float = 1.0
    public_url: str | None = Field(None, description="Base URL clients use (attachment links); default from host/port.")
    dns_overrides: Path | None = Field(
        None,
        description="Testing/offline only: a JSON file of DNS answers ({name: [TXT, ...]} or {name: {TXT|A|AAAA|MX: [...]}}) "
        "used instead of real DNS for inbound SPF/DKIM/DMARC checks; names not listed do not exist.",
    )
    identity_test_issuers: dict[str, str] = Field(
        {},
        description="Testing only: {mail domain: origin}, e.g. {\"a.test\": \"http://127.0.0.1:8025\"}: the one issuer whose "
        "published identity key is trusted for claims from that domain, fetched even from a loopback or private address. "
        "Empty (the default): a claim's issuer must be an https origin in the From domain's organisation, fetched only "
        "from public addresses.",
    )
    delivery_retry_schedule: list[float] = Field(
        [5, 30, 120, 600, 1800, 3600, 7200, 14400],
        description="Seconds before each outbound delivery retry after a temporary failure; the message fails after the last.",
    )
    smtp_relay_ca_file: Path | None = Field(None, description="CA bundle (PEM) to verify the outbound relay's TLS certificate; default: system CAs.")
    smtp_relay_timeout_seconds: float = Field(60.0, description="Timeout for each command to the outbound SMTP relay.")

    # Spam (services/spam.py, core/spam.py) ----------------------------------------------------
    rspamd_url: str | None = Field(
        None, description="rspamd's normal worker (e.g. http://127.0.0.1:11333): every inbound message is checked there "
        "(POST /checkv2). Unset: the built-in baseline verdict (authentication results and a few heuristics). When "
        "rspamd does not answer, the message is accepted with the baseline verdict.")
    rspamd_controller_url: str | None = Field(
        None, description="rspamd's controller, where report_spam / not_spam train it (/learnspam, /learnham); "
        "default: rspamd_url's host on port 11334.")
    rspamd_password: str | None = Field(None, description="The controller's password (sent as the Password header), if it has one.")
    rspamd_timeout_seconds: float = Field(5.0, gt=0, le=60, description="Timeout of each call to rspamd.")
    spam_threshold: float = Field(
        5.0, description="The baseline score at which inbound mail is flagged as spam (twice it, and at least 5 more, quarantines), unless "
        "the mailbox sets its own spam_threshold.")

    prefect_api_url: str | None = Field(
        None, description="The Prefect API this server calls to resume paused flow runs and start deployment runs "
        "(e.g. http://127.0.0.1:4200/api, or a Prefect Cloud workspace URL). Clients never choose it.",
    )
    prefect_api_key: str | None = Field(None, description="API key for prefect_api_url (Prefect Cloud); sent as a Bearer token.")
    prefect_events: bool = Field(False, description="Emit every event into the Prefect API's event stream "
                                 "(multimail.message.received, ...), for automations and deployment triggers.")
    prefect_timeout_seconds: float = Field(10.0, description="Timeout of each call to the Prefect API.")
    prefect_ui_url: str | None = Field(
        None, description="The Prefect UI's base URL (e.g. http://127.0.0.1:4200): the dashboard links each held "
        "message to the flow run that queued it, at <url>/runs/flow-run/<id>.")
    prefect_resume_retry_schedule: list[float] = Field(
        [0.1, 0.2, 0.4, 0.8, 1.5, 3, 5, 10, 30, 60, 300, 900, 1800, 3600, 3600, 3600],
        description="Seconds before each retry of a resume the flow run was not ready for (not paused yet, Prefect "
        "unreachable): quick at first, since a run registers its wait just before pausing; about 4 h in all.",
    )
    prefect_poll_seconds: float = 1.0
    strict_responses: bool = Field(
        False, description="Answer 500 when a response's shape differs from its declared model (client/types.py); "
        "the test suites turn it on. Off, such an answer is sent as built and the difference is logged.",
    )

    # Storage and retention (store/blobs.py, services/retention.py) ---------------------------
    blob_store: str | None = Field(
        None, description="Where raw messages and attachment bytes live: unset keeps them in the database; an fsspec "
        "URL (file:///srv/multimail-blobs, or s3://bucket/prefix with `pip install \"multimail-server[s3]\"`) keeps "
        "them there, content-addressed, with their sha256 and size in the database.")
    blob_gc_grace_seconds: float = Field(
        3600, ge=0, description="Age before an unreferenced blob may be removed by the purge job or `multimail blobs gc` "
        "(longer than any transaction: a blob is written just before the commit that references it).")
    retention_poll_seconds: float = Field(600, gt=0, description="How often the worker role's purge job looks for "
                                          "content past its mailbox's retention settings.")
    retention_batch: int = Field(200, gt=0, description="Messages purged per transaction by the purge job.")

    # Operating ---------------------------------------------------------------------------------
    # GET /metrics answers an admin key, or this separate token (for a scraper that should hold
    # no key able to change anything); GET /health and GET /ready need no key.
    metrics_token: str | None = Field(
        None, description="A bearer token that may read GET /metrics (besides admin keys), for Prometheus scrapers.")
    # Behind a reverse proxy every request's peer is the proxy, so per-IP limits would put every
    # client in one budget (one guesser would lock everyone out). The proxy's X-Forwarded-For is
    # believed only from these peers (uvicorn reads it right to left and takes the first address
    # that is not one of them, so a client cannot prepend its own); from anyone else it is ignored.
    forwarded_allow_ips: str = Field(
        "127.0.0.1,::1", description="Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For "
        "names the client (default: a proxy on this machine); empty: the peer is always the client; * trusts anyone.",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text: one readable line per event; json: one JSON object per line, with the same fields.")

    # Rate limits and long-polls -------------------------------------------------------------
    # Limits are `limits` strings ("600/minute", "10 per 10 minutes"). Counters live in
    # rate_limit_storage: in memory per process by default, or a shared `limits` storage URI
    # (redis://127.0.0.1:6379) so several server processes enforce one budget.
    rate_limit_enabled: bool = Field(True, description="Master switch: false turns every rate limit (API and SMTP) off.")
    rate_limit_storage: str = Field("memory://", description="`limits` storage URI for the counters, e.g. redis://host:6379.")
    rate_limit_per_key: str = Field("600/minute", description="Requests per API key (authenticated /v1 calls).")
    rate_limit_per_ip: str = Field("300/minute", description="Requests per client IP on /v1 calls without a valid key.")
    rate_limit_auth_failures: str = Field("20/minute", description="Requests with a wrong API key per IP; then 429 even for a right one.")
    rate_limit_verify: str = Field("30/minute", description="verify_message calls per IP (no key needed, costly checks).")
    rate_limit_links: str = Field("30/minute", description="One-click decision link requests (/d/{token}, GET and POST) per IP.")
    rate_limit_smtp_concurrent: int = Field(20, description="Open SMTP connections per IP at once; more are refused with 421.")
    rate_limit_smtp_connections: str = Field("60/minute", description="New SMTP connections per IP.")
    rate_limit_smtp_auth_failures: str = Field("10 per 10 minutes", description="Failed SMTP AUTH per IP; then 421 and disconnect.")
    rate_limit_smtp_messages_per_ip: str = Field("120/minute", description="Messages accepted over SMTP per client IP.")
    rate_limit_smtp_messages_per_sender: str = Field("60/minute", description="Messages accepted over SMTP per envelope sender.")
    long_poll_max_per_key: int = Field(50, description="Open long-polls (wait > 0) per API key; more get 429 too_many_waits.")
    long_poll_max_total: int = Field(2000, description="Open long-polls per server process; more get 429 too_many_waits.")
    long_poll_fallback_seconds: float = Field(
        1.0, gt=0, description="While anyone waits, how often a long-poll checks for other processes' commits by "
        "polling; on PostgreSQL their NOTIFY wakes it at once, and this only bounds the delay of a lost notification.")

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: str) -> str:
        import ipaddress

        items = [item.strip() for item in value.split(",") if item.strip()]
        for item in items:
            if item != "*":
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(f"{item!r} is not an IP address or network (e.g. 10.0.0.0/8), nor *") from None
        return ",".join(items)

    @field_validator("rate_limit_per_key", "rate_limit_per_ip", "rate_limit_auth_failures", "rate_limit_verify",
                     "rate_limit_links", "rate_limit_smtp_connections", "rate_limit_smtp_auth_failures",
                     "rate_limit_smtp_messages_per_ip", "rate_limit_smtp_messages_per_sender")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        """A typo in a limit fails at start-up with the setting named, not at the first request."""
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '600/minute' or '10 per 10 minutes': {exc}") from None
        return value

    @field_validator("rspamd_url", "rspamd_controller_url")
    @classmethod
    def _rspamd_url(cls, value: str | None) -> str | None:
        """A typo in rspamd's address fails at start-up, not as a baseline verdict on every message."""
        from urllib.parse import urlsplit

        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL like http://127.0.0.1:11333")
        return value

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        """Canonical form: the roles run, sorted and comma-separated ("all" expanded)."""
        names = {part.strip().lower() for part in value.split(",") if part.strip()}
        unknown = sorted(names - set(ROLES) - {"all"})
        if unknown or not names:
            raise ValueError(f"unknown role {', '.join(unknown) or '(none)'}: choose from api, smtp, worker, all "
                             "(several comma-separated, e.g. api,worker)")
        return ",".join(sorted(set(ROLES) if "all" in names else names))

    @property
    def roles(self) -> frozenset[str]:
        """The roles this process runs: a subset of ROLES."""
        return frozenset(self.role.split(","))

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        from .store.engine import sqlite_url_for

        return sqlite_url_for(self.data_dir)

    def webhooks_may_reach_private(self) -> bool:
        if self.webhook_allow_private is not None:
            return self.webhook_allow_private
        import ipaddress

        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"

    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.http_port}").rstrip("/")
