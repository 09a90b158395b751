"""Prometheus and Alertmanager beside a suite running on this machine.

``zhidu run`` and the monitoring tests start Debian's ``prometheus`` and
``prometheus-alertmanager`` with the repository's alert rules
(``deploy/prometheus/rules``) and routes (``deploy/alertmanager``), scraping
the services they are given and RabbitMQ's ``rabbitmq_prometheus`` endpoint.
The configuration is generated into a working directory, so the committed
files stay the deployment's (compose and Kubernetes host names) and a run here
only swaps in local addresses. Both processes are stopped by whoever started
them, by pid, and die with it if it dies first; nothing is left running and
nothing else is touched.

The notifications service cannot page anyone about its own outage, nor about
the broker's: Alertmanager's ``oncall-direct`` receiver takes those two
straight to on-call's mailbox and, where there is one, a pager gateway
(:class:`DirectPage`, from the same SMTP settings as the notifications
service).
"""
from __future__ import annotations

import copy
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import yaml

from .processes import die_with_parent

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "deploy" / "prometheus" / "rules"
ALERTMANAGER_CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yaml"
RECEIVER_PATH = "/api/v1/notifications/alerts"
BROKER_METRICS_PORT = 15692
# Per-object, so every queue is a labelled series; the default endpoint sums
# them all into one number per metric.
BROKER_METRICS_PATH = "/metrics/per-object"
DEFAULT_PROMETHEUS_PORT = 9090
DEFAULT_ALERTMANAGER_PORT = 9093
TOKEN_SUBJECT = "svc:alertmanager"
TOKEN_SCOPE = "notifications:receive_alerts"
TOKEN_COMMAND = f"zhidu token issue {TOKEN_SUBJECT} --scope {TOKEN_SCOPE}"
# A token `make run` issues itself outlives any run (Alertmanager reads the file
# at each delivery and cannot renew it); it is renewed at the next start once
# it has less than a day left.
LOCAL_TOKEN_TTL = 30 * 86400
TOKEN_RENEW_BEFORE = 86400
DIRECT_RECEIVER = "oncall-direct"


class MonitoringError(RuntimeError):
    """Prometheus or Alertmanager did not start; the message ends with its log."""


@dataclass(frozen=True)
class ScrapeJob:
    name: str
    targets: tuple[str, ...]
    metrics_path: str = "/metrics"


def binaries() -> dict[str, str] | None:
    """Paths of the two servers, or None unless both are installed.

    Debian names the Alertmanager binary ``prometheus-alertmanager``.
    """
    prometheus = shutil.which("prometheus")
    alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not prometheus or not alertmanager:
        return None
    return {"prometheus": prometheus, "alertmanager": alertmanager}


def suite_jobs(ports: dict[str, int], host: str = "127.0.0.1") -> list[ScrapeJob]:
    """One job per service, named ``zhidu-<service>`` as the alert rules expect."""
    return [ScrapeJob(f"zhidu-{name}", (f"{host}:{port}",)) for name, port in ports.items()]


def broker_job(amqp_uri: str) -> ScrapeJob:
    """RabbitMQ's Prometheus endpoint on the broker's host, or
    ``ZHIDU_BROKER_METRICS_ADDRESS`` (host:port) when it is elsewhere."""
    address = os.environ.get("ZHIDU_BROKER_METRICS_ADDRESS")
    if not address:
        host = urlparse(amqp_uri).hostname or "localhost"
        address = f"{host}:{BROKER_METRICS_PORT}"
    return ScrapeJob("rabbitmq", (address,), BROKER_METRICS_PATH)


