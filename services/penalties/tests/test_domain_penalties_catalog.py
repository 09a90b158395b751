"""Catalogue loading, validation, plugin discovery and the policy file."""
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from penalties import plugins
from penalties.catalog import BUILTIN_DIR, load_catalogs, parse_catalog
from penalties.plugins import discover_catalog_paths, load_all_catalogs
from penalties.policy import check_against, load_policy

DORMITORY_POINTS = {"D01": 2, "D02": 2, "D03": 5, "D04": 2, "D05": 2, "D06": 2,
                    "D07": 2, "D08": 2, "D09": 2, "D10": 1, "D11": 2, "D12": 2,
                    "D13": 3, "D14": 3, "D15": 2, "D16": 3, "D17": 5,
                    "DC01": {"min": 1, "max": 10_000_000}}     # at cost, 000 §5 三.9


def minimal(**over):
    doc = {"domain": "canteen", "rules": [
        {"code": "K01", "title_zh": "浪费粮食", "title_en": "Wasting food",
         "kind": "penalty", "points": 2}]}
    doc.update(over)
    return doc


def write(path: Path, doc) -> Path:
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_builtin_catalogues_load_with_the_rules_numbers():
    cats = load_catalogs([BUILTIN_DIR])
    assert cats.domains == ["attendance", "complaint", "conduct", "confidentiality",
                            "dormitory", "meeting", "service_quality"]
    dorm = cats.domain("dormitory")
    assert dorm.combine == "sum" and dorm.yuan_per_point == 10
    assert {r.code: r.amount.describe() for r in dorm.rules} == DORMITORY_POINTS
    conduct = cats.domain("conduct")
    assert conduct.combine == "max"
    assert dict(conduct.split) == {"individual": 60, "team_leader": 20,
                                   "dept_manager": 10, "unit_head": 10}
    meeting = {r.code: r.amount.describe() for r in cats.domain("meeting").rules}
    assert meeting == {"M01": 2, "M02": 5, "M03": 5, "M04": 10, "M05": 2, "M06": 5,
                       "M07": 5, "M08": 5, "M09": 10}
    assert cats.rule("C01").amount.describe() == {"min": 200, "max": 1500}
    assert cats.rule("S01").kind == "reward" and cats.rule("S01").progressive
    # 004 二.2: the leaders' joint points grow like the person's own.
    assert all(cats.rule(c).progressive for c in ("Q01", "Q02", "Q03"))
    assert cats.rule("DC01").tags == {"at_cost"}
    assert cats.rule("P11").kind == "reward"
    assert cats.rule("P01").amount.describe() == {"min": 300, "max": 2000}
    for cat in cats:
        for rule in cat.rules:
            assert rule.title_zh and rule.title_en and rule.kind in ("penalty", "reward")
    described = cats.describe()
    assert described[0]["domain"] == "attendance" and described[0]["rules"]


@pytest.mark.parametrize("change, key", [
    ({"domain": None}, "domain"),
    ({"combine": "avg"}, "combine"),
    ({"colour": "red"}, "colour"),
    ({"yuan_per_point": 0}, "yuan_per_point"),
    ({"split": {"individual": 60, "team_leader": 30}}, "split"),
    ({"split": {"team_leader": 100}}, "split.individual"),
    ({"split": {"individual": 90, "boss": 10}}, "split.boss"),
    ({"rules": []}, "rules"),
])
def test_catalogue_level_errors_name_file_and_key(change, key):
    with pytest.raises(ValueError) as err:
        parse_catalog(minimal(**change), origin="canteen.yaml")
    assert str(err.value).startswith(f"canteen.yaml: {key}:")


@pytest.mark.parametrize("change, key", [
    ({"pionts": 2}, "rules[0].pionts"),
    ({"code": "k1"}, "rules[0].code"),
    ({"title_en": ""}, "rules.K01.title_en"),
    ({"kind": "fine"}, "rules.K01.kind"),
    ({"yuan": 100}, "rules.K01.points"),
    ({"points": {"min": 5, "max": 3}}, "rules.K01.points"),
    ({"points": {"min": 5}}, "rules.K01.points"),
    ({"points": 0.25}, "rules.K01.points"),
    ({"points": -1}, "rules.K01.points"),
    ({"charge": ["boss"]}, "rules.K01.charge"),
    ({"progressive": "yes"}, "rules.K01.progressive"),
])
def test_rule_level_errors_name_file_and_key(change, key):
    rule = {**minimal()["rules"][0], **change}
    with pytest.raises(ValueError) as err:
        parse_catalog(minimal(rules=[rule]), origin="canteen.yaml")
    assert str(err.value).startswith(f"canteen.yaml: {key}:"), str(err.value)


def test_duplicate_codes_are_errors_within_and_across_catalogues(tmp_path):
    rule = minimal()["rules"][0]
    with pytest.raises(ValueError, match=r"rules\[1\].code: duplicate code K01"):
        parse_catalog(minimal(rules=[rule, rule]), origin="x.yaml")
    clash = write(tmp_path / "canteen.yaml", minimal(rules=[{**rule, "code": "D03"}]))
    with pytest.raises(ValueError) as err:
        load_catalogs([BUILTIN_DIR, clash])
    assert str(clash) in str(err.value) and "rules.D03: duplicate code" in str(err.value)


