"""SQLite repository of images, one JSON document per image.

One connection in autocommit mode with WAL. Every method is synchronous, short, and runs
one SQL statement (so it is atomic by itself), and is only called from the event-loop
thread. A handler that checks and then writes without an ``await`` in between (quota,
unique names, PATCH read-modify-write) is therefore atomic with respect to every other
request; 32 concurrent clients can neither lose nor duplicate an image.

Columns that are filtered or sorted often are generated from the document and indexed,
so get-by-id, create and a page of a 3,000-image list stay cheap.

The catalogue of public images (``ims_emulator/catalogue.py``) lives in the same table under
the platform project (:data:`ims_emulator.PLATFORM_PROJECT_ID`). It is written again at every
start, so it always matches the code. Reads that take ``public=True`` see it next to the
caller's own images; the maintenance calls (:meth:`Store.all`, :meth:`Store.counts`,
:meth:`Store.delete_all`) leave it out unless asked, so "the images of the users" stays
what it was before the catalogue existed.

Memberships (an image shared with another project) are rows of ``members``, one JSON
member object each, keyed by image and member project. They belong to their image: a
foreign key with ``ON DELETE CASCADE`` removes them in the same statement that deletes
the image (``delete``, ``delete_all``). A project's reads take its own images plus the
ones shared with it (:meth:`Store.membership`, :meth:`Store.page`); the document of a
shared image is never changed, the member's view is made on the way out.

Asynchronous jobs (a registration from OBS, ``GET /v1/{project_id}/jobs/{job_id}``) are rows
of ``jobs``, one JSON job document each, keyed by job id and scoped by project. They outlive
their image (a job says what happened, also after the image is gone).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from ims_emulator import PLATFORM_PROJECT_ID
from ims_emulator.rules import ListQuery, member_view

DB_FILE = "ims-emulator.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    doc TEXT NOT NULL,
    name TEXT GENERATED ALWAYS AS (json_extract(doc, '$.name')) VIRTUAL,
    status TEXT GENERATED ALWAYS AS (json_extract(doc, '$.status')) VIRTUAL,
    container_format TEXT GENERATED ALWAYS AS (json_extract(doc, '$.container_format')) VIRTUAL,
    disk_format TEXT GENERATED ALWAYS AS (json_extract(doc, '$.disk_format')) VIRTUAL,
    size_key INTEGER GENERATED ALWAYS AS (coalesce(json_extract(doc, '$.size'), -1)) VIRTUAL,
    created_at TEXT GENERATED ALWAYS AS (json_extract(doc, '$.created_at')) VIRTUAL,
    updated_at TEXT GENERATED ALWAYS AS (json_extract(doc, '$.updated_at')) VIRTUAL
);
CREATE INDEX IF NOT EXISTS images_by_created ON images (project, created_at, id);
CREATE INDEX IF NOT EXISTS images_by_name ON images (project, name);
CREATE TABLE IF NOT EXISTS members (
    image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    member_status TEXT GENERATED ALWAYS AS (json_extract(doc, '$.status')) VIRTUAL,
    PRIMARY KEY (image_id, member_id)
);
CREATE INDEX IF NOT EXISTS members_by_member ON members (member_id, image_id);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    doc TEXT NOT NULL,
    status TEXT GENERATED ALWAYS AS (json_extract(doc, '$.status')) VIRTUAL
);
"""

#: Sort keys and column filters mapped to columns (``size`` sorts missing sizes first).
#: Qualified, as lists join the caller's memberships (``m``).
_COLUMNS = {
    "id": "images.id",
    "name": "images.name",
    "status": "images.status",
    "container_format": "images.container_format",
    "disk_format": "images.disk_format",
    "size": "images.size_key",
    "created_at": "images.created_at",
    "updated_at": "images.updated_at",
}

