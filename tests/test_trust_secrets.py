"""No secrets or machine paths in git (issue 13).

Prometheus URLs with user:password@ or ?token=, webhook URLs from the environment and tokens in
ArgoCD(repo_url=…) ended up in state JSON, commit messages and generated objects. Credentials
now come from the environment or a file and are never written: intent and pyproject.toml refuse
them, every record and message redacts URLs (meshcode.redact), and generated objects never name
a folder of this machine.
"""
from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import pytest
from git import Repo
from typer.testing import CliRunner

from meshcode import ArgoCD, Cluster, Jwt, Mesh, Port, Service, Webhook
from meshcode.cli import app
from meshcode.delivery.prometheus import TOKEN_ENV, TOKEN_FILE_ENV, CredentialError, auth_headers
from meshcode.state.canary import Sample
from meshcode.errors import IntentError
from meshcode.redact import credential_problem, redact, redact_url
from tests.support.canary import git_project, stack_source
from tests.support.gitops import cli as gcli
from tests.support.prometheus import PROMETHEUS, IstioExporter, PrometheusServer, Traffic

PASSWORD = "s3cret-pass"
BCRYPT = "$2b$04$zllM.busA1/8k7eS73wE2eSKhVL80f7nkJD/c.Ga.uzQyL7vbfYqu"  # bcrypt of PASSWORD (cost 4)


