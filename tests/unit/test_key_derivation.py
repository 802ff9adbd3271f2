"""The key derivation: RFC 5869's own test vector, and one distinct key per purpose."""

import pytest

from frontdesk.submissions.secret import PURPOSES, derive, hkdf_sha256


def test_hkdf_matches_rfc_5869_test_case_3() -> None:
    # RFC 5869 Appendix A.3: SHA-256, IKM = 22 x 0x0b, empty salt and info; OKM's first 32 bytes.
    okm = "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
    assert hkdf_sha256(bytes([0x0B] * 22), b"").hex() == okm


def test_every_purpose_has_its_own_key() -> None:
    master = b"m" * 32
    keys = {derive(master, purpose) for purpose in PURPOSES}
    assert len(keys) == len(PURPOSES)
    assert master not in keys
    with pytest.raises(ValueError, match="unknown key purpose"):
        derive(master, "everything")  # type: ignore[arg-type]