#: Attributes whose value depends on who looks: a member project sees an image shared with
#: it as ``shared`` (see :func:`ims_emulator.rules.member_view`); ``m`` is its membership, if any.
_VIEW_COLUMNS = {
    "visibility": "CASE WHEN m.member_status IS NULL THEN json_extract(images.doc, '$.visibility') ELSE 'shared' END",
    "__imagetype": """CASE WHEN m.member_status IS NULL THEN json_extract(images.doc, '$."__imagetype"') ELSE 'shared' END""",
}

#: The images a project lists, with its membership of each (``m``); the caller's project is
#: the first parameter.
_VISIBLE = "images LEFT JOIN members AS m ON m.image_id = images.id AND m.member_id = ?"


class UnknownMarker(LookupError):
    """The list ``marker`` is not an image the caller can see."""


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def _scope(project: str, public: bool) -> tuple[str, list[Any]]:
    """The SQL condition (and its parameters) of the images ``project`` sees."""
    if public:
        return "project IN (?, ?)", [project, PLATFORM_PROJECT_ID]
    return "project = ?", [project]


class Store:
    """Images of all projects; ``project`` scoping is explicit in every read."""

    def __init__(self, data_dir: Path) -> None:
        self._conn = sqlite3.connect(data_dir / DB_FILE, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash; only an OS crash may lose the last commits.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # Deleting an image deletes its members (ON DELETE CASCADE), in the same statement.
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection (checkpoints the WAL)."""
        self._conn.close()

    def insert(self, project: str, doc: dict[str, Any]) -> None:
        """Add a new image."""
        self._conn.execute("INSERT INTO images (id, project, doc) VALUES (?, ?, ?)", (doc["id"], project, _dump(doc)))

    def seed_public(self, docs: list[dict[str, Any]]) -> None:
        """Make the platform project's images exactly ``docs`` (the catalogue), in one transaction."""
        with self._conn:
            self._conn.execute("BEGIN")
            self._conn.execute("DELETE FROM images WHERE project = ?", (PLATFORM_PROJECT_ID,))
            self._conn.executemany(
                "INSERT OR REPLACE INTO images (id, project, doc) VALUES (?, ?, ?)",
                [(doc["id"], PLATFORM_PROJECT_ID, _dump(doc)) for doc in docs],
            )

    def get(self, project: str, image_id: str, *, public: bool = False) -> dict[str, Any] | None:
        """The image if it exists in ``project`` (or, with ``public``, in the catalogue)."""
        scope, params = _scope(project, public)
        row = self._conn.execute(f"SELECT doc FROM images WHERE id = ? AND {scope}", (image_id, *params)).fetchone()
        return json.loads(row[0]) if row else None

    def replace(self, doc: dict[str, Any]) -> None:
        """Overwrite an existing image with ``doc`` (same id)."""
        self._conn.execute("UPDATE images SET doc = ? WHERE id = ?", (_dump(doc), doc["id"]))

    def delete(self, image_id: str) -> None:
        """Remove one image."""
        self._conn.execute("DELETE FROM images WHERE id = ?", (image_id,))

    def delete_all(self) -> int:
        """Remove every image of every user project (not the catalogue); returns how many there were."""
        return self._conn.execute("DELETE FROM images WHERE project != ?", (PLATFORM_PROJECT_ID,)).rowcount

    def count(self, project: str) -> int:
        """How many images ``project`` has."""
        return int(self._conn.execute("SELECT count(*) FROM images WHERE project = ?", (project,)).fetchone()[0])

    def counts(self) -> dict[str, int]:
        """Image count per user project (the catalogue is left out)."""
        sql = "SELECT project, count(*) FROM images WHERE project != ? GROUP BY project"
        return dict(self._conn.execute(sql, (PLATFORM_PROJECT_ID,)).fetchall())

    def name_taken(self, project: str, name: str, except_id: str | None = None) -> bool:
        """Whether another image of ``project`` already has ``name``."""
        row = self._conn.execute(
            "SELECT 1 FROM images WHERE project = ? AND name = ? AND id IS NOT ? LIMIT 1", (project, name, except_id)
        ).fetchone()
        return row is not None

    def with_status(self, status: str) -> list[dict[str, Any]]:
        """All images in ``status`` (used to settle uploads interrupted by a shutdown)."""
        rows = self._conn.execute("SELECT doc FROM images WHERE status = ?", (status,)).fetchall()
        return [json.loads(doc) for (doc,) in rows]

    def all(self, project: str | None = None, *, public: bool = False) -> list[dict[str, Any]]:
        """Every user image (of one project, if given), oldest first; ``public`` adds the catalogue.

        Asking for the platform project itself gives the catalogue.
        """
        if project:
            scope, params = _scope(project, public)
        elif public:
            scope, params = "1", []
        else:
            scope, params = "project != ?", [PLATFORM_PROJECT_ID]
        sql = f"SELECT doc FROM images WHERE {scope} ORDER BY created_at, id"
        return [json.loads(doc) for (doc,) in self._conn.execute(sql, params)]

    def page(self, project: str, query: ListQuery, *, public: bool = False) -> tuple[list[dict[str, Any]], bool]:
        """One page of the images ``project`` sees matching ``query``, and whether more follow.

        What a project sees: its own images, the catalogue when ``public``, and the images
        shared with it. Without a ``member_status`` filter only the shared images it has
        ``accepted`` are in (Glance's default); with one, only shared images with that
        membership status. Shared images come as the member sees them
        (:func:`ims_emulator.rules.member_view`), and ``visibility``/``__imagetype`` filter on
        that view. Raises :class:`UnknownMarker` when the marker is not one of the images
        the project sees.
        """
        own, own_params = _scope(project, public)
        own = f"images.{own}"
        if query.member_status is None:
            scope, scope_params = f"({own} OR m.member_status = 'accepted')", [project, *own_params]
        else:
            marks = ", ".join("?" * len(query.member_status)) or "NULL"
            scope, scope_params = f"m.member_status IN ({marks})", [project, *query.member_status]
        where = [scope]
        params = list(scope_params)
        for key, value in query.equals:
            if key in _COLUMNS:
                where.append(f"{_COLUMNS[key]} = ?")
                params.append(value)
            elif key in _VIEW_COLUMNS:
                where.append(f"{_VIEW_COLUMNS[key]} = ?")
                params.append(value)
            else:
                # FILTER_KEY_RE keeps keys free of quotes, so the quoted JSON path is safe.
                where.append("json_extract(images.doc, ?) = ?")
                params += [f'$."{key}"', value]
        for tag in query.tags:
            where.append("EXISTS (SELECT 1 FROM json_each(images.doc, '$.tags') WHERE value = ?)")
            params.append(tag)
        for column, operator, when in query.times:
            where.append(f"{_COLUMNS[column]} {operator} ?")
            params.append(when)

        column = _COLUMNS[query.sort_key]
        direction = "DESC" if query.sort_dir == "desc" else "ASC"
        if query.marker is not None:
            row = self._conn.execute(
                f"SELECT {column} FROM {_VISIBLE} WHERE images.id = ? AND {scope}",
                (scope_params[0], query.marker, *scope_params[1:]),
            ).fetchone()
            if row is None:
                raise UnknownMarker(query.marker)
            # Row values give the exact "after the marker" position with the id tiebreak.
            where.append(f"({column}, images.id) {'<' if direction == 'DESC' else '>'} (?, ?)")
            params += [row[0], query.marker]

        sql = (
            f"SELECT images.doc, m.member_status FROM {_VISIBLE} WHERE {' AND '.join(where)} "
            f"ORDER BY {column} {direction}, images.id {direction} LIMIT ?"
        )
        rows = self._conn.execute(sql, [*params, query.limit + 1]).fetchall()
        images = [_as_seen(doc, status) for doc, status in rows[: query.limit]]
        return images, len(rows) > query.limit

    # --- members -----------------------------------------------------------------------------

    def membership(self, project: str, image_id: str) -> tuple[dict[str, Any], str] | None:
        """The image shared with ``project`` and the membership's status, if ``project`` is a member."""
        row = self._conn.execute(
            "SELECT images.doc, m.member_status FROM images JOIN members AS m ON m.image_id = images.id "
            "WHERE images.id = ? AND m.member_id = ?",
            (image_id, project),
        ).fetchone()
        return (json.loads(row[0]), row[1]) if row else None

    def add_member(self, doc: dict[str, Any]) -> None:
        """Add a membership (its image must exist)."""
        self._conn.execute(
            "INSERT INTO members (image_id, member_id, doc) VALUES (?, ?, ?)",
            (doc["image_id"], doc["member_id"], _dump(doc)),
        )

    def member(self, image_id: str, member_id: str) -> dict[str, Any] | None:
        """One membership of an image."""
        row = self._conn.execute(
            "SELECT doc FROM members WHERE image_id = ? AND member_id = ?", (image_id, member_id)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def members(self, image_id: str) -> list[dict[str, Any]]:
        """Every membership of an image, oldest first (ties by member id)."""
        rows = self._conn.execute(
            "SELECT doc FROM members WHERE image_id = ? "
            "ORDER BY json_extract(doc, '$.created_at'), member_id",
            (image_id,),
        ).fetchall()
        return [json.loads(doc) for (doc,) in rows]

    def count_members(self, image_id: str) -> int:
        """How many members an image has."""
        return int(self._conn.execute("SELECT count(*) FROM members WHERE image_id = ?", (image_id,)).fetchone()[0])

    def replace_member(self, doc: dict[str, Any]) -> None:
        """Overwrite an existing membership with ``doc`` (same image and member)."""
        self._conn.execute(
            "UPDATE members SET doc = ? WHERE image_id = ? AND member_id = ?",
            (_dump(doc), doc["image_id"], doc["member_id"]),
        )

    def remove_member(self, image_id: str, member_id: str) -> bool:
        """Remove a membership; whether there was one."""
        cursor = self._conn.execute("DELETE FROM members WHERE image_id = ? AND member_id = ?", (image_id, member_id))
        return cursor.rowcount > 0


    # --- asynchronous jobs ----------------------------------------------------------------------

    def insert_job(self, project: str, doc: dict[str, Any]) -> None:
        """Add a job of ``project``."""
        self._conn.execute("INSERT INTO jobs (id, project, doc) VALUES (?, ?, ?)", (doc["job_id"], project, _dump(doc)))

    def job(self, project: str, job_id: str) -> dict[str, Any] | None:
        """The job if it exists in ``project``."""
        row = self._conn.execute("SELECT doc FROM jobs WHERE id = ? AND project = ?", (job_id, project)).fetchone()
        return json.loads(row[0]) if row else None

    def replace_job(self, doc: dict[str, Any]) -> None:
        """Overwrite an existing job with ``doc`` (same id)."""
        self._conn.execute("UPDATE jobs SET doc = ? WHERE id = ?", (_dump(doc), doc["job_id"]))

    def unfinished_jobs(self) -> list[tuple[str, dict[str, Any]]]:
        """Every job neither ``SUCCESS`` nor ``FAIL``, with its project (to settle what a shutdown interrupted)."""
        rows = self._conn.execute("SELECT project, doc FROM jobs WHERE status NOT IN ('SUCCESS', 'FAIL')").fetchall()
        return [(project, json.loads(doc)) for project, doc in rows]

    def delete_jobs(self) -> int:
        """Remove every job; returns how many there were."""
        return self._conn.execute("DELETE FROM jobs").rowcount


def _as_seen(doc: str, member_status: str | None) -> dict[str, Any]:
    """A listed image: as stored, or as a member sees it when ``member_status`` is set."""
    image: dict[str, Any] = json.loads(doc)
    return image if member_status is None else member_view(image, member_status)
