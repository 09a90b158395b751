"""The suite's own issuer: passwords, log-in, its keys, and who may change a record."""
import json
import logging
import os
import subprocess
import sys

import jwt
import pytest
import requests
from directory.service import DirectoryService
from nameko.exceptions import RemoteError
from zhidu.testing import service_db

pytestmark = pytest.mark.integration

LI = {"employee_id": "E1", "name": "王丽", "gender": "F", "department": "customer_service",
      "unit": "centre", "manager_id": "M1", "monthly_wage_yuan": 6000}
ZHAO = {"employee_id": "E2", "name": "赵强", "gender": "M", "department": "customer_service",
        "unit": "centre", "manager_id": "M1"}
BOSS = {"employee_id": "M1", "name": "孙经理", "gender": "M", "department": "customer_service",
        "unit": "centre", "role": "dept_manager"}
PASSWORD = "correct horse battery"


def refused(call, payload) -> RemoteError:
    with pytest.raises(RemoteError) as err:
        call(payload)
    return err.value


@pytest.fixture
def directory(start_service, rpc):
    container = start_service(DirectoryService, ZHIDU_LOGIN_MAX_FAILURES="3")
    for employee in (LI, ZHAO, BOSS):
        rpc.directory.upsert_employee(employee)          # as HR (the test operator)
        rpc.directory.set_password({"employee_id": employee["employee_id"],
                                    "password": PASSWORD})
    return container


def login(rpc, employee_id, password=PASSWORD) -> str:
    return rpc.anonymous().directory.login({"employee_id": employee_id,
                                            "password": password})["access_token"]


def test_a_person_logs_in_and_reads_their_own_record_but_not_a_colleagues(directory, rpc,
                                                                         zhidu_config):
    reply = rpc.anonymous().directory.login({"employee_id": "E1", "password": PASSWORD})
    assert reply["token_type"] == "Bearer" and reply["expires_in"] == 3600
    li = rpc.as_(reply["access_token"])
    assert li.directory.get_employee({"employee_id": "E1"})["monthly_wage_yuan"] == 6000
    error = refused(li.directory.get_employee, {"employee_id": "E2"})
    assert error.exc_type == "PermissionDenied" and "E1 holds staff" in error.value
    # Their line manager reads both; nobody changes a record but HR or it_admin.
    boss = rpc.as_(login(rpc, "M1"))
    assert boss.directory.get_employee({"employee_id": "E2"})["name"] == "赵强"
    error = refused(boss.directory.upsert_employee, dict(LI, monthly_wage_yuan=60000))
    assert error.exc_type == "PermissionDenied" and "upsert_employee" in error.value
    error = refused(li.directory.upsert_employee, dict(LI, role="gm"))
    assert error.exc_type == "PermissionDenied"
    assert rpc.directory.get_employee({"employee_id": "E1"})["role"] == "staff"
    # The password is kept only as a slow salted hash.
    stored = service_db(zhidu_config, "directory").credentials.find_one({"_id": "E1"})
    assert stored["hash"].startswith("$argon2id$") and PASSWORD not in json.dumps(
        stored, default=str)


def test_wrong_passwords_are_limited_per_person(directory, rpc, caplog):
    caplog.set_level(logging.INFO)
    for _ in range(3):
        error = refused(rpc.anonymous().directory.login,
                        {"employee_id": "E1", "password": "guess"})
        assert error.exc_type == "Unauthenticated" and "wrong employee id" in error.value
    locked = refused(rpc.anonymous().directory.login,
                     {"employee_id": "E1", "password": PASSWORD})
    assert "too many failed log-ins" in locked.value
    # Another person is not locked out by E1's failures.
    assert login(rpc, "E2")
    unknown = refused(rpc.anonymous().directory.login,
                      {"employee_id": "nobody", "password": "guess"})
    assert "wrong employee id or password" in unknown.value
    assert PASSWORD not in caplog.text and "guess" not in caplog.text


def test_guesses_sent_at_once_are_limited_like_guesses_sent_one_by_one(directory, rpc,
                                                                       zhidu_config):
    # Each check takes tens of milliseconds; guesses arriving together must
    # not all be checked against a count none of them has written yet.
    guesses = [rpc.anonymous().directory.login.call_async(
        {"employee_id": "E1", "password": f"guess {i}"}) for i in range(8)]
    answers = []
    for guess in guesses:
        with pytest.raises(RemoteError) as err:
            guess.result()
        answers.append(err.value.value)
    checked = [a for a in answers if "wrong employee id or password" in a]
    assert len(checked) <= 3 and len(answers) - len(checked) >= 5, answers
    locked = refused(rpc.anonymous().directory.login,
                     {"employee_id": "E1", "password": PASSWORD})
    assert "too many failed log-ins" in locked.value
    # A refused attempt is taken back: only the guesses checked count.
    stored = service_db(zhidu_config, "directory").credentials.find_one({"_id": "E1"})
    assert len(stored["failures"]) == len(checked)


def test_departed_people_cannot_log_in_and_their_tokens_stop_working(directory, rpc):
    token = login(rpc, "E2")
    rpc.directory.employee_departed({"employee_id": "E2", "at": "2026-11-20T10:00:00"})
    error = refused(rpc.anonymous().directory.login,
                    {"employee_id": "E2", "password": PASSWORD})
    assert error.exc_type == "Unauthenticated"
    error = refused(rpc.as_(token).directory.get_employee, {"employee_id": "E2"})
    assert error.exc_type == "Unauthenticated" and "left the company" in error.value


