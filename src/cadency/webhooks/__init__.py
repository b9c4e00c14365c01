"""Public events, webhook endpoints and their deliveries (API.md "Webhooks", SPEC §8)."""
