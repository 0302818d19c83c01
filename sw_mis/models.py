"""Import every feature's models so the metadata is complete (for Alembic and tests)."""

from sw_mis.audit.models import AuditEvent
from sw_mis.auth.models import ApiToken, Area, Office, OfficeArea, User
from sw_mis.db import Base
from sw_mis.eligibility.models import (
    Determination,
    ScreeningCount,
    ScreeningResult,
    ScreeningRun,
)
from sw_mis.imports.models import ImportBatch, ImportedHousehold, ImportMapping, ImportProblem
from sw_mis.jobs.models import Job
from sw_mis.referrals.models import Referral, ReferralStatusChange
from sw_mis.registry.models import ChangeRecord, Enrolment, Household, Member

__all__ = [
    "ApiToken",
    "Area",
    "AuditEvent",
    "Base",
    "ChangeRecord",
    "Determination",
    "Enrolment",
    "Household",
    "ImportBatch",
    "ImportMapping",
    "ImportProblem",
    "ImportedHousehold",
    "Job",
    "Member",
    "Office",
    "OfficeArea",
    "Referral",
    "ReferralStatusChange",
    "ScreeningCount",
    "ScreeningResult",
    "ScreeningRun",
    "User",
]
