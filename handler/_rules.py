"""Field rules shared by the pydantic models and the code paths that must not import pydantic.

Kept free of heavy imports: the function validates path ids and decodes cursors on requests (GET, DELETE)
that never load pydantic, and those checks must agree with the models' to the character.
"""

from __future__ import annotations

import re
from typing import Any, Final

ID_PATTERN: Final = "^[A-Za-z0-9_-]{1,64}$"
# No leading zero: the year is stored as a DynamoDB number, and "0999" would come back as 999.
YEAR_PATTERN: Final = "^[1-9][0-9]{3}$"
MIN_YEAR: Final = 1000
MAX_YEAR: Final = 9999
MAX_TITLE_LENGTH: Final = 256
DEFAULT_PAGE_SIZE: Final = 25
MAX_PAGE_SIZE: Final = 100
MAX_CURSOR_LENGTH: Final = 1024
ID_MESSAGE: Final = "must be 1-64 characters of A-Z a-z 0-9 _ -"
YEAR_MESSAGE: Final = f"year must be four digits ({MIN_YEAR}-{MAX_YEAR}), as a string or an integer"

_ID = re.compile(ID_PATTERN.strip("^$"))
_YEAR = re.compile(YEAR_PATTERN.strip("^$"))


def is_valid_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None


def is_valid_year_text(value: str) -> bool:
    return _YEAR.fullmatch(value) is not None


def parse_year(value: Any) -> int:
    """A year as the API accepts it: a four-digit string or an integer in range; ``ValueError`` otherwise."""
    # bool is an int subclass and 2023.0 is a float: neither is what a client meant by a year.
    if type(value) is int and MIN_YEAR <= value <= MAX_YEAR:
        return value
    if isinstance(value, str) and is_valid_year_text(value):
        return int(value)
    raise ValueError(YEAR_MESSAGE)
