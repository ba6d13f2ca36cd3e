"""Email as bytes and rules, with no store or web imports (DNS only through resolvers the caller
can replace): a codec library the services, the SMTP receiver (smtp/) and the delivery worker
(delivery/) are built on. One concern a module:

- compose.py: the RFC 5322/MIME message for a stored outbound message.
- parse.py: received bytes into `ParsedMail` (`parse_message`), built on text.py (one-line values,
  line endings), charsets.py, headers.py (encoded-words, address lists), html.py (text from HTML,
  sanitising, the approver's safe rendering) and automatic.py (auto-replies, bounces, lists).
- replies.py: the new text of a reply and the decision it carries.
- authentication.py: SPF, DKIM and DMARC for one inbound message, from spf.py, dkim.py, dmarc.py
  (organisational domains, alignment), domains.py (IDNA form, the From domain), dns.py (resolvers,
  the per-message deadline) and auth_results.py (the Authentication-Results header).
- dkim.py: DKIM keys, signing, and the one loop that verifies signatures.
- identity.py: the X-MultiMail-Identity claim (a JWS) that binds a sent message to its oversight.
- decision_html.py: the HTML alternative of a decide_email question (a Jinja2 template).
"""
