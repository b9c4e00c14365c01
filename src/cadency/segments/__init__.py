"""Segments (SPEC §8): saved, dynamic lists of subscriptions, contacts or companies, defined in
the one filter language and evaluated when read."""
