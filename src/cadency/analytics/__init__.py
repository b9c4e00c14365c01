"""Recurring-revenue analytics (SPEC §10): the MRR movements ledger and the series read from it."""
