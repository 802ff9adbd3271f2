import msgspec
import pytest

from frontdesk.decoding import where_and_what


class Inner(msgspec.Struct):
    width: int


class Outer(msgspec.Struct, forbid_unknown_fields=True):
    items: list[Inner]
    names: dict[str, str] = {}


@pytest.mark.parametrize(
    ("document", "where", "what"),
    [
        ({"items": [{"width": "x"}]}, "$.items[0].width", "Expected `int`, got `str`"),
        ({"items": [], "extra": 1}, "$", "Object contains unknown field `extra`"),
        ({"items": [], "names": {1: "a"}}, "$.names", "Expected `str`, got `int` (a key)"),
        ([], "$", "Expected `object`, got `array`"),
    ],
)
def test_where_and_what(document: object, where: str, what: str) -> None:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.convert(document, Outer)
    assert where_and_what(caught.value) == (where, what)
