"""What one GraphQL request may cost: depth, aliases, tokens, and the rows its lists can reach.

A depth limit alone lets `blocks(limit: 100) { transactions(limit: 100) { tokenTransfers } }` ask
for a million rows three levels down. So each field costs 1 times the product of the `limit`
arguments of the list fields above it (their declared default when not given, LIST_GUESS for an
unbounded list), and a request whose total exceeds the limit is refused in validation, before
anything runs, with the estimate in the message. The check is an extension rather than a
validation rule because a rule does not see the request's variables. Depth, alias and token limits
are strawberry's own extensions.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    validate,
    value_from_ast,
)  # fmt: skip
from strawberry.extensions import SchemaExtension

#: Rows assumed for a list field without a `limit` argument (a transaction's transfers, a cluster's members).
LIST_GUESS = 10
#: The most rows one list field may ask for (a larger `limit` is refused by its resolver).
MAX_LIMIT = 100


def _unwrap(gql_type: Any) -> tuple[Any, bool]:
    is_list = False
    while isinstance(gql_type, (GraphQLNonNull, GraphQLList)):
        is_list = is_list or isinstance(gql_type, GraphQLList)
        gql_type = gql_type.of_type
    return gql_type, is_list


def estimate(schema, document, variables: dict[str, Any] | None = None) -> int:
    """The cost of the document's operations (see the module docstring)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    def selection_cost(selection_set: SelectionSetNode | None, parent: GraphQLObjectType, scale: int, seen) -> int:
        if selection_set is None:
            return 0
        total = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                field = parent.fields.get(node.name.value)
                if field is None:  # __typename and other meta fields
                    continue
                inner, is_list = _unwrap(field.type)
                rows = 1
                if is_list:
                    rows = LIST_GUESS
                    if "limit" in field.args:
                        rows = field.args["limit"].default_value or LIST_GUESS
                        for arg in node.arguments:
                            if arg.name.value == "limit":
                                given = value_from_ast(arg.value, field.args["limit"].type, variables or {})
                                rows = MAX_LIMIT if given is None else max(1, min(int(given), MAX_LIMIT))
                total += scale * rows if is_list else scale
                if isinstance(inner, GraphQLObjectType):
                    total += selection_cost(node.selection_set, inner, scale * rows, seen)
            elif isinstance(node, InlineFragmentNode):
                total += selection_cost(node.selection_set, parent, scale, seen)
            elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
                fragment = fragments.get(node.name.value)
                if fragment is not None:
                    total += selection_cost(fragment.selection_set, parent, scale, seen | {node.name.value})
        return total

    cost = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            root = schema.get_root_type(definition.operation)
            cost += selection_cost(definition.selection_set, root, 1, frozenset())
    return cost


class CostLimit(SchemaExtension):
    """Validates the document itself (strawberry then skips its own pass) and adds the cost check."""

    max_cost = 10_000

    def on_validate(self):
        ctx = self.execution_context
        if ctx.graphql_document is not None and ctx.pre_execution_errors is None:
            schema = ctx.schema._schema
            errors = validate(schema, ctx.graphql_document, ctx.validation_rules)
            if not errors:
                cost = estimate(schema, ctx.graphql_document, ctx.variables)
                if cost > self.max_cost:
                    errors = [GraphQLError(
                        f"query cost {cost} exceeds the limit of {self.max_cost} (each field costs 1 times the "
                        "limits of the lists above it); ask for fewer rows or fields")]  # fmt: skip
            ctx.pre_execution_errors = errors
        yield


def cost_limit(max_cost: int) -> type[CostLimit]:
    """The CostLimit extension refusing documents that cost more than `max_cost`."""
    return type("CostLimit", (CostLimit,), {"max_cost": max_cost})
