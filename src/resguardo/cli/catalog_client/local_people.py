"""The service's users on the catalog's database (local mode), each change audited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from resguardo.cli.catalog_client.local_base import LocalBase, every_page
from resguardo.cli.catalog_client.local_documents import user_document
from resguardo.cli.catalog_client.protocol import Record

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from resguardo.catalog.models import User


def find_user(session: Session, username: str) -> User:
    """Return the user named ``username``. Raises NotFound (with a hint to list the users)."""
    from resguardo.catalog.models import User
    from resguardo.catalog.queries._common import get_by_name_or_raise

    return get_by_name_or_raise(session, User, User.username, username, "user")


def _user_audit(user: User) -> dict[str, Any]:
    from resguardo.catalog import queries

    return {**queries.snapshot_of(user), "roles": sorted(str(role) for role in user.roles)}


class LocalPeople(LocalBase):
    """The users of the catalog."""

    def list_users(self) -> list[Record]:
        """Return every user, by name."""
        from resguardo.catalog import queries

        with self.sessions() as session:
            users = every_page(lambda offset, limit: queries.list_users(session, offset=offset, limit=limit))
            return [user_document(user) for user in users]

    def show_user(self, username: str) -> Record:
        """Return the user ``username``. Raises NotFound."""
        with self.sessions() as session:
            return user_document(find_user(session, username))

    def add_user(
        self, username: str, roles: Sequence[str], password: str, fields: Mapping[str, Any]
    ) -> Record:
        """Add a user; return it. Raises Conflict, UsageError (a role, language or password)."""
        from resguardo.catalog import queries

        now = self.now()
        with self.sessions() as session:
            user = queries.create_user(
                session, username=username, now=now, roles=roles, password=password, **fields
            )
            self.record_change(session, now, "user.create", "user", user.id, after=_user_audit(user))
            return user_document(user)

    def edit_user(
        self,
        username: str,
        changes: Mapping[str, Any],
        roles: Sequence[str] | None,
        password: str | None,
    ) -> Record:
        """Change the user ``username``; return it. Raises NotFound, Conflict, UsageError."""
        from resguardo.catalog import queries

        now = self.now()
        with self.sessions() as session:
            user = find_user(session, username)
            before = _user_audit(user)
            user = queries.update_user(session, user.id, changes, now=now)
            if roles:
                user = queries.set_roles(session, user.id, roles, now=now)
            if password is not None:
                queries.set_password(session, user.id, password, now=now)
            after = {**_user_audit(user), "password_changed": password is not None}
            self.record_change(session, now, "user.update", "user", user.id, before, after)
            return user_document(user)

    def remove_user(self, username: str) -> Record:
        """Remove the user ``username``; return what it was. Raises NotFound."""
        from resguardo.catalog import queries

        now = self.now()
        with self.sessions() as session:
            user = find_user(session, username)
            document, before = user_document(user), _user_audit(user)
            queries.delete_user(session, user.id)
            self.record_change(session, now, "user.delete", "user", document["id"], before=before)
            return document
