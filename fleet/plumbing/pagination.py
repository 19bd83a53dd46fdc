"""Page-number paging in DRF's shape (count, next, previous, results) for lists whose page is
cut by the query itself (LIMIT/OFFSET with a window count), not by slicing a QuerySet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rest_framework.request import Request
from rest_framework.utils.urls import remove_query_param, replace_query_param

from fleet.plumbing.errors import ApiError

MAX_PAGE = 10**6


def _whole_number(params: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise ApiError(400, f"'{name}' must be a whole number from 1 to {maximum}.")
    return value


@dataclass(frozen=True)
class PageRequest:
    number: int
    size: int

    @classmethod
    def from_query(
        cls, params: Mapping[str, str], *, default_size: int, max_size: int
    ) -> PageRequest:
        """?page=N&page_size=M, each a whole number in range, else a 400 that says so."""
        return cls(
            _whole_number(params, "page", 1, MAX_PAGE),
            _whole_number(params, "page_size", default_size, max_size),
        )

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    def check_exists(self, count: int) -> None:
        """A page past the end is a 404, as DRF's own paginator answers (page 1 always exists,
        empty or not)."""
        if self.number > 1 and self.offset >= count:
            pages = max(1, -(-count // self.size))
            raise ApiError(
                404, f"There is no page {self.number}: {count} results make {pages} page(s)."
            )

    def body(
        self, request: Request, count: int, results: list[Any], **extra: Any
    ) -> dict[str, Any]:
        """The paged response: count, next, previous, any extra fields, then results."""
        url = request.build_absolute_uri()
        following = None
        if self.number * self.size < count:
            following = replace_query_param(url, "page", self.number + 1)
        previous = None
        if self.number == 2:
            previous = remove_query_param(url, "page")
        elif self.number > 2:
            previous = replace_query_param(url, "page", self.number - 1)
        return {
            "count": count,
            "next": following,
            "previous": previous,
            **extra,
            "results": results,
        }