# ---- the one redaction function ---------------------------------------------------------------
@pytest.mark.parametrize("url,shown", [
    ("http://admin:pw@prom:9090/api", "http://***@prom:9090/api"),
    ("https://prom.example.com/?token=abc&x=1#frag", "https://prom.example.com/?token=***&x=***"),
    ("https://ghp_token@github.com/org/repo.git", "https://***@github.com/org/repo.git"),
    ("ssh://git@github.com/org/repo.git", "ssh://git@github.com/org/repo.git"),  # a login, not a secret
    ("http://127.0.0.1:9090", "http://127.0.0.1:9090"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact(f"GET {url} failed") == f"GET {shown} failed"


def test_a_webhook_is_named_without_its_path() -> None:
    assert redact_url("https://hooks.slack.com/services/T0/B0/SECRET", keep_path=False) == \
        "https://hooks.slack.com/***"
    assert Webhook("notify", url_env="SLACK_HOOK").label == "$SLACK_HOOK"


def test_samples_are_redacted_wherever_they_come_from() -> None:
    s = Sample(check="x", query="up", detail="http://u:p@prom:9090?token=t: connection refused")
    assert "p@" not in s.detail and "token=t" not in s.detail and "connection refused" in s.detail


# ---- credentials are refused where they would be written ----------------------------------------
@pytest.mark.parametrize("build", [
    lambda: ArgoCD(repo_url="https://x-access-token:ghp_SECRET@github.com/o/r.git"),
    lambda: ArgoCD(repo_url="https://ghp_SECRET@github.com/o/r.git"),
    lambda: Jwt("https://id.example.com", "https://id.example.com/keys?access_token=ghp_SECRET"),
    lambda: Webhook("n", "https://hooks.example.com/x?token=ghp_SECRET"),
    lambda: Webhook("n", "https://user:ghp_SECRET@hooks.example.com/x"),
])
def test_intent_refuses_urls_with_credentials_without_echoing_them(build: Callable[[], object]) -> None:
    with pytest.raises(IntentError) as e:
        build()
    assert "ghp_SECRET" not in str(e.value) and "credentials never go into intent" in str(e.value)


def test_a_webhook_needs_exactly_one_url() -> None:
    with pytest.raises(IntentError, match="exactly one"):
        Webhook("n")
    with pytest.raises(IntentError, match="not an environment variable name"):
        Webhook("n", url_env="NOT A NAME")


@pytest.mark.parametrize("setting", ['repo_url = "https://bot:ghp_SECRET@github.com/o/r.git"',
                                     'prometheus = "http://admin:ghp_SECRET@prom:9090"',
                                     'prometheus = {prod = "http://prom:9090/?token=ghp_SECRET"}'])
def test_pyproject_refuses_urls_with_credentials(make_project: Callable[..., Path], setting: str) -> None:
    root = make_project(shop='''
        from meshcode import Cluster, Mesh, Port, Service
        mesh = Mesh("shop", clusters=[Cluster("prod")], services=[Service("cart", ports=[Port(80)])])
    ''')
    (root / "pyproject.toml").write_text(f"[tool.meshcode]\n{setting}\n")
    result = gcli("compile", root=root)
    assert result.exit_code == 1 and "ghp_SECRET" not in result.output
    assert "MESHCODE_PROMETHEUS_TOKEN" in result.output and not (root / "generated").exists()


def test_prometheus_credentials_come_from_the_url_the_environment_or_a_file(tmp_path: Path) -> None:
    url, headers = auth_headers("http://bot:p%40ss@prom:9090/x", {})
    assert url == "http://prom:9090/x" and headers == {"Authorization": "Basic Ym90OnBAc3M="}
    assert auth_headers("http://prom:9090", {TOKEN_ENV: "tok"})[1] == {"Authorization": "Bearer tok"}
    (tmp_path / "token").write_text("from-file\n")
    assert auth_headers("http://prom:9090", {TOKEN_FILE_ENV: str(tmp_path / "token")})[1] == \
        {"Authorization": "Bearer from-file"}
    with pytest.raises(CredentialError, match=TOKEN_FILE_ENV):
        auth_headers("http://prom:9090", {TOKEN_FILE_ENV: str(tmp_path / "missing")})


# ---- end to end: a canary with secret Prometheus and webhook URLs --------------------------------
def _everything_written(root: Path) -> str:
    """Every byte meshcode could have leaked into: all commits (messages and contents), the tree."""
    with Repo(root) as repo:
        history = repo.git.log("--all", "-p", "--format=%H%n%B")
    tree = "\n".join(p.read_text(errors="replace") for p in root.rglob("*")
                     if p.is_file() and ".git" not in p.parts and ".meshcode" not in p.parts)
    return history + tree


@pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="prometheus is not installed (./dev test installs it)")
def test_no_credential_reaches_state_commits_or_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.webhooks import WebhookReceiver

    exporter = IstioExporter()
    exporter.set("shop", "cart-v1", Traffic(rps=100))
    exporter.set("shop", "cart-v2", Traffic(rps=50))
    (tmp_path / "prom").mkdir()
    server = PrometheusServer(tmp_path / "prom", [exporter.target], basic_auth={"meshcode": BCRYPT})
    hooks = WebhookReceiver()
    try:
        server.start()
        monkeypatch.setenv("HOOK_URL", f"{hooks.url}/services/T0/B0/HOOKSECRET?token=HOOKTOKEN")
        rollout = ('steps=[50], interval="1m", threshold=3, gates=[SuccessRate(99, min_requests=0)], '
                   'webhooks=[Webhook("load", url_env="HOOK_URL")]')
        root = git_project(tmp_path / "repo", stack_source(rollout, imports="SuccessRate, Webhook"))
        port = server.url.rsplit(":", 1)[1]
        t0 = datetime.now(timezone.utc)
        outputs = []

        def step(password: str, minutes: int) -> str:
            url = f"http://meshcode:{password}@127.0.0.1:{port}/?token=URLTOKEN"
            r = CliRunner().invoke(app, ["canary", "step", "cart", "--root", str(root), "--now",
                                         (t0 + timedelta(minutes=minutes)).isoformat()],
                                   env={"MESHCODE_PROMETHEUS": url})
            outputs.append(r.output)
            return r.output

        assert "start" in step("wrong-" + PASSWORD, 0)  # no gate before the first step; the hook is called
        refused = step("wrong-" + PASSWORD, 2)          # Prometheus answers 401: a hold, URL redacted
        assert "hold" in refused and "answered HTTP 401" in refused
        allowed = step(PASSWORD, 4)                     # the right password: Prometheus answers the query
        assert "success-rate" in allowed and "401" not in allowed and "unreachable" not in allowed
        assert any(path.startswith("/services/T0/B0/HOOKSECRET") for path, _ in hooks.calls)
        written = _everything_written(root) + "\n".join(outputs)
        for secret in (PASSWORD, "URLTOKEN", "HOOKSECRET", "HOOKTOKEN", "meshcode:"):
            assert secret not in written, secret
        assert f"http://127.0.0.1:{port}/?token=*** answered HTTP 401" in written  # named, redacted
        assert "$HOOK_URL" in written
    finally:
        hooks.close()
        server.stop()
        exporter.close()


# ---- machine paths -------------------------------------------------------------------------------
def test_a_helper_module_outside_the_project_is_not_named_by_its_absolute_path(
        make_project: Callable[..., Path], tmp_path: Path) -> None:
    lib = tmp_path / "elsewhere" / "lib"
    lib.mkdir(parents=True)
    (lib / "shopcommon.py").write_text(
        "from meshcode import Port, Service\n"
        "def service(name):\n"
        "    return Service(name, namespace='shop', ports=[Port(8080)], versions=['v1', 'v2'])\n")
    root = make_project(shop=f'''
        import sys
        sys.path.insert(0, {str(lib)!r})
        from shopcommon import service
        from meshcode import Cluster, Mesh
        mesh = Mesh("shop", clusters=[Cluster("prod")], services=[service("cart")])
    ''')
    result = gcli("compile", root=root)
    assert result.exit_code == 0, result.output
    text = "\n".join(p.read_text() for p in (root / "generated").rglob("*.yaml"))
    assert str(tmp_path) not in text and "meshcode.dev/stack: shopcommon.py" in text
    sys.path[:] = [p for p in sys.path if p != str(lib)]
    sys.modules.pop("shopcommon", None)


def test_no_generated_file_may_name_a_local_folder(make_project: Callable[..., Path]) -> None:
    root = make_project(shop="")
    (root / "stacks" / "shop.py").write_text(
        "from meshcode import Cluster, Mesh, Patch, Port, Service\n"
        "import pathlib\n"
        "here = str(pathlib.Path(__file__).resolve().parent.parent)\n"
        "cart = Service('cart', namespace='shop', ports=[Port(8080)], versions=['v1', 'v2'])\n"
        "fix = Patch('VirtualService', 'cart', [{'op': 'add', 'path': '/metadata/labels/src', 'value': here}])\n"
        "mesh = Mesh('shop', clusters=[Cluster('prod')], services=[cart], patches=[fix])\n")
    result = gcli("compile", root=root)
    assert result.exit_code == 1 and "error MC4008" in result.output and "would contain the local path" in result.output
    assert not (root / "generated").exists()
