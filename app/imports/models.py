"""The imports table: one row per accepted import, its items kept until it finishes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.row_json import row_to_dict
from app.utc_time import UTC_TIME, utc_now

STATUSES = ("queued", "running", "succeeded", "failed")
FINISHED = ("succeeded", "failed")
ERROR_MAX = 500


class Import(db.Model):  # type: ignore[name-defined]
    __tablename__ = "imports"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="queued")
    total: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    done: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(sa.String(ERROR_MAX), nullable=True)
    # Starts of the job: a job that keeps killing its worker is failed after JOB_MAX_ATTEMPTS.
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    # The validated items, until the import finishes; the job message carries the id alone.
    payload: Mapped[Any] = mapped_column(
        sa.JSON().with_variant(JSONB(), "postgresql"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, default=utc_now, server_default=sa.func.now()
    )
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)

    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name="ck_imports_status"
        ),
        sa.Index("ix_imports_status_finished_at", "status", "finished_at"),
    )


# An import as the API returns it (JSON Schema; the OpenAPI document publishes it):
# import_to_dict writes exactly these fields.
IMPORT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "status": {"type": "string", "enum": list(STATUSES)},
        "total": {"type": "integer", "minimum": 1},
        "done": {"type": "integer", "minimum": 0},
        "error": {"type": ["string", "null"], "maxLength": ERROR_MAX},
        "created_at": UTC_TIME,
        "finished_at": {**UTC_TIME, "type": ["string", "null"]},
    },
    "required": ["id", "status", "total", "done", "error", "created_at", "finished_at"],
    "additionalProperties": False,
}


def import_to_dict(row: Import) -> dict[str, object]:
    return row_to_dict(row, IMPORT)
