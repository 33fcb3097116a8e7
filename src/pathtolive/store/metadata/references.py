"""Which artifact-store objects the metadata refers to, for ``pathtolive gc``."""

from __future__ import annotations

import re

from sqlalchemy import String, select

from pathtolive.store.metadata import tables as t
from pathtolive.store.metadata._rows import Queries

__all__ = ["DIGEST_PATTERN", "ReferenceQueries"]

DIGEST_PATTERN = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
"""An object digest (64 lowercase hex characters) wherever it appears in a text."""


class ReferenceQueries(Queries):
    def referenced_digests(self) -> set[str]:
        """Every object digest any row names, in any text column of any table.

        Deliberately wider than the columns known to hold digests (dataset versions, model
        artifacts, step outputs, the step cache, prediction segments): a digest in a run's
        outputs, an event's details or a table added later keeps its object too. An object
        kept by mistake costs bytes; an object removed by mistake loses data.
        """
        found: set[str] = set()
        for table in t.metadata.sorted_tables:
            columns = [column for column in table.columns if isinstance(column.type, String)]
            for column in columns:
                query = select(column).where(column.is_not(None)).distinct()
                for value in self.connection.scalars(query):
                    found.update(DIGEST_PATTERN.findall(str(value).lower()))
        return found
