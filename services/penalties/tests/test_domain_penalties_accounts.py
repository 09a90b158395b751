"""Account summary and the monthly publication."""
from penalties.accounts import account
from penalties.appeals import reversal_of
from penalties.booking import book
from penalties.catalog import BUILTIN_DIR, load_catalogs
from penalties.policy import load_policy
from penalties.publication import publication

CATS = load_catalogs([BUILTIN_DIR])
POLICY = load_policy()


def entry(domain, code, employee="e1", n=1, at="2026-11-10T10:00:00", **over):
    return book({"domain": domain, "codes": [code], "employee_id": employee,
                 "incident_id": f"{code}-{n}", "at": at, **over}, CATS)


def test_account_totals_flags_and_month_filter():
    ledger = (entry("dormitory", "D16") + entry("dormitory", "D03", at="2026-10-01T10:00:00")
              + entry("confidentiality", "P11", amount_yuan=400)
              + entry("dormitory", "D17", employee="e2"))
    acct = account("e1", ledger, CATS, POLICY, year=2026)
    assert acct["employee_id"] == "e1" and acct["month"] is None
    assert (acct["points_total"], acct["amount_yuan_total"], acct["penalty_count"]) == (
        8, 80, 2)
    assert acct["reward_yuan_total"] == 400
    assert acct["flags"] == {"admonishment": False, "award_eligible": True}
    codes = [e["code"] for e in acct["entries"]]
    assert codes[0] == "D03" and sorted(codes[1:]) == ["D16", "P11"]  # oldest first
    nov = account("e1", ledger, CATS, POLICY, year=2026, month=11)
    assert (nov["points_total"], nov["penalty_count"]) == (3, 1)


def test_flags_are_annual():
    meetings = []
    for n in range(4):
        meetings += entry("meeting", "M01", n=n, at=f"2026-0{n + 1}-05T10:00:00")
    conduct = (entry("conduct", "B10", n=1, at="2026-02-01T10:00:00")
               + entry("conduct", "B10", n=2, at="2026-03-01T10:00:00"))
    acct = account("e1", meetings + conduct, CATS, POLICY, year=2026, month=4)
    assert acct["flags"] == {"admonishment": True, "award_eligible": False}
    assert account("e1", meetings, CATS, POLICY, year=2027)["flags"]["award_eligible"]


def test_publication_groups_last_month_per_unit_and_person():
    people = {"e1": {"unit": "Terminal", "name": "Li"}, "e2": {"unit": "Cargo"},
              "e3": {"unit": "Terminal"}}
    d16 = entry("dormitory", "D16")
    ledger = (d16 + entry("dormitory", "D03", n=2)
              + entry("dormitory", "D17", employee="e2")
              + entry("dormitory", "D10", employee="e3")
              + entry("dormitory", "D01", employee="ghost")
              + entry("dormitory", "D05", at="2026-12-01T10:00:00")        # next month
              + entry("confidentiality", "P11", amount_yuan=300))          # a reward
    d10 = next(e for e in ledger if e["code"] == "D10")
    ledger.append(reversal_of(d10, at="2026-11-20T10:00:00"))              # upheld
    pub = publication(ledger, people, year=2026, month=12)
    assert pub["covers"] == {"year": 2026, "month": 11}
    assert [u["unit"] for u in pub["units"]] == ["Cargo", "Terminal", None]
    terminal = pub["units"][1]
    assert (terminal["points_total"], terminal["amount_yuan_total"]) == (8, 80)
    assert [p["employee_id"] for p in terminal["people"]] == ["e1"]   # e3 cleared
    li = terminal["people"][0]
    assert li["name"] == "Li" and sorted(e["code"] for e in li["entries"]) == ["D03", "D16"]
    january = publication(ledger, people, year=2027, month=1)
    assert january["covers"] == {"year": 2026, "month": 12}
    assert [e["code"] for u in january["units"] for p in u["people"]
            for e in p["entries"]] == ["D05"]
