"""seatrial.checks.content_parity on real directory trees: what makes a restored volume differ from its snapshot, and
what does not (the restore's marker, the target filesystem's lost+found, files the application wrote since)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from seatrial.checks.content_parity import Entry, compare, entries, volume_directory, why_no_directory


def _volume(root: Path) -> Path:
    (root / "base" / "16384").mkdir(parents=True)
    (root / "base" / "16384" / "2608").write_bytes(bytes(range(256)) * 64)
    (root / "PG_VERSION").write_text("15\n")
    (root / "pg_hba.conf").write_text("local all all trust\n")
    os.chmod(root / "pg_hba.conf", 0o600)
    (root / "current").symlink_to("base/16384")
    past = time.time() - 3600  # restic restores the snapshot's times: long before the restore completed
    for path in [root / "base" / "16384" / "2608", root / "PG_VERSION", root / "pg_hba.conf"]:
        os.utime(path, (past, past))
    return root


def _restored(snapshot: Path, target: Path) -> Path:
    shutil.copytree(snapshot, target, symlinks=True)  # copy2: contents, modes and times, as restic restores them
    (target / "lost+found").mkdir(mode=0o700)  # the target's fresh filesystem
    (target / ".velero").mkdir()
    (target / ".velero" / "restore-uid").touch()  # the marker that releases restore-wait
    return target


def test_a_faithful_restore_is_identical_counting_its_files(tmp_path: Path) -> None:
    snapshot = _volume(tmp_path / "snapshot")
    restored = _restored(snapshot, tmp_path / "restored")
    result = compare(entries(snapshot), entries(restored), time.time())
    assert result.identical and result.files == 3, result
    assert result.summary() == "identical (3 files)"
    one = Entry("file", 0o644, 1, "00", 0.0)
    assert compare({"a": one}, {"a": one}, None).summary() == "identical (1 file)"


def test_a_flipped_byte_is_named_even_when_the_file_keeps_its_size_and_time(tmp_path: Path) -> None:
    snapshot = _volume(tmp_path / "snapshot")
    restored = _restored(snapshot, tmp_path / "restored")
    victim = restored / "base" / "16384" / "2608"
    kept = victim.stat()
    with open(victim, "r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0x01]))
    os.utime(victim, ns=(kept.st_atime_ns, kept.st_mtime_ns))
    result = compare(entries(snapshot), entries(restored), time.time())
    assert not result.identical and result.files == 2
    assert result.differences[0].startswith("base/16384/2608: file 16384 bytes, mode 644, sha256 "), result
    assert "DIFFERS in 1 path(s): base/16384/2608" in result.summary()


def test_missing_files_and_changed_modes_differ_but_what_the_application_wrote_since_does_not(tmp_path: Path) -> None:
    snapshot = _volume(tmp_path / "snapshot")
    restored = _restored(snapshot, tmp_path / "restored")
    restored_at = time.time() - 60
    (restored / "PG_VERSION").unlink()
    os.chmod(restored / "pg_hba.conf", 0o644)
    os.utime(restored / "pg_hba.conf", (restored_at - 600, restored_at - 600))
    (restored / "postmaster.pid").write_text("1\n")  # the database started on the restored volume
    result = compare(entries(snapshot), entries(restored), restored_at)
    assert [d.split(":")[0] for d in result.differences] == ["PG_VERSION", "pg_hba.conf"], result
    assert "missing (file 3 bytes" in result.differences[0]
    assert result.changed_since == ["postmaster.pid"]
    assert "1 changed by the application since the restore, not compared (e.g. postmaster.pid)" in result.summary()


def _claim_and_volume(pv_spec: dict) -> tuple[dict, dict[str, dict]]:
    return {"spec": {"volumeName": "pvc-1"}}, {"pvc-1": {"metadata": {"name": "pvc-1"}, "spec": pv_spec}}


def test_a_csi_volume_is_found_by_its_volume_handle_in_the_clusters_csi_directory(tmp_path: Path) -> None:
    (tmp_path / "pv" / "0001-rbd-image").mkdir(parents=True)
    claim, pvs = _claim_and_volume({"csi": {"driver": "rook-ceph.rbd.csi.ceph.com", "volumeHandle": "0001-rbd-image"}})
    assert volume_directory(claim, pvs, tmp_path / "pv") == tmp_path / "pv" / "0001-rbd-image"
    assert volume_directory(claim, pvs) is None  # no volumes.csi_directories for the cluster: not on this machine
    assert "volumes.csi_directories names no directory" in why_no_directory(pvs["pvc-1"], None)


def test_a_csi_volume_whose_handle_is_not_one_directory_of_it_is_not_compared(tmp_path: Path) -> None:
    (tmp_path / "pv").mkdir()
    (tmp_path / "elsewhere").mkdir()
    for handle in ("../elsewhere", "..", ".", "", "no-such-volume"):
        claim, pvs = _claim_and_volume({"csi": {"driver": "d", "volumeHandle": handle}})
        assert volume_directory(claim, pvs, tmp_path / "pv") is None, handle
    assert why_no_directory(pvs["pvc-1"], tmp_path / "pv").endswith("is not a directory")


def test_local_and_host_path_volumes_are_their_paths_whatever_the_csi_directory(tmp_path: Path) -> None:
    (tmp_path / "local").mkdir()
    for spec in ({"local": {"path": str(tmp_path / "local")}}, {"hostPath": {"path": str(tmp_path / "local")}}):
        claim, pvs = _claim_and_volume(spec)
        assert volume_directory(claim, pvs, tmp_path / "pv") == tmp_path / "local"
    claim, pvs = _claim_and_volume({"local": {"path": str(tmp_path / "gone")}})
    assert volume_directory(claim, pvs, tmp_path) is None
    assert why_no_directory(pvs["pvc-1"], None) == f"its path {tmp_path / 'gone'} is not a directory here"
