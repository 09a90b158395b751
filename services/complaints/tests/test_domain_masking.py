"""Contact masking (001 §2; rules §7)."""
from __future__ import annotations

import pytest
from complaints import views
from complaints.masking import (
    can_export,
    can_read_contacts,
    mask_complainant,
    mask_email,
    mask_free_text,
    mask_phone,
    mask_text,
    reveals_contacts,
    reveals_text,
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


WORDS = {"subject": "请回电 138 1234 5678",
         "description": "邮箱 wang@example.com，订单 C202611-0001",
         "demand": "打 0755-87654321 或 +86 139 1234 5678"}


def test_free_text_is_masked_with_the_policys_masks(policy, rules_with):
    shown = mask_free_text(WORDS, "staff", policy)
    assert shown == {"subject": "请回电 138****5678",
                     "description": "邮箱 w***@example.com，订单 C202611-0001",
                     "demand": "打 075*****4321 或 +86 139****5678"}
    assert mask_free_text(WORDS, "info_officer", policy) == WORDS
    assert mask_free_text({"subject": "没有号码"}, "staff", policy) == {"subject": "没有号码"}

    def tighter(raw):
        raw["confidentiality"]["phone"] = {"keep_first": 0, "keep_last": 2, "mask_char": "#"}
        raw["confidentiality"]["email"] = {"keep_first": 0, "mask": "…"}
    strict = rules_with(tighter).policy
    assert mask_text(WORDS["subject"], strict) == "请回电 #########78"
    assert mask_text(WORDS["description"], strict) == "邮箱 …@example.com，订单 C202611-0001"


def test_showing_free_text_in_full_is_a_read_to_audit(policy):
    assert reveals_text(WORDS, "info_officer", policy)
    assert not reveals_text(WORDS, "staff", policy)
    assert not reveals_text({"subject": "订单 C202611-0001 未送达"}, "info_officer", policy)


def test_views_mask_the_customers_words(filed, policy):
    case = filed(**WORDS, complainant={"name": "李先生"})
    for view in (views.full(case, "staff", policy), views.listed(case, "gm", policy),
                 views.summary(case)):
        assert view["subject"] == "请回电 138****5678"
    assert views.full(case, "staff", policy)["demand"] == "打 075*****4321 或 +86 139****5678"
    assert views.full(case, "info_officer", policy)["description"] == WORDS["description"]
    assert views.listed(case, "it_admin", policy)["subject"] == WORDS["subject"]
    assert views.full(case, "staff", policy, reveal=True)["subject"] == WORDS["subject"]
    assert views.revealed([case], "info_officer", policy) == [case["number"]]
    assert views.revealed([case], "staff", policy) == []
    assert case["subject"] == WORDS["subject"]                 # the stored case is untouched
