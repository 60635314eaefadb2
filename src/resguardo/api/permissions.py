"""Who may call what: the one table of the API's permissions, by endpoint and role.

Each endpoint declares its permission name with :func:`resguardo.api.auth.allow`; this table says which
roles hold it. A user may call an endpoint when any of their roles is listed. The role matrix test
walks every endpoint with every role against this table.

* administrators do everything;
* the IT director plans (categories, jobs) and reads all registers;
* operators configure and test clients, configure repositories and jobs, run and cancel runs, and
  analyse failures, and start and cancel restores (which everyone reading runs may follow);
* auditors read every register, the audit log and the verification register included (and export it
  as CSV), and change nothing;
* operators also run verifications now ("verify now") and set the restore-test servers;
* custodians see repositories, jobs, runs and the dashboard (the media they keep come from them);
* area directors see the categories and jobs (their department's requests come later);
* requesters see the categories;
* everyone with a role sees the departments (a request names one), and manages their own API tokens,
  session and preferences (failure e-mails); administrators change the departments;
* administrators alone see and change the SMTP settings and the e-mail outbox.
"""

from __future__ import annotations

from resguardo.catalog.enums import Role

ADMIN = Role.ADMINISTRATOR
DIRECTOR = Role.IT_DIRECTOR
OPERATOR = Role.OPERATOR
AUDITOR = Role.AUDITOR
CUSTODIAN = Role.CUSTODIAN
AREA_DIRECTOR = Role.AREA_DIRECTOR
REQUESTER = Role.REQUESTER

EVERYONE = frozenset(Role)
READERS = frozenset({ADMIN, DIRECTOR, OPERATOR, AUDITOR})
CONFIGURERS = frozenset({ADMIN, OPERATOR})
PLANNERS = frozenset({ADMIN, DIRECTOR, OPERATOR})

PERMISSIONS: dict[str, frozenset[Role]] = {
    "session.show": EVERYONE,
    "clients.read": READERS,
    "clients.write": CONFIGURERS,
    "clients.test": CONFIGURERS,
    "repositories.read": READERS | {CUSTODIAN},
    "repositories.write": CONFIGURERS,
    "categories.read": EVERYONE,
    "categories.write": frozenset({ADMIN, DIRECTOR}),
    "jobs.read": READERS | {CUSTODIAN, AREA_DIRECTOR},
    "jobs.write": PLANNERS,
    "jobs.run": CONFIGURERS,
    "runs.read": READERS | {CUSTODIAN},
    "runs.cancel": CONFIGURERS,
    "restores.read": READERS | {CUSTODIAN},
    "restores.start": CONFIGURERS,
    "restores.cancel": CONFIGURERS,
    "failures.read": READERS,
    "failures.write": PLANNERS,
    "users.read": frozenset({ADMIN}),
    "users.write": frozenset({ADMIN}),
    "departments.read": EVERYONE,
    "departments.write": frozenset({ADMIN}),
    "tokens.own": EVERYONE,
    "audit.read": frozenset({ADMIN, AUDITOR}),
    "dashboard.read": READERS | {CUSTODIAN},
    "verifications.read": READERS,
    "verifications.run": CONFIGURERS,
    "verifications.configure": CONFIGURERS,
    "notifications.read": frozenset({ADMIN}),
    "notifications.write": frozenset({ADMIN}),
    "preferences.own": EVERYONE,
}
"""Permission name -> the roles that hold it."""


def roles_for(permission: str) -> frozenset[Role]:
    """Return the roles that hold ``permission``.

    Raises:
        KeyError: the permission is not in the table (a programming error, caught by the tests).
    """
    return PERMISSIONS[permission]