def test_passwords_are_set_by_hr_and_changed_by_their_owner(directory, rpc, people):
    li = rpc.as_(login(rpc, "E1"))
    error = refused(li.directory.set_password, {"employee_id": "E2", "password": "x" * 12})
    assert error.exc_type == "PermissionDenied"
    changed = li.directory.change_password({"employee_id": "E1",
                                            "current_password": PASSWORD,
                                            "new_password": "a much longer secret"})
    assert changed["password_set"]
    assert login(rpc, "E1", "a much longer secret")
    wrong = refused(li.directory.change_password, {"employee_id": "E1",
                                                   "current_password": PASSWORD,
                                                   "new_password": "another secret!"})
    assert wrong.exc_type == "ValidationError" and "current_password" in wrong.value
    short = refused(rpc.directory.set_password, {"employee_id": "E1", "password": "short"})
    assert short.exc_type == "ValidationError" and "password" in short.value


def test_hr_changes_a_colleagues_record_but_never_their_own_rules_s8(directory, rpc,
                                                                     zhidu_config):
    clerk = {"employee_id": "H1", "name": "周敏", "gender": "F", "department": "hr",
             "unit": "hq", "role": "hr", "monthly_wage_yuan": 7000}
    rpc.directory.upsert_employee(clerk)
    rpc.directory.set_password({"employee_id": "H1", "password": PASSWORD})
    hr = rpc.as_(login(rpc, "H1"))
    for change in ({"role": "gm"}, {"monthly_wage_yuan": 70_000}):
        error = refused(hr.directory.upsert_employee, dict(clerk, **change))
        assert error.exc_type == "PermissionDenied" and "separation of duties" in error.value
    error = refused(hr.directory.set_password, {"employee_id": "H1", "password": "x" * 12})
    assert error.exc_type == "PermissionDenied"
    assert rpc.directory.get_employee({"employee_id": "H1"})["role"] == "hr"
    # A colleague's record is HR's to change, and the record names who did.
    assert hr.directory.upsert_employee(dict(LI, monthly_wage_yuan=6500))[
        "monthly_wage_yuan"] == 6500
    stored = service_db(zhidu_config, "directory").employees.find_one({"_id": "E1"})
    assert stored["updated_by"]["id"] == "H1"


def test_jwks_endpoint_serves_the_public_keys_only(directory, rpc):
    keys = requests.get(f"{directory.web_url}/.well-known/jwks.json", timeout=10).json()
    token = login(rpc, "E1")
    kid = jwt.get_unverified_header(token)["kid"]
    [key] = [k for k in keys["keys"] if k["kid"] == kid]
    assert key["kty"] == "OKP" and key["alg"] == "EdDSA" and "d" not in key
    claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["EdDSA"], audience="zhidu")
    assert claims["sub"] == "E1" and claims["iss"] == "zhidu"


def test_rest_login_and_bearer_calls(directory):
    base = f"{directory.web_url}/api/v1/directory"
    reply = requests.post(f"{base}/login", json={"employee_id": "E1", "password": PASSWORD},
                          timeout=10)
    assert reply.status_code == 200, reply.text
    token = reply.json()["access_token"]
    mine = requests.get(f"{base}/employees/E1", timeout=10,
                        headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200 and mine.json()["name"] == "王丽"
    theirs = requests.get(f"{base}/employees/E2", timeout=10,
                          headers={"Authorization": f"Bearer {token}"})
    assert theirs.status_code == 403
    bad = requests.get(f"{base}/employees/E1", timeout=10,
                       headers={"Authorization": f"Bearer {token[:-4]}AAAA"})
    assert bad.status_code == 401 and bad.headers["WWW-Authenticate"].startswith("Bearer")
    assert token not in bad.text


def test_operators_mint_tokens_with_the_command(directory, rpc, zhidu_config):
    env = dict(os.environ, ZHIDU_KEY_DIR=zhidu_config["ZHIDU_KEY_DIR"])
    command = [sys.executable, "-m", "zhidu.cli", "token", "issue"]
    minted = subprocess.run(command + ["svc:hr-sync", "--role", "hr", "--scope",
                                       "directory:*"], env=env, capture_output=True,
                            text=True, check=True).stdout.strip()
    assert rpc.as_(minted).directory.get_employee({"employee_id": "E1"})["name"] == "王丽"
    reader = subprocess.run(command + ["svc:reader", "--role", "hr", "--scope",
                                       "directory:get_employee"], env=env,
                            capture_output=True, text=True, check=True).stdout.strip()
    assert rpc.as_(reader).directory.get_employee({"employee_id": "E1"})["name"] == "王丽"
    outside = refused(rpc.as_(reader).directory.upsert_employee, dict(LI, unit="x"))
    assert outside.exc_type == "PermissionDenied" and "scopes directory:get_employee" in \
        outside.value
    person_with_role = subprocess.run(command + ["E1", "--role", "gm"], env=env,
                                      capture_output=True, text=True)
    assert person_with_role.returncode == 2 and "directory" in person_with_role.stderr
    unscoped = subprocess.run(command + ["svc:x"], env=env, capture_output=True, text=True)
    assert unscoped.returncode == 2 and "--scope" in unscoped.stderr
