"""The schema stays ready to be distributed by account (PostgreSQL with Citus, docs/scaling.md):
every tenant table carries `account_id`, and every unique constraint and every foreign key
between tenant tables includes it — or is listed below with the reason it may not.

Citus shards a distributed table by one column and enforces a unique constraint or a foreign
key only within a shard: a UNIQUE or PRIMARY KEY must contain the distribution column, and a
foreign key between two distributed tables must join them on it (co-location). The lists
below are what would still need `account_id` before distributing (docs/scaling.md lists them);
this test fails on any new table, unique constraint or foreign key that breaks the rule
without an entry here, and on an entry that no longer matches anything."""

from __future__ import annotations

from sqlalchemy import ForeignKeyConstraint, String, Table, UniqueConstraint

from cadency.models import Base

DISTRIBUTION_COLUMN = "account_id"

# Tables without `account_id`: not per-account data, or the distribution key's own table.
GLOBAL_TABLES = {
    # The tenants themselves; `accounts.id` is the value every `account_id` holds (distributed
    # on `id`, co-located with the rest, or a reference table).
    "accounts": "the distribution key's own table",
    # One row: the last account ID handed out, so a deleted account's ID is never reused.
    "account_id_counter": "installation-wide counter (one row)",
    # The link-signing secret every server of the installation shares.
    "installation_secrets": "installation-wide secret",
    # Keyed by API key hash, e-mail or client address, bumped before the request is resolved
    # to an account (kit/throttle.py).
    "rate_limit_counters": "installation-wide rate-limit counters",
    # The operator's plans, read by every account (its limits, the plan page): a small table
    # shared by all tenants, a reference table in Citus. Its owner column is
    # `operator_account_id`.
    "plans": "the operator's plans, read by every tenant (reference table)",
}

# Unique constraints (primary keys and unique indexes included) on tenant tables without
# `account_id`, by (table, columns). Each is unique across the installation by construction,
# but Citus still requires `account_id` in it on a distributed table.
#
# Not listed: a primary key `id` that is a String, made by `kit.ids.new_id` (time plus 80
# random bits; see `_is_random_string_id`): unique across shards by construction. Citus would
# still need it as (account_id, id).
UNIQUE_WITHOUT_ACCOUNT = {
    # Integer IDs from one sequence (autoincrement), unique installation-wide.
    ("associations", ("id",)): "sequence ID",
    ("email_deliveries", ("id",)): "sequence ID",
    ("mailbox_messages", ("id",)): "sequence ID",
    ("property_definitions", ("id",)): "sequence ID",
    ("users", ("id",)): "sequence ID",
    # Secrets looked up before the account is known (API key, web session, password reset):
    # the hash of a random token; these lookups would cross shards.
    ("api_keys", ("key_hash",)): "hash of a random secret, looked up without an account",
    ("user_sessions", ("token_hash",)): "hash of a random secret, looked up without an account",
    ("password_resets", ("token_hash",)): "hash of a random secret, looked up without an account",
    # A record's property value: `object_id` is the record's random ID.
    ("property_values", ("object_id", "name")): "object_id is a random record ID",
    # The outbox key is written as "<account_id>:<key>" (kit/outbox.py): per account in value.
    ("outbox_messages", ("dedup_key",)): "the key's text starts with the account ID",
    # Derived from the invoice's random ID and the attempt number.
    ("payments", ("idempotency_key",)): "made from a random invoice ID",
    # Exactly-once backstops keyed by a random parent ID (subscription, outbox message,
    # webhook endpoint, workflow).
    ("invoices", ("subscription_id", "cycle_period_start")): "subscription_id is random",
    ("email_deliveries", ("outbox_message_id", "kind", "recipient")): "random outbox message ID",
    ("webhook_deliveries", ("endpoint_id", "event_id")): "random endpoint and event IDs",
    ("workflow_enrollments", ("workflow_id", "record_id", "trigger_key")): "random workflow ID",
}

