"""The position cursors of the staff list (the offset cursors: test_content_bodies.py)."""

from __future__ import annotations

import pytest

from frontdesk.cursors import CursorError, decode_position, encode_position


def test_position_cursor_round_trip() -> None:
    score = 1767258000123.0
    assert decode_position(encode_position(score, "0190f00d" * 3)) == (score, "0190f00d" * 3)
    assert "=" not in encode_position(1.5, "a")  # unpadded base64url


@pytest.mark.parametrize("bad", ["!!!", "é", "bm9wZQ", "//79"])
def test_a_cursor_that_is_not_a_position_is_refused(bad: str) -> None:
    with pytest.raises(CursorError):
        decode_position(bad)
