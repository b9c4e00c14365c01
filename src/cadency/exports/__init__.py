"""Exports (SPEC §7): subscriptions, contacts and companies as CSV or XLSX files, built in the
background by the worker and downloaded for 30 days."""
