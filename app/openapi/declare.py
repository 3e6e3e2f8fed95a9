"""What a view says about itself for the OpenAPI document: ``@operation(...)`` on the view, with
the schemas the view's own code validates and returns (never a copy written for the docs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

View = TypeVar("View", bound=Callable[..., Any])

JSON = "application/json"
HTML = "text/html"


@dataclass(frozen=True)
class Reply:
    """One documented answer: a sentence, the body's schema (None: no body) and its media type,
    and the headers it always carries (name -> description)."""

    description: str
    schema: Mapping[str, Any] | None = None
    media_type: str = JSON
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    summary: str
    replies: Mapping[int, Reply]
    # The statuses of the shared error answers this view gives (app/openapi/document.py).
    errors: tuple[int, ...] = ()
    body: Mapping[str, Any] | None = None
    query: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    description: str = ""


def operation(
    summary: str,
    replies: Mapping[int, Reply],
    *,
    errors: tuple[int, ...] = (),
    body: Mapping[str, Any] | None = None,
    query: Mapping[str, Mapping[str, Any]] | None = None,
    description: str = "",
) -> Callable[[View], View]:
    """Declare a view's operation. ``body`` is the JSON Schema its request body is validated
    against; ``query`` maps each query parameter to its schema."""
    declared = Operation(summary, replies, errors, body, dict(query or {}), description)

    def mark(view: View) -> View:
        view.openapi_operation = declared  # type: ignore[attr-defined]
        return view

    return mark


def declared_operation(view: Callable[..., Any]) -> Operation | None:
    found: Operation | None = getattr(view, "openapi_operation", None)
    return found
