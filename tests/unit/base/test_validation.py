"""The one validation-error formatter: key paths, both styles, the limit."""
from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, field_validator

from multus_dp.base.validation import describe


class Item(BaseModel):
    type: str

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        return value


class Doc(BaseModel):
    items: list[Item]
    count: int = 0


def error(data: object) -> ValidationError:
    with pytest.raises(ValidationError) as err:
        Doc.model_validate(data)
    return err.value


def test_key_paths_and_messages() -> None:
    exc = error({"items": [{"type": "a"}, {"type": ""}], "count": "x"})
    assert describe(exc) == ("items[1].type: must not be empty; "
                             "count: Input should be a valid integer, unable to parse string as an integer")


def test_quoted_keys_continue_a_sentence() -> None:
    exc = error({"items": [{"type": ""}], "count": "x"})
    assert describe(exc, quote_keys=True) == (
        '"items[0].type" must not be empty; '
        '"count" input should be a valid integer, unable to parse string as an integer')


def test_the_document_itself_and_the_limit() -> None:
    assert describe(error([])) == "(root): Input should be a valid dictionary or instance of Doc"
    exc = error({"items": [{"type": ""}] * 4})
    assert describe(exc, limit=2) == "items[0].type: must not be empty; items[1].type: must not be empty; and 2 more"