# Foreign keys without `account_id` on both sides, by (table, columns, referred table). A
# foreign key from `account_id` to `accounts.id` is the distribution column on both sides and
# needs no entry.
FOREIGN_KEYS_WITHOUT_ACCOUNT = {
    # The operator bills the other accounts: these rows point into the operator's account
    # (another tenant), by design.
    ("account_plans", ("operator_account_id",), "accounts"): "the operator, another tenant",
    ("account_plans", ("contact_id",), "contacts"): "the operator's contact for the account",
    ("account_plans", ("subscription_id",), "subscriptions"): "the operator's subscription",
    ("plans", ("operator_account_id",), "accounts"): "the plans' owner",
    # A reference table (plans) pointing at a distributed one: Citus refuses it.
    ("plans", ("monthly_product_id",), "products"): "reference table to the operator's product",
    ("plans", ("yearly_product_id",), "products"): "reference table to the operator's product",
    # Within one account by the code's rules, but joined on the random ID alone.
    ("deals", ("company_id",), "companies"): "same account, joined on the random ID",
    ("deals", ("contact_id",), "contacts"): "same account, joined on the random ID",
    ("email_deliveries", ("outbox_message_id",), "outbox_messages"): "same account",
    ("exports", ("requested_by_user_id",), "users"): "same account",
    ("invoice_lines", ("invoice_id",), "invoices"): "same account",
    ("line_items", ("deal_id",), "deals"): "same account",
    ("line_items", ("product_id",), "products"): "same account",
    ("line_items", ("quote_id",), "quotes"): "same account",
    ("line_items", ("subscription_id",), "subscriptions"): "same account",
    ("line_items", ("tax_rate_id",), "tax_rates"): "same account",
    ("mrr_movements", ("subscription_id",), "subscriptions"): "same account",
    ("password_resets", ("user_id",), "users"): "same account",
    ("payment_link_items", ("payment_link_id",), "payment_links"): "same account",
    ("payment_link_items", ("product_id",), "products"): "same account",
    ("payment_link_items", ("tax_rate_id",), "tax_rates"): "same account",
    ("payment_link_purchases", ("payment_link_id",), "payment_links"): "same account",
    ("payment_links", ("deal_id",), "deals"): "same account",
    ("payment_methods", ("contact_id",), "contacts"): "same account",
    ("payments", ("invoice_id",), "invoices"): "same account",
    ("products", ("fallback_product_id",), "products"): "same account",
    ("quotes", ("company_id",), "companies"): "same account",
    ("quotes", ("contact_id",), "contacts"): "same account",
    ("quotes", ("deal_id",), "deals"): "same account",
    ("refunds", ("payment_id",), "payments"): "same account",
    ("saved_views", ("owner_user_id",), "users"): "same account",
    ("seat_assignments", ("user_id",), "users"): "same account",
    ("segments", ("created_by_user_id",), "users"): "same account",
    ("subscription_events", ("subscription_id",), "subscriptions"): "same account",
    ("subscriptions", ("company_id",), "companies"): "same account",
    ("subscriptions", ("contact_id",), "contacts"): "same account",
    ("subscriptions", ("owner_id",), "users"): "same account",
    ("subscriptions", ("payment_method_id",), "payment_methods"): "same account",
    ("user_sessions", ("user_id",), "users"): "same account",
    ("webhook_deliveries", ("endpoint_id",), "webhook_endpoints"): "same account",
    ("webhook_deliveries", ("event_id",), "events"): "same account",
    ("workflow_enrollments", ("workflow_id",), "workflows"): "same account",
}


def _tables() -> list[Table]:
    return sorted(Base.metadata.tables.values(), key=lambda table: table.name)


def _is_tenant(table: Table) -> bool:
    return DISTRIBUTION_COLUMN in table.c


def _is_random_string_id(table: Table, columns: tuple[str, ...]) -> bool:
    """The primary key is `id` alone, a String (the record IDs of `kit.ids.new_id`)."""
    primary_key = tuple(column.name for column in table.primary_key.columns)
    return (
        columns == ("id",) == primary_key
        and isinstance(table.c.id.type, String)
        and table.c.id.type.length is not None
        and table.c.id.type.length >= 27  # prefix, "_" and 26 characters of time and randomness
    )


