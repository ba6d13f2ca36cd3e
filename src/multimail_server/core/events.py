"""The event vocabulary, declared once: every state change clients can subscribe to."""

EVENT_TYPES: dict[str, str] = {
    "message.received": "A message arrived in a hosted mailbox (SMTP or local delivery).",
    "message.spam": "A message arrived and its spam verdict put it in quarantine (flagged or quarantined): it is not in check_inbox and no message.received is sent for it unless not_spam releases it.",
    "message.pending": "An outbound message is held until a human approves it.",
    "message.queued": "An outbound message was accepted and waits for delivery.",
    "message.scheduled": "An outbound message waits for its send_at (scheduled send; approved first under gate_first, or needing no approval).",
    "message.approved": "A human approved a held message; it is queued for delivery.",
    "message.rejected": "A human rejected a held message; it will never be sent.",
    "message.cancelled": "A message was withdrawn before it went out.",
    "message.sent": "A message was handed to its recipients' servers (or captured, or delivered locally).",
    "message.delivered": "The receiving server confirmed delivery.",
    "message.failed": "Delivery failed permanently.",
    "message.bounced": "A report came back: the message could not be delivered to a recipient (`recipients` says who, why, and whether the address is now suppressed).",
    "message.complained": "A recipient reported the message as spam (ARF); the address is on the mailbox's suppression list.",
    "message.review_requested": "A message went out under `monitored` oversight; a human should review it.",
    "decision.received": "A reply to decide_email chose one of the options.",
    "decision.unclear": "A reply to decide_email could not be matched to exactly one option.",
    "decision.unverified": "A reply to decide_email did not decide; `reason` says why (core/decision_proof.py).",
    "webhook.test": "Sent by test_webhook to check that an endpoint receives and verifies events.",
    "webhook.disabled": "An endpoint was disabled after too many consecutive failed deliveries.",
}
