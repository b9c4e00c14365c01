"""HubSpot's request and response shapes (CRM v3 objects), in HubSpot's own camelCase names.

Inputs are strict like the rest of the API (an unknown field is an error), but list exactly the
fields HubSpot's official client sends.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, StrictStr

from cadency.kit.schemas import StrictModel

MAX_BATCH = 100
MAX_SEARCH_LIMIT = 200
MAX_PROPERTIES = 1000


def _scalar(value: Any) -> Any:
    # HubSpot takes property values as strings; numbers and booleans are written as strings.
    if value is not None and not isinstance(value, str | int | float | bool):
        raise ValueError("must be a string, a number, a boolean or null")
    return value


PropertyValue = Annotated[Any, BeforeValidator(_scalar)]
Properties = Annotated[dict[str, PropertyValue], Field(max_length=MAX_PROPERTIES)]
RecordId = Annotated[StrictStr, Field(min_length=1, max_length=320)]
Names = Annotated[list[Annotated[StrictStr, Field(max_length=200)]], Field(max_length=1000)]


class AssociationType(StrictModel):
    associationCategory: str | None = None
    associationTypeId: int | None = None


class AssociationTo(StrictModel):
    id: RecordId


class AssociationInput(StrictModel):
    to: AssociationTo
    types: list[AssociationType] = Field(default_factory=list, max_length=10)


class ObjectInput(StrictModel):
    """Create (`SimplePublicObjectInputForCreate`) or update (`SimplePublicObjectInput`)."""

    properties: Properties = Field(default_factory=dict)
    associations: list[AssociationInput] = Field(default_factory=list, max_length=100)
    objectWriteTraceId: str | None = None


class ObjectId(StrictModel):
    id: RecordId


class BatchReadInput(StrictModel):
    inputs: Annotated[list[ObjectId], Field(max_length=MAX_BATCH)]
    properties: Names = Field(default_factory=list)
    propertiesWithHistory: Names = Field(default_factory=list)
    idProperty: str | None = None


class BatchCreateInput(StrictModel):
    inputs: Annotated[list[ObjectInput], Field(max_length=MAX_BATCH)]


class UpdateInput(StrictModel):
    id: RecordId
    idProperty: str | None = None
    properties: Properties = Field(default_factory=dict)
    objectWriteTraceId: str | None = None


class BatchUpdateInput(StrictModel):
    inputs: Annotated[list[UpdateInput], Field(max_length=MAX_BATCH)]


class BatchArchiveInput(StrictModel):
    inputs: Annotated[list[ObjectId], Field(max_length=MAX_BATCH)]


class SearchFilter(StrictModel):
    propertyName: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    operator: StrictStr
    value: PropertyValue | None = None
    values: list[PropertyValue] | None = None
    highValue: PropertyValue | None = None


class SearchFilterGroup(StrictModel):
    filters: list[SearchFilter] = Field(default_factory=list, max_length=25)


class SearchSort(StrictModel):
    propertyName: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    direction: Literal["ASCENDING", "DESCENDING", "asc", "desc"] = "ASCENDING"


class SearchRequest(StrictModel):
    """`PublicObjectSearchRequest`. A sort is `{propertyName, direction}` or a property name
    (HubSpot's client types sorts as strings; `-name` sorts descending)."""

    filterGroups: list[SearchFilterGroup] = Field(default_factory=list, max_length=5)
    sorts: list[SearchSort | Annotated[StrictStr, Field(max_length=201)]] = Field(
        default_factory=list, max_length=5
    )
    query: Annotated[StrictStr, Field(max_length=1000)] | None = None
    properties: Names = Field(default_factory=list)
    limit: Annotated[int, Field(ge=1, le=MAX_SEARCH_LIMIT)] = 10
    after: Annotated[StrictStr, Field(max_length=20)] | None = None


# --------------------------------------------------------------------------- responses


class ErrorDetail(BaseModel):
    message: str
    # Where the problem is: a property name, or a path such as `inputs.1.email`.
    in_: str | None = Field(None, alias="in")


class ErrorOut(BaseModel):
    """HubSpot's error shape (hubspot/errors.py makes it)."""

    status: Literal["error"]
    message: str
    correlationId: str
    category: str
    errors: list[ErrorDetail] | None = None
    context: dict[str, list[str]] | None = None


class AssociatedId(BaseModel):
    id: str
    type: str


class AssociatedIds(BaseModel):
    results: list[AssociatedId]


class ObjectOut(BaseModel):
    """`SimplePublicObject(WithAssociations)`: every property value is a string or null."""

    id: str
    properties: dict[str, str | None]
    createdAt: str
    updatedAt: str
    archived: bool = False
    associations: dict[str, AssociatedIds] | None = None


class NextPage(BaseModel):
    after: str
    link: str | None = None


class Paging(BaseModel):
    next: NextPage


class CollectionOut(BaseModel):
    results: list[ObjectOut]
    paging: Paging | None = None


class SearchOut(BaseModel):
    total: int
    results: list[ObjectOut]
    paging: Paging | None = None


class BatchError(BaseModel):
    status: Literal["error"] = "error"
    category: str
    message: str
    context: dict[str, list[str]] = Field(default_factory=dict)


class BatchOut(BaseModel):
    status: Literal["COMPLETE"] = "COMPLETE"
    results: list[ObjectOut]
    requestedAt: str | None = None
    startedAt: str
    completedAt: str
    errors: list[BatchError] | None = None
    numErrors: int | None = None


class UpsertOut(ObjectOut):
    new: bool


class BatchUpsertOut(BaseModel):
    status: Literal["COMPLETE"] = "COMPLETE"
    results: list[UpsertOut]
    startedAt: str
    completedAt: str


# --------------------------------------------------------------------------- properties API

PropertyText = Annotated[StrictStr, Field(max_length=65_536)]


class OptionInput(StrictModel):
    """`OptionInput`: Cadency keeps `value` and `label`; the rest is accepted and not kept."""

    label: Annotated[StrictStr, Field(max_length=255)]
    value: Annotated[StrictStr, Field(max_length=255)]
    description: PropertyText | None = None
    displayOrder: int | None = None
    hidden: bool | None = None


Options = Annotated[list[OptionInput], Field(max_length=1000)]


class PropertyCreateInput(StrictModel):
    """`PropertyCreate`. `hasUniqueValue` is Cadency's `unique` rule; `hidden`,
    `displayOrder` and `formField` are accepted and not kept."""

    name: Annotated[StrictStr, Field(max_length=200)]
    label: Annotated[StrictStr, Field(max_length=255)]
    type: Annotated[StrictStr, Field(max_length=50)]
    fieldType: Annotated[StrictStr, Field(max_length=50)]
    groupName: Annotated[StrictStr, Field(max_length=100)] | None = None
    description: PropertyText | None = None
    options: Options = Field(default_factory=list)
    displayOrder: int | None = None
    hasUniqueValue: bool | None = None
    hidden: bool | None = None
    formField: bool | None = None
    externalOptions: bool | None = None
    calculationFormula: StrictStr | None = None
    referencedObjectType: StrictStr | None = None


class PropertyUpdateInput(StrictModel):
    """`PropertyUpdate`: label, description, group and options change; `type`/`fieldType`
    may be sent only as they are."""

    label: Annotated[StrictStr, Field(max_length=255)] | None = None
    description: PropertyText | None = None
    groupName: Annotated[StrictStr, Field(max_length=100)] | None = None
    options: Options | None = None
    type: Annotated[StrictStr, Field(max_length=50)] | None = None
    fieldType: Annotated[StrictStr, Field(max_length=50)] | None = None
    displayOrder: int | None = None
    hidden: bool | None = None
    formField: bool | None = None
    calculationFormula: StrictStr | None = None


class OptionOut(BaseModel):
    label: str
    value: str
    description: str = ""
    displayOrder: int
    hidden: bool = False


class ModificationMetadata(BaseModel):
    archivable: bool
    readOnlyDefinition: bool
    readOnlyValue: bool
    readOnlyOptions: bool | None = None


class PropertyOut(BaseModel):
    """`Property`: a built-in (`hubspotDefined`, read-only definition) or a custom property."""

    name: str
    label: str
    type: str
    fieldType: str
    description: str
    groupName: str
    options: list[OptionOut]
    displayOrder: int
    calculated: bool = False
    externalOptions: bool = False
    hasUniqueValue: bool = False
    hidden: bool = False
    formField: bool
    hubspotDefined: bool | None = None
    modificationMetadata: ModificationMetadata
    createdAt: str | None = None
    updatedAt: str | None = None
    archived: bool = False


class PropertiesOut(BaseModel):
    results: list[PropertyOut]


class PropertyGroupOut(BaseModel):
    name: str
    label: str
    displayOrder: int
    archived: bool = False


class PropertyGroupsOut(BaseModel):
    results: list[PropertyGroupOut]


# --------------------------------------------------------------------------- associations v4


class AssociationTypeOut(BaseModel):
    """One type of a link: HubSpot's default type (label null) or a labelled one."""

    category: Literal["HUBSPOT_DEFINED", "USER_DEFINED"]
    typeId: int
    label: str | None = None


class AssociatedObject(BaseModel):
    toObjectId: str
    associationTypes: list[AssociationTypeOut]


class AssociationsOut(BaseModel):
    results: list[AssociatedObject]
    paging: Paging | None = None


class AssociationLabelsOut(BaseModel):
    results: list[AssociationTypeOut]


class ObjectIdOut(BaseModel):
    id: str


class AssociationSpecOut(BaseModel):
    associationCategory: Literal["HUBSPOT_DEFINED", "USER_DEFINED"]
    associationTypeId: int


class DefaultAssociation(BaseModel):
    from_: ObjectIdOut = Field(alias="from")
    to: ObjectIdOut
    associationSpec: AssociationSpecOut

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class DefaultAssociationsOut(BaseModel):
    status: Literal["COMPLETE"] = "COMPLETE"
    results: list[DefaultAssociation]
    startedAt: str
    completedAt: str


# Associations v4: labelled create and the batch API (the shapes HubSpot's client sends).


class AssociationSpecIn(StrictModel):
    associationCategory: Literal["HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"]
    associationTypeId: int


AssociationSpecs = Annotated[list[AssociationSpecIn], Field(min_length=1, max_length=10)]


class AssociationFetchInput(StrictModel):
    id: RecordId
    # An offset into the record's links (results are never paged: all come at once).
    after: Annotated[StrictStr, Field(max_length=20)] | None = None


class AssociationBatchReadInput(StrictModel):
    inputs: Annotated[list[AssociationFetchInput], Field(max_length=MAX_BATCH)]


class AssociationPostInput(StrictModel):
    from_: ObjectId = Field(alias="from")
    to: ObjectId
    types: AssociationSpecs


class AssociationBatchCreateInput(StrictModel):
    inputs: Annotated[list[AssociationPostInput], Field(max_length=MAX_BATCH)]


class AssociationArchiveInput(StrictModel):
    from_: ObjectId = Field(alias="from")
    to: Annotated[list[ObjectId], Field(max_length=MAX_BATCH)]


class AssociationBatchArchiveInput(StrictModel):
    inputs: Annotated[list[AssociationArchiveInput], Field(max_length=MAX_BATCH)]


class LabelsBetweenObjects(BaseModel):
    fromObjectTypeId: str
    fromObjectId: str
    toObjectTypeId: str
    toObjectId: str
    labels: list[str]


class AssociationBatchCreateOut(BaseModel):
    status: Literal["COMPLETE"] = "COMPLETE"
    results: list[LabelsBetweenObjects]
    startedAt: str
    completedAt: str
    errors: list[BatchError] | None = None
    numErrors: int | None = None


class AssociationsOfRecord(BaseModel):
    from_: ObjectIdOut = Field(alias="from")
    to: list[AssociatedObject]

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class AssociationBatchReadOut(BaseModel):
    status: Literal["COMPLETE"] = "COMPLETE"
    results: list[AssociationsOfRecord]
    startedAt: str
    completedAt: str
    errors: list[BatchError] | None = None
    numErrors: int | None = None
