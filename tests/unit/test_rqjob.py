"""frontdesk/submissions/rqjob.py's zlib framing of a job's data: what RQ's ``zlib.decompress`` reads."""

from __future__ import annotations

import os
import zlib

import pytest

from frontdesk.submissions.rqjob import _compress


@pytest.mark.parametrize("size", [0, 1, 90, 4096, 65535, 65536, 200_000])
def test_zlib_reads_the_data_back(size: int) -> None:
    data = os.urandom(size)
    assert zlib.decompress(_compress(data)) == data


def test_a_damaged_stream_is_refused() -> None:
    framed = bytearray(_compress(b'["worker.jobs.send_message", null, ["id", "staff"], {}]'))
    framed[10] ^= 0x01
    with pytest.raises(zlib.error):
        zlib.decompress(bytes(framed))
