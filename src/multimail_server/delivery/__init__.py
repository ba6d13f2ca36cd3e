"""Getting mail out: transports (capture into the store, an SMTP relay) and the signing of outbound
bytes (DKIM with the domain's key, the X-MultiMail-Identity claim with the server's key, both kept
in the store). Used by the delivery worker (services/delivery.py); built on mail/ and store/."""
