"""The buyer's billing settings and portal (SPEC §9), and what the merchant lets buyers do there."""
