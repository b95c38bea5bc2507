"""`--volume-data SIZE` (sandbox up, the rehearsal): random data across the source's registry, database and
Trivy volumes, unequal so that the report can fit a fixed cost per volume apart from the throughput."""

from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from seatrial.fixtures.kubeapi.store import Store
from seatrial.fixtures.kubeapi.types import register_standard_types
from seatrial.fixtures.rehearse import main as rehearse_main
from seatrial.fixtures.sandbox.__main__ import main as sandbox_main
from seatrial.fixtures.sandbox.seed import VOLUME_DATA_DIR, fill_volume_data


def _release(store: Store, root: Path) -> dict[str, Path]:
    """The release's pods with their Bound claims on local PVs, by component; claim -> its directory."""
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "harbor"}})
    directories = {}
    for component in ("registry", "database", "trivy", "jobservice", "redis"):
        claim, directory = f"data-{component}", root / component
        directory.mkdir()
        store.create({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"pv-{component}"},
                      "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                               "local": {"path": str(directory)}}, "status": {"phase": "Bound"}})
        store.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                      "metadata": {"name": claim, "namespace": "harbor"},
                      "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                               "volumeName": f"pv-{component}"}, "status": {"phase": "Bound"}})
        store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": f"my-harbor-{component}-0", "namespace": "harbor",
            "labels": {"release": "my-harbor", "component": component}},
            "spec": {"containers": [{"name": "c", "image": "x"}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}})
        directories[claim] = directory
    return directories


def test_the_data_is_spread_four_two_one_and_does_not_compress(tmp_path):
    store = Store()
    register_standard_types(store)
    directories = _release(store, tmp_path)
    total = 7 * 300_001
    written = fill_volume_data(store, total)
    assert written == {"data-registry": 4 * 300_001, "data-database": 2 * 300_001, "data-trivy": 300_001}
    for claim, size in written.items():
        data = (directories[claim] / VOLUME_DATA_DIR / "fill.bin").read_bytes()
        assert len(data) == size
        assert len(zlib.compress(data)) > 0.99 * size  # incompressible: restic cannot shrink it away
    for untouched in ("data-jobservice", "data-redis"):
        assert not any(directories[untouched].iterdir())  # the job-log volume stays empty; Redis is not backed up


@pytest.mark.parametrize("given", ["lots", "0GiB", "-1GiB"])
def test_sandbox_up_refuses_a_bad_volume_data_in_one_line(tmp_path, capsys, given):
    assert sandbox_main(["up", "--dir", str(tmp_path / "sb"), f"--volume-data={given}"]) == 2
    err = capsys.readouterr().err
    assert f"--volume-data {given!r} is not a " in err and "2GiB" in err  # a data size / a whole number of bytes
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "sb").exists()


def test_the_rehearsal_refuses_a_bad_volume_data_before_starting_anything(tmp_path, capsys):
    assert rehearse_main(["--dir", str(tmp_path / "r"), "--volume-data", "lots"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seatrial: error: --volume-data 'lots' is not a data size") and "1GiB" in err
    assert len(err.strip().splitlines()) == 1
    assert rehearse_main(["--env", "kind", "--dir", str(tmp_path / "r"), "--volume-data", "1GiB"]) == 2
    assert "--volume-data fills the sandbox's and the real environment's volumes" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_seatrial_rehearse_passes_volume_data_on(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", "rehearse", "--dir", str(tmp_path / "r"),  # noqa: S603
                           "--volume-data", "lots"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "seatrial: error: --volume-data 'lots' is not a data size; give a number and a unit, e.g. --volume-data "
        "1GiB (KiB, MiB, GiB, TiB; KB, MB, GB, TB)"]
    assert not (tmp_path / "r").exists()


def test_seatrial_real_up_refuses_a_bad_volume_data_before_starting_anything(tmp_path):
    done = subprocess.run([sys.executable, "-m", "seatrial.fixtures.real", "up", "--dir", str(tmp_path / "r"),
                           "--volume-data", "lots"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    err = done.stderr.strip()
    assert "--volume-data 'lots' is not a data size" in err and "1GiB" in err and len(err.splitlines()) == 1
    assert "Traceback" not in err and not (tmp_path / "r").exists()
