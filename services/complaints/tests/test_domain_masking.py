"""Contact masking (001 §2; rules §7)."""
from __future__ import annotations

import pytest
from complaints.masking import (
    can_export,
    can_read_contacts,
    mask_complainant,
    mask_email,
    mask_phone,
    reveals_contacts,
)


@pytest.mark.parametrize("phone, shown", [
    ("13812345678", "138****5678"),
    ("138-1234-5678", "138****5678"),
    ("0755 8765 4321", "075*****4321"),
    ("12345678", "********"),        # too short to keep both ends safely
    ("", ""),
    (None, None),
])
def test_mask_phone(policy, phone, shown):
    assert mask_phone(phone, policy) == shown


@pytest.mark.parametrize("email, shown", [
    ("wang.li@example.com", "w***@example.com"),
    ("a@b.cn", "a***@b.cn"),
    ("not-an-address", "***"),
    (None, None),
])
def test_mask_email(policy, email, shown):
    assert mask_email(email, policy) == shown


def test_roles(policy):
    person = {"name": "王女士", "phone": "13812345678", "email": "wang@example.com"}
    for role in ("it_admin", "info_officer"):
        assert can_read_contacts(role, policy)
        assert mask_complainant(person, role, policy) == person
        assert reveals_contacts(person, role, policy)
    for role in ("staff", "gm", None):
        shown = mask_complainant(person, role, policy)
        assert shown == {"name": "王女士", "phone": "138****5678", "email": "w***@example.com"}
        assert not reveals_contacts(person, role, policy)
    assert person["phone"] == "13812345678"                 # the original is untouched
    assert can_export("it_admin", policy) and not can_export("info_officer", policy)
