"""Reading a sweep: swept values from named studies, the end-of-sweep table, progress, the report.

Real sweeps through the CLI: a named study (hydra.sweeper.params) logged to MLflow, and a
6-job command-line sweep with two failing jobs, whose HTML report is opened in headless Chromium.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli

from ems_sweep.cli.outcome import EXIT_JOBS_FAILED
from ems_sweep.tracking.sweep import job_count, swept_keys

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

PROGRESS = re.compile(r"^\[sweep\] (\d+)/(\d+) jobs done, (\d+) failed, [0-9:]+ elapsed", re.M)


def test_sweeper_params_and_command_line_give_the_same_keys():
    study = ["building=res1,res2,res3", "battery=none,default,large"]  # hydra.sweeper.params
    assert swept_keys(study + ["+experiment=battery_value"]) == ["building", "battery"]
    # The command line wins, as in Hydra's BasicSweeper: building is no longer swept.
    assert swept_keys(study + ["building=res1"]) == ["battery"]
    assert job_count(study + ["building=res1"]) == 3
    assert job_count(study + ["+battery.capacity_kwh=5,10"]) == 18
    assert swept_keys(["+battery.capacity_kwh=5,10"]) == ["battery.capacity_kwh"]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The battery_value study narrowed to one building: 3 jobs, battery swept by the study."""
    root = tmp_path_factory.mktemp("study")
    uri = f"sqlite:///{root / 'store' / 'mlflow.db'}"
    sweep_dir = root / "sweep"
    args = ["+experiment=battery_value", "building=res1", f"tracking.uri={uri}"]
    res = run_cli([*args, f"hydra.sweep.dir={sweep_dir}", "hydra.launcher.n_jobs=2", "-m"], root)
    assert res.returncode == 0, res.stderr[-4000:]
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("Pipeline_A_Comparison")
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if r.data.tags["ems_sweep.run_type"] == "sweep")
    children = [r for r in runs if r.data.tags["ems_sweep.run_type"] == "job"]
    return {"res": res, "uri": uri, "client": client, "exp": exp, "parent": parent,
            "children": children, "sweep_dir": sweep_dir, "root": root}  # fmt: skip


def test_named_study_runs_carry_the_swept_values(study):
    parent, children = study["parent"], study["children"]
    assert parent.data.tags["ems_sweep.swept_keys"] == "battery"
    names = sorted(r.info.run_name for r in children)
    assert names == [f"res1-centralized-battery={b}" for b in ("default", "large", "none")]
    assert sorted(r.data.tags["battery"] for r in children) == ["default", "large", "none"]
    client = study["client"]
    path = client.download_artifacts(parent.info.run_id, "sweep_table.csv", str(study["root"]))
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    assert [r["battery"] for r in rows] == ["none", "default", "large"]
    # the end-of-sweep table: a battery column, figures with units, the footer
    out = study["res"].stdout
    header = next(line for line in out.splitlines() if line.startswith("job "))
    assert header.split()[:3] == ["job", "battery", "status"]
    assert "savings [%]" in header and "cost [EUR]" in header
    assert "n/a: no figure." in out
    assert f"parent run sweep-sweep ({parent.info.run_id})" in out
    assert f"python -m ems_sweep.analysis.compare --sweep {parent.info.run_id}" in out
    assert "python -m ems_sweep.analysis.ui --tracking-uri " + study["uri"] in out
    assert "Running HiGHS" not in out + study["res"].stderr


def test_experiment_opens_on_runs_and_parent_describes_the_sweep(study):
    assert study["exp"].tags["mlflow.experimentKind"] == "custom_model_development"
    parent = study["parent"]
    note = parent.data.tags["mlflow.note.content"]
    assert "| job | battery | status | savings [%]" in note
    assert note.count("| ok |") == 3
    files = {a.path for a in study["client"].list_artifacts(parent.info.run_id)}
    assert {"sweep_table.csv", "sweep_report.html"} <= files


def test_compare_pivots_the_study_by_its_swept_key(study, capsys, monkeypatch):
    from ems_sweep.analysis import compare

    monkeypatch.chdir(study["root"])
    assert compare.main(["--tracking-uri", study["uri"]]) == 0
    out = capsys.readouterr().out
    assert "Varied besides building and mode: battery" in out
    assert re.search(r"res1 \| battery=large +\d", out)
    assert (study["sweep_dir"] / "compare" / "sweep_report.html").exists()
    # a filtered comparison gets its own folder and says when best and worst are one job
    assert compare.main(["--tracking-uri", study["uri"], "--filter", "tags.battery = 'large'"]) == 0
    out = capsys.readouterr().out
    assert "best and worst are the same job" in out
    filtered = [p for p in (study["sweep_dir"] / "compare").iterdir() if p.is_dir()]
    assert [p.name[:7] for p in filtered] == ["filter-"]
    assert (filtered[0] / "runs.csv").exists()
    unfiltered = (study["sweep_dir"] / "compare" / "runs.csv").read_text()
    assert unfiltered.count("\n") == 4  # header + the 3 jobs, untouched by the filter


