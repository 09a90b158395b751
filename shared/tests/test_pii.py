"""Phone numbers and e-mail addresses found in free text and masked in records."""
import pytest
from zhidu import pii
from zhidu.metrics import OTHER, KnownValues


@pytest.mark.parametrize("text, shown", [
    # mobiles, whole and grouped, in Chinese text with no spaces around them
    ("请回电13812345678", "请回电138****5678"),
    ("请回电 138 1234 5678 谢谢", "请回电 138****5678 谢谢"),
    ("手机：138-1234-5678。", "手机：138****5678。"),
    ("tel:19912345678", "tel:199****5678"),
    # the country code stays as written
    ("+86 138 1234 5678", "+86 138****5678"),
    ("+8613812345678", "+86138****5678"),
    ("0086-13812345678", "0086-138****5678"),
    ("(+86)13812345678", "(+86)138****5678"),
    # landlines with their area codes
    ("010-12345678", "010****5678"),
    ("0755 8765 4321", "075*****4321"),
    ("电话(021)61234567转", "电话021****4567转"),
    ("(0755) 8765-4321", "075*****4321"),
    ("+86 755 8765 4321", "+86 755****4321"),
    ("+86-10-12345678", "+86-**********"),      # too short to keep both ends
    # e-mail addresses, the full-width ＠ too
    ("邮箱 wang.li@example.com.cn", "邮箱 w***@example.com.cn"),
    ("zhang＠qq.com 或 li+cs@corp.example.org", "z***@qq.com 或 l***@corp.example.org"),
    ("两个号码 13812345678、13987654321", "两个号码 138****5678、139****4321"),
])
def test_contacts_in_text_are_masked(text, shown):
    assert pii.mask_text(text) == shown
    assert pii.contacts_in(text)


@pytest.mark.parametrize("text", [
    "C202611-0001", "R2611-0003", "2611-0001", "SO-20261101-0001", "订单号 SO13812345678",
    "工号E13812345678", "身份证110101199003071234", "2026-11-20 10:00", "08:30-16:20",
    "金额 12345678 元", "138123456789", "12345678901", "400-820-8820", "10086",
    "第3栋1201室", "user@localhost", "@example.com", "",
])
def test_what_only_looks_like_a_contact_is_left_alone(text):
    assert pii.mask_text(text) == text
    assert not pii.contacts_in(text)


def test_masks_are_the_callers_choice():
    text = "请联系 13812345678 或 wang@example.com"
    assert pii.mask_text(text, phone=lambda p: "[phone]", email=lambda e: "[email]") == \
        "请联系 [phone] 或 [email]"
    assert pii.mask_phone("13812345678", keep_first=0, keep_last=2, char="#") == \
        "#########78"
    assert pii.mask_text(None) is None and pii.mask_text(12) == 12


def test_a_record_is_masked_by_key_and_by_content_and_keeps_its_ids():
    dead_letter = {
        "id": "evt-notifications:075587654321", "handler": "on_employee_contact_changed",
        "error": "ValueError: cannot send to 13812345678",
        "event": {"id": "075587654321", "correlation_id": "13812345678",
                  "data": {"employee_id": "E1", "phone": "+86 138 0000 0001",
                           "tel": "5550123",
                           "email": "li@example.com", "monthly_wage_yuan": 6000,
                           "wage": None, "people": [{"mobile": 13900000002}],
                           "note": "客户说 li@example.com 不再使用"}}}
    shown = pii.mask_private(dead_letter)
    data = shown["event"]["data"]
    assert data["phone"] == "+86 138****0001" and data["tel"] == "*******"
    assert data["email"] == "l***@example.com"
    assert data["monthly_wage_yuan"] == "***" and data["wage"] is None
    assert data["people"] == [{"mobile": "139****0002"}]
    assert data["note"] == "客户说 l***@example.com 不再使用"
    assert shown["error"] == "ValueError: cannot send to 138****5678"
    assert shown["id"] == dead_letter["id"] and data["employee_id"] == "E1"
    assert shown["event"]["id"] == "075587654321"
    assert shown["event"]["correlation_id"] == "13812345678"
    assert dead_letter["event"]["data"]["phone"] == "+86 138 0000 0001"   # a copy


def test_a_label_names_only_known_values_and_rereads_them_for_a_stranger():
    now = [0.0]
    reads = []

    def fetch():
        reads.append(now[0])
        return {"customer_service", "engineering"} | ({"audit"} if now[0] >= 10 else set())

    known = KnownValues(fetch, fixed={"unassigned"}, ttl=60, retry=5, clock=lambda: now[0])
    assert known.label("engineering") == "engineering" and reads == [0.0]
    assert [known.label(f"made-up-{i}") for i in range(5)] == [OTHER] * 5
    assert reads == [0.0]                       # a stranger rereads at most every 5 s
    now[0] = 10
    assert known.label("audit") == "audit" and reads == [0.0, 10]
    assert known.label("unassigned") == "unassigned"

    def broken():
        raise OSError("database away")

    known.fetch = broken
    now[0] = 100
    assert known.label("audit") == "audit"      # what was known is kept
