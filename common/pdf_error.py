"""The PDF writer's one error, apart from the writer: a page that only catches it must not load fpdf2 (23 MB)."""

from __future__ import annotations


class PdfError(Exception):
    """The document cannot be written here (a missing font, an unreadable logo): said in French."""
