"""compact screening results: one row per household and run, counts per area

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:20:00

Registry-wide outcomes move from one row per (scheme, household, member) pair to one row per
household and run (``screening_results``) plus per-area counts (``screening_counts``). The old
rows are derived data: they are dropped, runs made before this revision are marked ``stale``
(dashboards ignore them), and the next ``sw-mis screen-all`` fills the new tables. Downgrading
likewise drops the compact results and leaves the old table empty.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('screening_results',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('codes', sa.String(length=200), nullable=False),
    sa.Column('members', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['screening_runs.id'], name=op.f('fk_screening_results_run_id_screening_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'household_id', name=op.f('pk_screening_results'))
    )
    op.create_table('screening_counts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('scheme_id', sa.String(length=80), nullable=False),
    sa.Column('admin1', sa.String(length=32), nullable=True),
    sa.Column('admin2', sa.String(length=32), nullable=True),
    sa.Column('admin3', sa.String(length=32), nullable=True),
    sa.Column('eligible', sa.Integer(), nullable=False),
    sa.Column('undetermined', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['screening_runs.id'], name=op.f('fk_screening_counts_run_id_screening_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening_counts'))
    )
    with op.batch_alter_table('screening_counts', schema=None) as batch_op:
        batch_op.create_index('ix_screening_counts_run_scheme', ['run_id', 'scheme_id'], unique=False)

    with op.batch_alter_table('screening_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('layout', sa.JSON(), nullable=True))
    op.execute("UPDATE screening_runs SET status = 'stale'")
    op.drop_table('screening_outcomes')


def downgrade() -> None:
    op.create_table('screening_outcomes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('scheme_id', sa.String(length=80), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['screening_runs.id'], name=op.f('fk_screening_outcomes_run_id_screening_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening_outcomes'))
    )
    with op.batch_alter_table('screening_outcomes', schema=None) as batch_op:
        batch_op.create_index('ix_screening_outcomes_household_id', ['household_id'], unique=False)
        batch_op.create_index('ix_screening_outcomes_run_scheme', ['run_id', 'scheme_id', 'outcome'], unique=False)
    op.execute("UPDATE screening_runs SET status = 'stale'")
    with op.batch_alter_table('screening_runs', schema=None) as batch_op:
        batch_op.drop_column('layout')
    with op.batch_alter_table('screening_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_screening_counts_run_scheme')
    op.drop_table('screening_counts')
    op.drop_table('screening_results')
