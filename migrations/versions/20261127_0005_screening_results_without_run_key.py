"""screening results without a foreign key to their run

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 14:10:00

``screening_results`` is written only by ``sw-mis screen-all``, a million rows a run, for the
run it has just created; checking each row's run against ``screening_runs`` cost 8 % of a
run on PostgreSQL and guarded against nothing. A run's results are now deleted with it by the
code that deletes runs (``sw-mis purge``). Downgrading deletes results whose run is gone
before restoring the key.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('screening_results', schema=None) as batch_op:
        batch_op.drop_constraint('fk_screening_results_run_id_screening_runs', type_='foreignkey')


def downgrade() -> None:
    op.execute(
        sa.text('DELETE FROM screening_results WHERE run_id NOT IN (SELECT id FROM screening_runs)')
    )
    with op.batch_alter_table('screening_results', schema=None) as batch_op:
        batch_op.create_foreign_key(
            'fk_screening_results_run_id_screening_runs', 'screening_runs', ['run_id'], ['id'],
            ondelete='CASCADE',
        )
