"""Payment links (a hosted checkout for chosen line items) and converting quotes and deals into
subscriptions or an invoice: the places where one purchase becomes several subscriptions by the
grouping rule (SPEC §4, §6)."""
