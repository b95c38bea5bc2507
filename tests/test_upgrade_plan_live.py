"""`seatrial upgrade-plan -c seatrial.yaml`: the deployed side is the live release, read from its Secret on the
target context (a release the real engine installed on the test API server), judged against the new chart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from seatrial.runbook.clients import helm
from tests.test_config import Workspace

CHARTS = Path(__file__).resolve().parent.parent / "seatrial" / "charts"
VALUES = {"expose": {"type": "clusterIP", "tls": {"enabled": False}}, "externalURL": "http://harbor.example",
          "harborAdminPassword": "Live-Plan-Admin-Pw-7"}


def config_for(kube_api, tmp_path: Path) -> tuple[Path, dict]:
    workspace = Workspace(tmp_path)
    data = workspace.data()
    kubeconfig = yaml.safe_load(kube_api.kubeconfig.read_text())
    source = yaml.safe_load((tmp_path / "kubeconfig").read_text())  # the source is never read here
    source["clusters"].append(kubeconfig["clusters"][0])
    source["users"].append(kubeconfig["users"][0])
    source["contexts"].append({"name": "live-target", "context": kubeconfig["contexts"][0]["context"]})
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(source))
    data["target"].update({"context": "live-target", "namespace": "harbor", "release": "my-harbor"})
    del data["upgrade"]
    workspace.write(data)
    return workspace.path, workspace.environ


def upgrade_plan(config: Path, environ: dict, tmp_path: Path, chart: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", "-c", str(config), "upgrade-plan", "--chart",
                           str(CHARTS / f"harbor-{chart}.tgz"), "--release", "my-harbor", "--namespace", "harbor",
                           "--out", str(tmp_path / "plan")], capture_output=True, text=True, timeout=240,
                          env={**environ, "PATH": "/usr/bin:/bin"}, check=False)


def test_the_live_release_is_the_deployed_side(kube_api, tmp_path):
    with helm.Helm(kube_api.kubeconfig, kube_api.context, namespace="harbor") as engine:
        engine.install(helm.load_chart(CHARTS / "harbor-1.6.4.tgz"), "my-harbor", VALUES, create_namespace=True)
    config, environ = config_for(kube_api, tmp_path)
    renamed = upgrade_plan(config, environ, tmp_path, "1.7.5")
    assert renamed.returncode == 1, renamed.stdout + renamed.stderr
    assert "harbor-1.6.4 (revision 1) -> harbor-1.7.5" in renamed.stdout
    assert "FAILED data_volume_kept[PersistentVolumeClaim/my-harbor-harbor-registry]" in renamed.stdout
    fix = yaml.safe_load((tmp_path / "plan" / "fix-values.yaml").read_text())
    assert fix == {"fullnameOverride": "my-harbor-harbor"}
    assert "Live-Plan-Admin-Pw-7" not in renamed.stdout + (tmp_path / "plan" / "plan.json").read_text()


def test_a_missing_release_is_one_line(kube_api, tmp_path):
    config, environ = config_for(kube_api, tmp_path)
    done = upgrade_plan(config, environ, tmp_path, "1.7.5")
    assert done.returncode == 2 and "no Helm release 'my-harbor' in namespace harbor" in done.stderr
    assert "Traceback" not in done.stderr


def test_upgrading_to_the_same_chart_without_values_is_green(kube_api, tmp_path):
    """No values given: helm reuses the deployed ones (here a ReadWriteMany registry volume), so the guard must
    judge those, not the chart's defaults (it said "accessModes RWX -> RWO" for a no-op upgrade)."""
    shared = {**VALUES, "persistence": {"persistentVolumeClaim": {"registry": {"accessMode": "ReadWriteMany"}}}}
    with helm.Helm(kube_api.kubeconfig, kube_api.context, namespace="harbor") as engine:
        engine.install(helm.load_chart(CHARTS / "harbor-1.18.4.tgz"), "my-harbor", shared, create_namespace=True)
    config, environ = config_for(kube_api, tmp_path)
    same = upgrade_plan(config, environ, tmp_path, "1.18.4")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "harbor-1.18.4 (revision 1) -> harbor-1.18.4" in same.stdout and "FAILED" not in same.stdout