def _duration(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms" if seconds < 1 or seconds != int(seconds) \
        else f"{int(seconds)}s"


def prometheus_config(jobs: Iterable[ScrapeJob], *, alertmanager: str | None,
                      rule_files: Iterable[str], scrape_interval: float = 15,
                      evaluation_interval: float = 15) -> dict:
    interval = _duration(scrape_interval)
    return {
        "global": {
            "scrape_interval": interval,
            # A scrape may not outlast its interval.
            "scrape_timeout": _duration(min(scrape_interval, 10)),
            "evaluation_interval": _duration(evaluation_interval),
        },
        "rule_files": list(rule_files),
        "alerting": {"alertmanagers": [
            {"static_configs": [{"targets": [alertmanager]}]}]} if alertmanager else {},
        "scrape_configs": [
            {"job_name": job.name, "metrics_path": job.metrics_path,
             "static_configs": [{"targets": list(job.targets)}]}
            for job in jobs],
    }


def _routes(route: dict):
    yield route
    for child in route.get("routes") or ():
        yield from _routes(child)


@dataclass(frozen=True)
class DirectPage:
    """How on-call hears of what the notifications service cannot tell them:
    its own outage and the broker's (Alertmanager's ``oncall-direct`` receiver).

    E-mail goes through the relay the notifications service uses
    (``ZHIDU_SMTP_*``) to the addresses of ``ZHIDU_ONCALL_EMAIL``; a pager
    gateway that accepts Alertmanager's webhook payload (an SMS or WeCom /
    DingTalk bridge) is called at ``ZHIDU_ONCALL_PAGER_URL``. Neither set:
    the receiver has nothing to send with, and says so at start-up.
    """

    email_to: tuple[str, ...] = ()
    smarthost: str | None = None          # host:port
    sender: str = "zhidu@localhost"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    ca_file: str | None = None
    pager_url: str | None = None

    @classmethod
    def from_env(cls, env=None) -> DirectPage:
        env = os.environ if env is None else env
        host = (env.get("ZHIDU_SMTP_HOST") or "").strip()
        return cls(
            email_to=tuple(a.strip() for a in (env.get("ZHIDU_ONCALL_EMAIL") or "").split(",")
                           if a.strip()),
            smarthost=f"{host}:{env.get('ZHIDU_SMTP_PORT') or 25}" if host else None,
            sender=env.get("ZHIDU_SMTP_FROM") or "zhidu@localhost",
            username=env.get("ZHIDU_SMTP_USER") or None,
            password=env.get("ZHIDU_SMTP_PASSWORD") or None,
            starttls=(env.get("ZHIDU_SMTP_STARTTLS") or "false").lower() == "true",
            ca_file=env.get("ZHIDU_SMTP_CA_FILE") or None,
            pager_url=(env.get("ZHIDU_ONCALL_PAGER_URL") or "").strip() or None)

    @property
    def by_email(self) -> bool:
        return bool(self.email_to and self.smarthost)

    def describe(self) -> str:
        """One start-up line: how a notifications or broker outage reaches on-call."""
        ways = []
        if self.by_email:
            ways.append(f"e-mail to {', '.join(self.email_to)} via {self.smarthost}")
        if self.pager_url:
            ways.append(f"the pager gateway {self.pager_url}")
        if ways:
            return ("a notifications or broker outage is paged around the notifications "
                    f"service: {' and '.join(ways)}")
        missing = [name for name, given in (("ZHIDU_SMTP_HOST", self.smarthost),
                                            ("ZHIDU_ONCALL_EMAIL", self.email_to)) if not given]
        return ("a notifications or broker outage shows in Alertmanager only (nobody is "
                f"paged while notifications is down): set {' and '.join(missing)}, or "
                "ZHIDU_ONCALL_PAGER_URL")


def alertmanager_config(*, receiver_url: str, token_file: str | Path,
                        template: Path = ALERTMANAGER_CONFIG,
                        timing: dict | None = None, direct: DirectPage | None = None,
                        secrets_dir: str | Path | None = None) -> dict:
    """The repository's routes with every notifications webhook sent to
    ``receiver_url`` with the token in ``token_file``, and the
    ``oncall-direct`` receiver sending as ``direct`` says (the committed
    relay and addresses are the deployment's placeholders; nothing is sent
    to them from here). A relay password is written to ``secrets_dir``.

    ``timing`` replaces group_wait / group_interval / repeat_interval on every
    route that sets them (tests shorten them; the routes stay as reviewed).
    """
    config = copy.deepcopy(yaml.safe_load(template.read_text(encoding="utf-8")))
    direct = direct or DirectPage()
    for receiver in config.get("receivers", []):
        if receiver["name"] == DIRECT_RECEIVER:
            _direct_receiver(config, receiver, direct, secrets_dir)
            continue
        for webhook in receiver.get("webhook_configs") or ():
            if urlparse(webhook["url"]).path != RECEIVER_PATH:
                continue
            webhook["url"] = receiver_url
            webhook.setdefault("http_config", {})["authorization"] = {
                "type": "Bearer", "credentials_file": str(token_file)}
    if timing:
        for route in _routes(config["route"]):
            for key, value in timing.items():
                if key in route or route is config["route"]:
                    route[key] = value
    return config


def _direct_receiver(config: dict, receiver: dict, direct: DirectPage,
                     secrets_dir: str | Path | None) -> None:
    glob = config.setdefault("global", {})
    for key in [k for k in glob if k.startswith("smtp_")]:
        del glob[key]
    emails = receiver.pop("email_configs", None) or [{}]
    receiver.pop("webhook_configs", None)
    if direct.by_email:
        glob.update(smtp_smarthost=direct.smarthost, smtp_from=direct.sender,
                    smtp_require_tls=direct.starttls)
        if direct.username:
            glob["smtp_auth_username"] = direct.username
        if direct.password:
            if secrets_dir is None:
                raise ValueError("an SMTP password needs a directory to keep it in")
            path = Path(secrets_dir) / "smtp-password"
            _write_private(path, direct.password)
            glob["smtp_auth_password_file"] = str(path)
        # The committed headers and resolved setting, to these addresses.
        email = {**emails[0], "to": ", ".join(direct.email_to)}
        if direct.ca_file:
            email["tls_config"] = {"ca_file": direct.ca_file}
        receiver["email_configs"] = [email]
    if direct.pager_url:
        receiver["webhook_configs"] = [{"url": direct.pager_url, "send_resolved": True}]


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # a file left from before keeps its mode otherwise


def answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class MonitoringStack:
    """Prometheus and Alertmanager in ``workdir``, on ``host`` and the given ports.

    ``with MonitoringStack(...) as stack:`` starts both and stops both.
    """

    def __init__(self, workdir: str | Path, jobs: Iterable[ScrapeJob], *,
                 receiver_url: str, token_file: str | Path,
                 host: str = "127.0.0.1",
                 prometheus_port: int = DEFAULT_PROMETHEUS_PORT,
                 alertmanager_port: int = DEFAULT_ALERTMANAGER_PORT,
                 rule_files: Iterable[str | Path] | None = None,
                 scrape_interval: float = 15, evaluation_interval: float = 15,
                 alertmanager_timing: dict | None = None,
                 direct: DirectPage | None = None):
        self.workdir = Path(workdir).resolve()
        self.jobs = list(jobs)
        self.receiver_url = receiver_url
        self.token_file = Path(token_file).resolve()
        self.host = host
        self.prometheus_port = prometheus_port
        self.alertmanager_port = alertmanager_port
        self.rule_files = [str(Path(f).resolve()) for f in rule_files] \
            if rule_files is not None else [str(RULES_DIR / "*.yaml")]
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.alertmanager_timing = alertmanager_timing
        self.direct = direct or DirectPage()
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs = []

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.host}:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{self.host}:{self.alertmanager_port}"

    def write_configs(self) -> tuple[Path, Path]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        prometheus_file = self.workdir / "prometheus.yaml"
        alertmanager_file = self.workdir / "alertmanager.yaml"
        prometheus_file.write_text(yaml.safe_dump(prometheus_config(
            self.jobs, alertmanager=f"{self.host}:{self.alertmanager_port}",
            rule_files=self.rule_files, scrape_interval=self.scrape_interval,
            evaluation_interval=self.evaluation_interval), sort_keys=False), encoding="utf-8")
        alertmanager_file.write_text(yaml.safe_dump(alertmanager_config(
            receiver_url=self.receiver_url, token_file=self.token_file,
            timing=self.alertmanager_timing, direct=self.direct, secrets_dir=self.workdir),
            sort_keys=False), encoding="utf-8")
        return prometheus_file, alertmanager_file

    def start(self, timeout: float = 30) -> MonitoringStack:
        found = binaries()
        if found is None:
            raise MonitoringError("prometheus and prometheus-alertmanager are not installed")
        prometheus_file, alertmanager_file = self.write_configs()
        try:
            self._spawn("alertmanager", [
                found["alertmanager"], f"--config.file={alertmanager_file}",
                f"--storage.path={self.workdir / 'alertmanager'}",
                f"--web.listen-address={self.host}:{self.alertmanager_port}",
                f"--web.external-url={self.alertmanager_url}/",
                # One instance: no gossip port opened on every interface.
                "--cluster.listen-address=",
            ])
            self._spawn("prometheus", [
                found["prometheus"], f"--config.file={prometheus_file}",
                f"--storage.tsdb.path={self.workdir / 'prometheus'}",
                f"--web.listen-address={self.host}:{self.prometheus_port}",
                f"--web.external-url={self.prometheus_url}/",
            ])
            deadline = time.monotonic() + timeout
            for name, url in (("alertmanager", self.alertmanager_url),
                              ("prometheus", self.prometheus_url)):
                while not _ready(url):
                    if self.procs[name].poll() is not None or time.monotonic() > deadline:
                        raise MonitoringError(f"{name} did not start on {url}:\n"
                                              f"{self.log_tail(name)}")
                    time.sleep(0.1)
        except BaseException:
            # Ctrl-C or a failure half-way must not leave either behind.
            self.stop()
            raise
        return self

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # closed in stop()
        self._logs.append(log)
        # A session of their own: the terminal's Ctrl-C reaches the launcher,
        # which stops them in order, not them directly.
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL,
                                            start_new_session=True,
                                            preexec_fn=die_with_parent(signal.SIGTERM))

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 15) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> MonitoringStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def ensure_token(token_file: str | Path, config=None) -> str | None:
    """Alertmanager's token in ``token_file``, issued with the suite's own key
    ring (``ZHIDU_KEY_DIR``) when there is none, or when the one there is the
    suite's own and expires within a day or was signed by a key the ring no
    longer trusts. A token from elsewhere is left as it is. Returns what was
    done, for the start-up lines, or None when nothing was."""
    import jwt

    from .config import setting
    from .identity import KeyRing, issue_token, key_dir

    token_file = Path(token_file)
    verb = "issued"
    if token_file.exists():
        try:
            token = token_file.read_text(encoding="utf-8").strip()
            claims = jwt.decode(token, options={"verify_signature": False})
            kid = jwt.get_unverified_header(token).get("kid")
        except (OSError, jwt.PyJWTError):
            return None
        if claims.get("iss") != setting(config, "ZHIDU_ISSUER") \
                or claims.get("sub") != TOKEN_SUBJECT:
            return None
        trusted = {k.get("kid") for k in KeyRing(key_dir(config)).public_jwks()["keys"]}
        if kid in trusted and claims.get("exp", 0) - time.time() > TOKEN_RENEW_BEFORE:
            return None
        verb = "renewed"
    token = issue_token(config, TOKEN_SUBJECT, scopes=[TOKEN_SCOPE], ttl=LOCAL_TOKEN_TTL)
    # Alertmanager reads the file at every delivery: never let it see half of one.
    partial = token_file.with_name(f".{token_file.name}.new")
    _write_private(partial, token + "\n")
    os.replace(partial, token_file)
    return (f"{verb} Alertmanager's token ({TOKEN_SUBJECT}, scope {TOKEN_SCOPE}, valid "
            f"{LOCAL_TOKEN_TTL // 86400} days) in {token_file}, with the suite's key ring")


