"""The account's own plan (SPEC §9): the operator account sells plans to the merchant accounts
with the same products, subscriptions and portal; plan limits and paid seats."""
