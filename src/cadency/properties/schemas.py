"""API shapes of custom property definitions, and the `properties` map other records carry."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, PlainValidator, StrictBool, StrictStr, WithJsonSchema

from cadency.kit.i18n import N_
from cadency.kit.schemas import Name, OptionalText, OutputModel, SingleLineText, StrictModel
from cadency.properties.models import PropertyDefinition

ObjectType = Literal["subscriptions", "contacts", "companies"]
FieldType = Literal[
    "text", "textarea", "number", "date", "datetime", "select", "radio", "checkboxes", "boolean"
]

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,99}$"
MAX_OPTIONS = 1000
SENSITIVE_DESCRIPTION = (
    "Values read '••••••' for users and API keys without the properties.view_sensitive "
    "permission, who cannot filter or sort by the property either (403); they may still write it"
)

PropertyName = Annotated[
    StrictStr,
    Field(pattern=NAME_PATTERN, examples=["tier"], description="Internal name; cannot change"),
]
GroupName = Annotated[SingleLineText, Field(min_length=1, max_length=100)]
OptionValue = Annotated[
    SingleLineText,
    Field(
        min_length=1,
        max_length=255,
        pattern=r"^[^;]+$",
        description="Stored value; no ';' (it separates checkbox values)",
    ),
]


def _rule_number(value: Any) -> int | float | str:
    # One validator rather than a union, so an error names "rules.min", not "rules.min.int".
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(N_("must be a number or a decimal string"))
    return value


# A bound: a JSON number or a decimal string; checked (finite, ≤ 10 decimals) in the service.
RuleNumber = Annotated[
    int | float | str,
    PlainValidator(_rule_number),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string"}]}),
]

# What contacts, companies and subscriptions accept and return as `"properties"`: values are
# checked against the definitions by `properties.service.set_values`.
PropertyValues = Annotated[
    dict[StrictStr, Any],
    Field(description="Custom property values by internal name; null removes a value"),
]


class PropertyOption(StrictModel):
    value: OptionValue
    label: Name


class PropertyRules(StrictModel):
    required: StrictBool = Field(False, description="A value is needed on create; null refused")
    unique: StrictBool = Field(
        False, description="No two records share a value (text, textarea, number, date, datetime)"
    )
    min: RuleNumber | None = Field(
        None, description="number: lowest value; text/textarea: fewest characters"
    )
    max: RuleNumber | None = Field(
        None, description="number: highest value; text/textarea: most characters"
    )
    # The length is checked with the syntax (properties.patterns), in one place.
    pattern: Annotated[StrictStr, Field(min_length=1)] | None = Field(
        None,
        description="text/textarea: a regular expression (RE2 syntax, at most 500 characters) "
        "the whole value must match",
    )


class PropertyCreate(StrictModel):
    name: PropertyName
    label: Name
    group: GroupName | None = Field(None, description="Default: '<object>_information'")
    description: OptionalText | None = None
    field_type: FieldType
    options: Annotated[list[PropertyOption], Field(max_length=MAX_OPTIONS)] = Field(
        default_factory=list, description="For select, radio and checkboxes (at least one)"
    )
    rules: PropertyRules = Field(default_factory=PropertyRules)
    sensitive: StrictBool = Field(False, description=SENSITIVE_DESCRIPTION)


class PropertyUpdate(StrictModel):
    """`rules` merges: only the rules sent change. Name and field type cannot change."""

    label: Name | None = None
    group: GroupName | None = None
    description: OptionalText | None = None
    options: Annotated[list[PropertyOption], Field(max_length=MAX_OPTIONS)] | None = None
    rules: PropertyRules | None = None
    sensitive: StrictBool | None = Field(None, description=SENSITIVE_DESCRIPTION)


class PropertyOptionOut(BaseModel):
    value: str
    label: str


class PropertyRulesOut(BaseModel):
    required: bool
    unique: bool
    min: int | float | None
    max: int | float | None
    pattern: str | None


def json_number(value: Decimal) -> int | float:
    """A stored decimal as JSON wants it: an integer when it is whole."""
    return int(value) if value == value.to_integral_value() else float(value)


def _bound(text: str | None) -> int | float | None:
    return None if text is None else json_number(Decimal(text))


class PropertyOut(OutputModel):
    object: Literal["property"] = "property"
    object_type: ObjectType
    name: str
    label: str
    group: str
    description: str | None
    field_type: FieldType
    options: list[PropertyOptionOut]
    rules: PropertyRulesOut
    sensitive: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, definition: PropertyDefinition) -> PropertyOut:
        rules = definition.rules
        return cls(
            object_type=definition.object_type,
            name=definition.name,
            label=definition.label,
            group=definition.group_name,
            description=definition.description,
            field_type=definition.field_type,
            options=[PropertyOptionOut(**option) for option in definition.options],
            rules=PropertyRulesOut(
                required=bool(rules.get("required")),
                unique=bool(rules.get("unique")),
                min=_bound(rules.get("min")),
                max=_bound(rules.get("max")),
                pattern=rules.get("pattern"),
            ),
            sensitive=definition.sensitive,
            created_at=definition.created_at,
            updated_at=definition.updated_at,
        )


class PropertyDeleted(BaseModel):
    object: Literal["property"] = "property"
    object_type: ObjectType
    name: str
    deleted: Literal[True] = True