def start_for_suite(ports: dict[str, int], *, data_dir: str | Path,
                    amqp_uri: str) -> MonitoringStack | None:
    """What ``zhidu run`` starts beside the services, when it can; prints
    where to look, or why monitoring is not running. Never fails the suite."""
    if os.environ.get("ZHIDU_MONITORING", "auto").lower() in ("off", "0", "false", "no"):
        return None
    if binaries() is None:
        print("monitoring not started: prometheus and prometheus-alertmanager are not "
              "installed (make tools installs them)", flush=True)
        return None
    host = "127.0.0.1"
    prometheus_port = int(os.environ.get("ZHIDU_PROMETHEUS_PORT", DEFAULT_PROMETHEUS_PORT))
    alertmanager_port = int(os.environ.get("ZHIDU_ALERTMANAGER_PORT",
                                           DEFAULT_ALERTMANAGER_PORT))
    busy = [port for port in (prometheus_port, alertmanager_port) if answers(host, port)]
    if busy:
        print(f"monitoring not started: something already answers on "
              f"{', '.join(f'{host}:{p}' for p in busy)}", flush=True)
        return None
    data_dir = Path(data_dir)
    token_file = Path(os.environ.get("ZHIDU_ALERTMANAGER_TOKEN_FILE")
                      or data_dir / "alertmanager.token")
    try:
        # Without it nothing Alertmanager routes reaches anyone.
        token_note = ensure_token(token_file)
    except Exception as exc:  # monitoring never stops the suite
        token_note = (f"no token for Alertmanager ({exc}): alerts reach the notifications "
                      f"service once {token_file} holds one: {TOKEN_COMMAND} > {token_file}")
    direct = DirectPage.from_env()
    stack = MonitoringStack(
        data_dir / "monitoring", [*suite_jobs(ports, host), broker_job(amqp_uri)],
        receiver_url=f"http://{host}:{ports.get('notifications', 8105)}{RECEIVER_PATH}",
        token_file=token_file, host=host, prometheus_port=prometheus_port,
        alertmanager_port=alertmanager_port, direct=direct)
    try:
        stack.start()
    except (MonitoringError, OSError, ValueError) as exc:
        print(f"monitoring not started: {exc}", flush=True)
        return None
    print(f"Prometheus on {stack.prometheus_url} (rules: deploy/prometheus/rules), "
          f"Alertmanager on {stack.alertmanager_url} (logs and data in {stack.workdir})",
          flush=True)
    if token_note:
        print(token_note, flush=True)
    print(direct.describe(), flush=True)
    return stack
