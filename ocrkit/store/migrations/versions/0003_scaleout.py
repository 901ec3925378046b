"""scale-out: shared blobs, the job's finisher claim, which worker stored a page

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default) is cheap on both SQLite and PostgreSQL.
    op.add_column("jobs", sa.Column("finisher", sa.String(length=255), nullable=True))
    op.add_column("pages", sa.Column("worker", sa.String(length=255), nullable=True))
    op.create_index(op.f("ix_pages_created_at"), "pages", ["created_at"], unique=False)
    op.create_table(
        "blobs",
        sa.Column("job_uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_uuid"], ["jobs.uuid"], name=op.f("fk_blobs_job_uuid_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_uuid", "name", name=op.f("pk_blobs")),
    )


def downgrade() -> None:
    op.drop_table("blobs")
    op.drop_index(op.f("ix_pages_created_at"), table_name="pages")
    with op.batch_alter_table("pages") as batch:
        batch.drop_column("worker")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("finisher")
