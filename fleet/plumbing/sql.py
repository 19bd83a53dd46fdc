"""Helpers for the raw-SQL query modules: identifiers always come from the models."""

from __future__ import annotations

from django.db import models
from psycopg import sql


def identifier(model: type[models.Model]) -> sql.Identifier:
    """The model's table as a quoted identifier, so a renamed db_table follows everywhere."""
    return sql.Identifier(model._meta.db_table)
