"""Webhooks: Standard Webhooks signing, the receiver-address guard and the delivery worker."""
