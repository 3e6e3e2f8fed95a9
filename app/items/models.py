"""The items table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.row_json import row_to_dict
from app.utc_time import UTC_TIME, utc_now

# BIGINT (BIGSERIAL).
ID_TYPE = sa.BigInteger()
MAX_ID = 2**63 - 1
NAME_MAX = 200
DESCRIPTION_MAX = 2000


class Item(db.Model):  # type: ignore[name-defined]
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(NAME_MAX), nullable=False)
    description: Mapped[str | None] = mapped_column(sa.String(DESCRIPTION_MAX), nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, default=utc_now, server_default=sa.func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True),
        nullable=False,
        default=utc_now,
        onupdate=utc_now,
        server_default=sa.func.now(),
    )

    # Where a bulk import wrote the item: the pair is unique, so a job that runs twice (its
    # worker died, the broker handed it out again) writes each item once (app/imports/).
    import_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    import_position: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)

    __table_args__ = (
        sa.Index("ix_items_created_at_id", "created_at", "id"),
        sa.Index("uq_items_import_position", "import_id", "import_position", unique=True),
    )


# An item as the API returns it (JSON Schema; the OpenAPI document publishes it): item_to_dict
# writes exactly these fields.
ITEM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "name": {"type": "string", "maxLength": NAME_MAX},
        "description": {"type": ["string", "null"], "maxLength": DESCRIPTION_MAX},
        "created_at": UTC_TIME,
        "updated_at": UTC_TIME,
    },
    "required": ["id", "name", "description", "created_at", "updated_at"],
    "additionalProperties": False,
}


def item_to_dict(item: Item) -> dict[str, object]:
    return row_to_dict(item, ITEM)


# The exact count of items, kept by triggers on this table (app/items/counter.py): registers
# its table and triggers on the metadata with the items table.
from app.items import counter  # noqa: E402, F401
