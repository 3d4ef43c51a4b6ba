"""Tables the consent service owns. The ledger and its checkpoints are append-only."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from shared.db import metadata

# Per-site keys: Ed25519 for checkpoints and receipts, an HMAC secret for identity assertions.
# Private parts are sealed (AES-GCM) with a key derived from the server secret.
consent_site_keys = Table(
    "consent_site_keys",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id"), primary_key=True),
    Column("key_id", String(16), nullable=False),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("private_key_sealed", LargeBinary, nullable=False),
    Column("assertion_secret_sealed", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# What a site asks consent for, in plain language, mapped to DPV and Google Consent Mode v2.
consent_purposes = Table(
    "consent_purposes",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id"), primary_key=True),
    Column("purpose", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    Column("dpv_term", String(200), nullable=False),
    Column("consent_mode", String(200), nullable=False),  # space-separated signals
    Column("gpc_opt_out", Boolean, nullable=False),  # Sec-GPC: 1 refuses it
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# A published version of the site's notice; each purpose's text is hashed (SHA-256).
consent_notices = Table(
    "consent_notices",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("published_at", DateTime(timezone=True), nullable=False),
)

consent_notice_texts = Table(
    "consent_notice_texts",
    metadata,
    Column("site_id", String(32), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("purpose", String(64), primary_key=True),
    Column("text", Text, nullable=False),
    Column("text_hash", String(64), nullable=False),
    ForeignKeyConstraint(
        ["site_id", "version"], ["consent_notices.site_id", "consent_notices.version"]
    ),
)

# A pseudonymous visitor: a random id and the hash of the credential the visitor holds.
consent_subjects = Table(
    "consent_subjects",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id"), primary_key=True),
    Column("subject_id", String(32), primary_key=True),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Where each site's chain ends; appends lock this row, so a chain never forks.
consent_chain_heads = Table(
    "consent_chain_heads",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id"), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
)

# The consent ledger: one row per consent event, hash-chained per site. Never updated.
consent_ledger = Table(
    "consent_ledger",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id"), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("entry_id", String(32), nullable=False, unique=True),
    Column("subject_id", String(32), nullable=False),
    Column("event", String(16), nullable=False),
    Column("purpose", String(64), nullable=False),  # "*" for events about every purpose
    Column("notice_version", Integer, nullable=True),
    Column("notice_hash", String(64), nullable=True),
    Column("method", String(16), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("jurisdiction", String(16), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("row_hash", String(64), nullable=False),
    Index("ix_consent_ledger_site_id_subject_id", "site_id", "subject_id"),
)

# Signed statements "row `seq` of this site's chain has hash `row_hash`". Never updated.
consent_checkpoints = Table(
    "consent_checkpoints",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id"), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("row_hash", String(64), nullable=False),
    Column("signed_at", DateTime(timezone=True), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("signature", LargeBinary(64), nullable=False),
)

# Copies of the signed receipts given to visitors (shown on the preference page).
consent_receipts = Table(
    "consent_receipts",
    metadata,
    Column("receipt_id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False),
    Column("subject_id", String(32), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("body", Text, nullable=False),
    Column("signature", String(128), nullable=False),
    Index("ix_consent_receipts_site_id_subject_id", "site_id", "subject_id"),
)

# Tier 2: the identity a subject is linked to, for one purpose, sealed (AES-GCM).
consent_identities = Table(
    "consent_identities",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id"), primary_key=True),
    Column("subject_id", String(32), primary_key=True),
    Column("purpose", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # email | external_id
    Column("value_sealed", LargeBinary, nullable=False),
    Column("method", String(16), nullable=False),  # site_assertion | email_link
    Column("verified_at", DateTime(timezone=True), nullable=False),
)

# An e-mail address given by a visitor, waiting for the emailed link (only its hash is kept).
consent_email_verifications = Table(
    "consent_email_verifications",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False),
    Column("subject_id", String(32), nullable=False),
    Column("value_sealed", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_consent_email_verifications_site_id_subject_id", "site_id", "subject_id"),
)

# Data-subject requests (export, erasure) with their legal deadlines.
consent_requests = Table(
    "consent_requests",
    metadata,
    Column("request_id", String(32), primary_key=True),
    Column("site_id", String(32), ForeignKey("sites.id"), nullable=False),
    Column("subject_id", String(32), nullable=False),
    Column("kind", String(16), nullable=False),  # export | erasure
    Column("regime", String(8), nullable=False),  # gdpr | ccpa
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Index("ix_consent_requests_site_id_subject_id", "site_id", "subject_id"),
)

APPEND_ONLY = (consent_ledger, consent_checkpoints)
