"""The catalog's tables as SQLAlchemy models; ``Base.metadata`` is the schema the migrations build."""

from resguardo.catalog.models.audit import AuditEntry
from resguardo.catalog.models.base import Base
from resguardo.catalog.models.inventory import (
    Client,
    ClientSecret,
    ClientTestReport,
    Repository,
    RepositorySecret,
)
from resguardo.catalog.models.notifications import Notification, NotificationSettings
from resguardo.catalog.models.people import ApiToken, Department, User, UserRole
from resguardo.catalog.models.plans import MINIMUM_RECORDS_KEEP_DAYS, Category, Job
from resguardo.catalog.models.restores import Restore
from resguardo.catalog.models.runs import FailureEntry, Run
from resguardo.catalog.models.verifications import RestoreTestServer, Verification

__all__ = [
    "MINIMUM_RECORDS_KEEP_DAYS",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Category",
    "Client",
    "ClientSecret",
    "ClientTestReport",
    "Department",
    "FailureEntry",
    "Job",
    "Notification",
    "NotificationSettings",
    "Repository",
    "RepositorySecret",
    "Restore",
    "RestoreTestServer",
    "Run",
    "User",
    "UserRole",
    "Verification",
]