@pytest.fixture(scope="module")
def six_jobs(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """2 buildings x 3 capacities, one capacity invalid (2 failing jobs), tracking off."""
    root = tmp_path_factory.mktemp("six")
    sweep_dir = root / "sweep"
    args = ["tracking=none", "building=res1,res2", "battery.capacity_kwh=-1,5,15"]
    args += ["hydra.callbacks.progress.when=always", "hydra.launcher.n_jobs=2"]
    res = run_cli([*args, f"hydra.sweep.dir={sweep_dir}", "-m"], root)
    assert res.returncode == EXIT_JOBS_FAILED, res.stderr[-4000:]  # the sweep ran to its end
    return res, sweep_dir


def test_six_jobs_give_six_progress_lines(six_jobs):
    res, sweep_dir = six_jobs
    lines = PROGRESS.findall(res.stderr)
    assert [int(done) for done, _, _ in lines] == [1, 2, 3, 4, 5, 6], res.stderr[-2000:]
    assert {total for _, total, _ in lines} == {"6"}
    assert lines[-1][2] == "2"  # both invalid-capacity jobs counted as failed
    header = next(line for line in res.stdout.splitlines() if line.startswith("job "))
    assert header.split()[:4] == ["job", "building", "battery.capacity_kwh", "status"]
    assert "Runs: not tracked (tracking=none)" in res.stdout
    with (sweep_dir / "sweep_table.csv").open() as fh:  # written with tracking off too
        rows = list(csv.DictReader(fh))
    assert [r["battery.capacity_kwh"] for r in rows] == ["-1", "5", "15"] * 2


def test_progress_is_quiet_off_a_terminal_by_default(tmp_path):
    from ems_sweep.cli.progress import milestone, progress_line

    line = progress_line(3, 6, 1, 15.0)
    assert line == "[sweep] 3/6 jobs done, 1 failed, 0:15 elapsed, ~0:15 left"
    assert progress_line(6, 6, 0, 3725.0) == "[sweep] 6/6 jobs done, 0 failed, 1:02:05 elapsed"

    shown = [n for n in range(1, 190) if milestone(n, 189)]
    assert shown == [48, 95, 142, 189]  # every quarter and the last job of a 189-job sweep


def test_progress_counts_each_finished_job_once_and_new_ones_as_they_come(tmp_path):
    import json
    import time

    from ems_sweep.cli.progress import FinishedJobs

    def job(name: str, status: str) -> Path:
        job_dir = tmp_path / name
        (job_dir / "plots").mkdir(parents=True, exist_ok=True)
        (job_dir / "summary.json").write_text(json.dumps({"status": status}))
        return job_dir

    earlier = job("0_old", "ok")  # an earlier sweep's result in the same dir
    os.utime(earlier / "summary.json", (time.time() - 60, time.time() - 60))
    jobs = FinishedJobs(tmp_path, since=time.time() - 5)
    job("1_a", "ok")
    job("2_b", "failed")
    (tmp_path / "3_c").mkdir()
    (tmp_path / "3_c" / "summary.json").write_text('{"status": "o')  # being written
    assert jobs.poll() == (2, 1)
    job("3_c", "ok")
    job("0_old", "failed")  # this sweep's job rewrote it
    job("nested/4_d", "ok")  # a hydra.sweep.subdir with a folder in it
    assert jobs.poll() == (5, 2)
    assert jobs.poll() == (5, 2)  # counted once


def test_sweep_report_has_every_section(six_jobs):
    _, sweep_dir = six_jobs
    page = (sweep_dir / "sweep_report.html").read_text()
    for section in (
        "Best and worst jobs",
        "Savings over the two most varied keys",
        "Savings against each swept numeric value",
        "Failed jobs",
        "Sweep table",
    ):
        assert f"<h2>{section}</h2>" in page
    assert page.count("<td class='nofinished'>no finished job<") == 2  # the capacity=-1 row
    assert "data:image/png;base64," in page  # savings against battery.capacity_kwh
    assert page.count("battery.capacity_kwh=-1.0; allowed") == 2  # both errors, in full
    assert "http://" not in page and "https://" not in page and "<script" not in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _headless(url: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    browser = _chromium()
    assert browser is not None
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--v=0",
        "--hide-scrollbars", "--window-size=1280,2000",
    ]  # fmt: skip
    return subprocess.run(
        [browser, *flags, *extra, url],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp)},
    )


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (apt-get install chromium)")
def test_sweep_report_renders_in_headless_chromium(six_jobs, tmp_path):
    _, sweep_dir = six_jobs
    # The console check can fail: a page with an error is caught by it.
    bad = tmp_path / "bad.html"
    bad.write_text("<p>x</p><script>console.error('broken page')</script>")
    assert console_messages(_headless(bad.as_uri(), tmp_path, "--dump-dom").stderr)

    report = (sweep_dir / "sweep_report.html").as_uri()
    shot = tmp_path / "report.png"
    res = _headless(report, tmp_path, f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 30_000, res.stderr[-2000:]
    assert console_messages(res.stderr) == []
    dom = _headless(report, tmp_path, "--dump-dom")
    assert console_messages(dom.stderr) == []
    assert "Sweep sweep" in dom.stdout and "no finished job" in dom.stdout
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.std() > 0.05  # not a blank page
    keep = os.environ.get("EMS_SWEEP_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / "sweep_report.png")


def test_help_is_short_and_says_how_to_see_every_key(cli, tmp_path):
    res = cli(["--help"], tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) < 50, len(lines)
    assert "battery: default, large, none" in res.stdout
    assert "python -m ems_sweep --cfg job" in res.stdout
    assert "weight" not in res.stdout  # the hourly usage weights stay out of --help