def _unique_keys(table: Table) -> set[tuple[str, ...]]:
    """The column tuples that the database keeps unique: primary key, unique constraints (and
    `unique=True` columns), unique indexes."""
    keys = {tuple(column.name for column in table.primary_key.columns)}
    keys |= {
        tuple(column.name for column in constraint.columns)
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    }
    keys |= {
        tuple(column.name for column in index.columns if hasattr(column, "name"))
        for index in table.indexes
        if index.unique
    }
    return keys - {()}


def _unique_keys_without_account() -> set[tuple[str, tuple[str, ...]]]:
    return {
        (table.name, columns)
        for table in _tables()
        if _is_tenant(table)
        for columns in _unique_keys(table)
        if DISTRIBUTION_COLUMN not in columns and not _is_random_string_id(table, columns)
    }


def _foreign_keys_without_account() -> set[tuple[str, tuple[str, ...], str]]:
    found = set()
    for table in _tables():
        for constraint in table.constraints:
            if not isinstance(constraint, ForeignKeyConstraint):
                continue
            referred = constraint.referred_table
            pairs = {(element.parent.name, element.column.name) for element in constraint.elements}
            if referred.name == "accounts":
                co_located = pairs == {(DISTRIBUTION_COLUMN, "id")}
            else:
                co_located = (
                    _is_tenant(table)
                    and _is_tenant(referred)
                    and (DISTRIBUTION_COLUMN, DISTRIBUTION_COLUMN) in pairs
                )
            if not co_located:
                columns = tuple(element.parent.name for element in constraint.elements)
                found.add((table.name, columns, referred.name))
    return found


def test_every_table_holding_account_data_has_account_id() -> None:
    without = {table.name for table in _tables() if not _is_tenant(table)}
    assert without - GLOBAL_TABLES.keys() == set(), (
        "Tables without account_id: add the column, or list the table in GLOBAL_TABLES with "
        "the reason it holds no account's data"
    )
    assert GLOBAL_TABLES.keys() - without == set(), "GLOBAL_TABLES names tables that changed"


def test_every_unique_constraint_includes_account_id_or_is_listed() -> None:
    found = _unique_keys_without_account()
    assert found - UNIQUE_WITHOUT_ACCOUNT.keys() == set(), (
        "Unique constraints without account_id (Citus enforces uniqueness only per shard): "
        "include it, or list them in UNIQUE_WITHOUT_ACCOUNT with the reason"
    )
    assert UNIQUE_WITHOUT_ACCOUNT.keys() - found == set(), "stale UNIQUE_WITHOUT_ACCOUNT entries"


def test_every_foreign_key_joins_on_account_id_or_is_listed() -> None:
    found = _foreign_keys_without_account()
    assert found - FOREIGN_KEYS_WITHOUT_ACCOUNT.keys() == set(), (
        "Foreign keys that do not join on account_id (Citus needs it on both sides): include "
        "it, or list them in FOREIGN_KEYS_WITHOUT_ACCOUNT with the reason"
    )
    assert FOREIGN_KEYS_WITHOUT_ACCOUNT.keys() - found == set(), (
        "stale FOREIGN_KEYS_WITHOUT_ACCOUNT entries"
    )


def test_the_rules_see_the_constraints_they_judge() -> None:
    # Guards the checks above against passing on nothing: what they read from the metadata.
    users = Base.metadata.tables["users"]
    assert ("account_id", "email") in _unique_keys(users)
    assert ("users", ("id",)) in _unique_keys_without_account()
    assert ("invoices", ("subscription_id", "cycle_period_start")) in (
        _unique_keys_without_account()
    )
    assert _is_random_string_id(Base.metadata.tables["subscriptions"], ("id",))
    assert not _is_random_string_id(users, ("id",))
    foreign_keys = _foreign_keys_without_account()
    assert ("line_items", ("subscription_id",), "subscriptions") in foreign_keys
    # account_id → accounts.id is co-located by definition.
    assert not any(
        columns == ("account_id",) and referred == "accounts"
        for _, columns, referred in foreign_keys
    )
