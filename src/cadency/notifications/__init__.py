"""Emails: what each outbox event tells whom (messages.py), in their language, and the
dispatcher that delivers them over SMTP or into the built-in dev mailbox (dispatcher.py)."""
