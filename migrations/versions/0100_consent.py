"""Consent: purposes, notices, subjects, the append-only hash-chained ledger, checkpoints,
receipts, identities, e-mail verifications, data-subject requests.

The ledger and its checkpoints refuse UPDATE and DELETE in the database itself (triggers,
on both dialects), so the run-time role cannot rewrite history.

Revision ID: 0100
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.dialect import append_only_ddl, drop_append_only_ddl

revision = "0100"
down_revision = "0002"
branch_labels = None
depends_on = None

APPEND_ONLY = ("consent_ledger", "consent_checkpoints")


def _site_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=f"fk_{table}_site_id_sites")


def upgrade() -> None:
    op.create_table(
        "consent_site_keys",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("private_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("assertion_secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site_id", name="pk_consent_site_keys"),
        _site_fk("consent_site_keys"),
    )
    op.create_table(
        "consent_purposes",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("dpv_term", sa.String(200), nullable=False),
        sa.Column("consent_mode", sa.String(200), nullable=False),
        sa.Column("gpc_opt_out", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "purpose", name="pk_consent_purposes"),
        _site_fk("consent_purposes"),
    )
    op.create_table(
        "consent_notices",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "version", name="pk_consent_notices"),
        _site_fk("consent_notices"),
    )
    op.create_table(
        "consent_notice_texts",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "version", "purpose", name="pk_consent_notice_texts"),
        sa.ForeignKeyConstraint(
            ["site_id", "version"],
            ["consent_notices.site_id", "consent_notices.version"],
            name="fk_consent_notice_texts_site_id_consent_notices",
        ),
    )
    op.create_table(
        "consent_subjects",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "subject_id", name="pk_consent_subjects"),
        _site_fk("consent_subjects"),
    )
    op.create_table(
        "consent_chain_heads",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("site_id", name="pk_consent_chain_heads"),
        _site_fk("consent_chain_heads"),
    )
    op.create_table(
        "consent_ledger",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("notice_version", sa.Integer(), nullable=True),
        sa.Column("notice_hash", sa.String(64), nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("jurisdiction", sa.String(16), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "seq", name="pk_consent_ledger"),
        sa.UniqueConstraint("entry_id", name="uq_consent_ledger_entry_id"),
        _site_fk("consent_ledger"),
    )
    op.create_index(
        "ix_consent_ledger_site_id_subject_id", "consent_ledger", ["site_id", "subject_id"]
    )
    op.create_table(
        "consent_checkpoints",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "seq", name="pk_consent_checkpoints"),
        _site_fk("consent_checkpoints"),
    )
    op.create_table(
        "consent_receipts",
        sa.Column("receipt_id", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("receipt_id", name="pk_consent_receipts"),
        _site_fk("consent_receipts"),
    )
    op.create_index(
        "ix_consent_receipts_site_id_subject_id", "consent_receipts", ["site_id", "subject_id"]
    )
    op.create_table(
        "consent_identities",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "subject_id", name="pk_consent_identities"),
        _site_fk("consent_identities"),
    )
    op.create_table(
        "consent_email_verifications",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("value_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_consent_email_verifications"),
        _site_fk("consent_email_verifications"),
    )
    op.create_index(
        "ix_consent_email_verifications_site_id_subject_id",
        "consent_email_verifications",
        ["site_id", "subject_id"],
    )
    op.create_table(
        "consent_requests",
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("regime", sa.String(8), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("request_id", name="pk_consent_requests"),
        _site_fk("consent_requests"),
    )
    op.create_index(
        "ix_consent_requests_site_id_subject_id", "consent_requests", ["site_id", "subject_id"]
    )
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        for statement in append_only_ddl(dialect, table):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        for statement in drop_append_only_ddl(dialect, table):
            op.execute(statement)
    op.drop_index("ix_consent_requests_site_id_subject_id", table_name="consent_requests")
    op.drop_table("consent_requests")
    op.drop_index(
        "ix_consent_email_verifications_site_id_subject_id",
        table_name="consent_email_verifications",
    )
    op.drop_table("consent_email_verifications")
    op.drop_table("consent_identities")
    op.drop_index("ix_consent_receipts_site_id_subject_id", table_name="consent_receipts")
    op.drop_table("consent_receipts")
    op.drop_table("consent_checkpoints")
    op.drop_index("ix_consent_ledger_site_id_subject_id", table_name="consent_ledger")
    op.drop_table("consent_ledger")
    op.drop_table("consent_chain_heads")
    op.drop_table("consent_subjects")
    op.drop_table("consent_notice_texts")
    op.drop_table("consent_notices")
    op.drop_table("consent_purposes")
    op.drop_table("consent_site_keys")
