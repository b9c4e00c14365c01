"""Saved views of index pages: filters, columns and sort, private to a user or shared."""