def test_duplicate_domain_needs_replaces(tmp_path):
    dorm = yaml.safe_load((BUILTIN_DIR / "dormitory.yaml").read_text(encoding="utf-8"))
    override = tmp_path / "dorm.yaml"
    write(override, dorm)
    with pytest.raises(ValueError, match="domain: 'dormitory' already loaded"):
        load_catalogs([BUILTIN_DIR, override])
    dorm["replaces"] = True
    dorm["rules"][0]["points"] = 4
    write(override, dorm)
    cats = load_catalogs([BUILTIN_DIR, override])
    assert cats.rule("D01").amount.describe() == 4
    assert cats.domain("dormitory").origin == str(override)


def test_unreadable_yaml_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("domain: [unclosed", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.yaml: cannot read catalogue"):
        load_catalogs([bad])


def _ep(name, target):
    return SimpleNamespace(name=name, value=f"plugin:{name}", load=lambda: target)


def test_plugins_from_entry_points_path_callable_and_list(tmp_path):
    a = write(tmp_path / "canteen.yaml", minimal())
    bdir = tmp_path / "more"
    bdir.mkdir()
    write(bdir / "parking.yaml", minimal(domain="parking", rules=[
        {**minimal()["rules"][0], "code": "V01"}]))
    c = write(tmp_path / "garden.yaml", minimal(domain="garden", rules=[
        {**minimal()["rules"][0], "code": "W01"}]))
    eps = [_ep("b", lambda: bdir), _ep("a", str(a)), _ep("c", lambda: [c])]
    seen = []

    def fake(group):
        seen.append(group)
        return eps

    assert discover_catalog_paths(entry_points=fake) == [a, bdir, c]
    assert seen == ["zhidu.penalty_catalogs"]
    cats = load_all_catalogs(entry_points=fake)
    assert {"canteen", "parking", "garden", "dormitory"} <= set(cats.domains)
    assert cats.rule("V01").domain == "parking"


def test_plugin_discovery_goes_through_importlib_metadata(tmp_path, monkeypatch):
    a = write(tmp_path / "canteen.yaml", minimal())
    monkeypatch.setattr(plugins.metadata, "entry_points",
                        lambda group: [_ep("canteen", a)] if group ==
                        "zhidu.penalty_catalogs" else [])
    assert load_all_catalogs().rule("K01").title_en == "Wasting food"


def test_broken_plugin_is_named():
    def boom():
        raise ImportError("no module named canteen")

    with pytest.raises(ValueError, match="entry point 'canteen'.*failed to load"):
        discover_catalog_paths(entry_points=lambda g: [_ep("canteen", boom)])
    with pytest.raises(ValueError, match="must resolve to a path"):
        discover_catalog_paths(entry_points=lambda g: [_ep("x", 42)])


def test_policy_defaults_overrides_and_errors(tmp_path):
    policy = load_policy()
    check_against(policy, load_catalogs([BUILTIN_DIR]))
    assert policy.ceiling_percent == 20
    assert policy.admonishment.min_points_tenths == 300
    assert policy.award_ineligible.max_penalties == 3
    assert policy.worst_of_month.min_complaints == 2
    assert policy.service_quality.supervisor.from_nth == 2

    over = tmp_path / "site.yaml"
    over.write_text("ceiling: {monthly_wage_percent: 10}\n", encoding="utf-8")
    tuned = load_policy([over])
    assert tuned.ceiling_percent == 10
    assert tuned.worst_of_month == policy.worst_of_month  # deep merge keeps the rest

    over.write_text("thresholds: {award_ineligible: {max_penalties: many}}\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match=r"site.yaml: thresholds.award_ineligible."
                                         r"max_penalties: required"):
        load_policy([over])

    over.write_text("thresholds: {worst_of_month: {fine_code: Z99}}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="code Z99: no loaded catalogue"):
        check_against(load_policy([over]), load_catalogs([BUILTIN_DIR]))


def test_unit_consequences_are_policy_validated_at_start_up(tmp_path):
    units = load_policy().units
    assert units.performance_pay_cut_percent == 5                   # 000 §4 附加说明.3
    assert (units.award_ineligible.domain, units.award_ineligible.max_penalties,
            units.award_ineligible.max_points_tenths) == ("meeting", 3, 150)  # 000 §3 十.8
    assert (units.dress_code.code, units.dress_code.min_penalties,
            units.dress_code.leader_code) == ("B01", 3, "B02")          # 000 §4 六.1
    assert load_policy().damage_code == "DC01"                          # 000 §5 三.9
    cats = load_catalogs([BUILTIN_DIR])
    over = tmp_path / "site.yaml"
    for text, error in [
        ("units: {admonishment: {performance_pay_cut_percent: 120}}",
         "units.admonishment.performance_pay_cut_percent: must be 0–100"),
        ("units: {dress_code: {min_penalties: 0}}", "units.dress_code.min_penalties"),
        # The ladder's growth moved to the catalogue rule; an old override must
        # not silently stop meaning what it said.
        ("service_quality: {supervisor: {progressive: false}}",
         "service_quality.supervisor.progressive: .*catalogue rule"),
    ]:
        over.write_text(text + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match=error):
            load_policy([over])
    for text, error in [
        ("units: {dress_code: {leader_code: B01}}", "must be a penalty charged to the unit_head"),
        ("damage: {code: D16}", "must be a penalty priced in yuan"),
        ("units: {award_ineligible: {domain: canteen}}", "domain canteen: no loaded"),
    ]:
        over.write_text(text + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match=error):
            check_against(load_policy([over]), cats)
