"""The web dashboard in a real headless Chromium against a real server (uvicorn on
loopback, the real authenticator with dashboard users, a real repository and run
history): log in, the overview with a job that succeeded and one that failed, a job's
history chart, browsing a snapshot and downloading a file and a directory (bytes
compared), running a job and watching its progress update in place, a viewer kept out of
the snapshot browser, and every page rendered (screenshots as test artifacts; the
overview's also as docs/images/dashboard-overview.png for the README when
KEYARK_UPDATE_DOC_IMAGES is set).

One browser and one server serve the whole module; the tests run in file order.
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from tests.e2e.browser import (
    artifacts_dir,
    chromium,
    layout_shift,
    screenshot,
    text_of,
    wait_for,
    wait_for_file,
)
from tests.server_fixtures import running_server, server_config, settings_for

from keyark import ops
from keyark.access.permissions import Role
from keyark.access.users import UserStore

README_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "images" / "dashboard-overview.png"
PASSWORDS = {"ada": "ada's long dashboard password", "vic": "vic's long dashboard password"}


@dataclass
class Site:
    """The served config, its files, the browser and where its files go."""

    url: str
    root: Path
    data: Path
    gate: Path
    driver: webdriver.Chrome
    downloads: Path
    shots: Path

    def get(self, path: str) -> None:
        """Open ``path`` of the site in the browser."""
        self.driver.get(self.url + path)

    def cookies(self) -> dict[str, str]:
        """The browser's cookies for this site (the login session)."""
        return {c["name"]: c["value"] for c in self.driver.get_cookies()}

    def shot(self, name: str) -> Path:
        """A screenshot of the current page as an artifact."""
        return screenshot(self.driver, self.shots, name)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Jobs ``nightly`` (succeeded), ``broken`` (failed: its before hook fails) and
    ``gated`` (its before hook waits for a file), users ``ada`` (admin) and ``vic``
    (viewer), the server and one browser."""
    root = tmp_path_factory.mktemp("dashboard")
    gate = root / "gate"
    data = root / "data"
    job = {"repository": "main", "sources": [str(data)]}
    jobs = {
        "nightly": {**job, "schedule": "every 1h"},
        "broken": {**job, "hooks": {"before": ["echo disk full >&2; exit 3"]}},
        "gated": {**job, "hooks": {"before": [f"while [ ! -e {gate} ]; do sleep 0.05; done"]}},
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KEYARK_STATE_DIR", str(root / "state"))
        patch.chdir(root)
        settings = settings_for(server_config(root, jobs=jobs, backup=False))
        context = ops.OperationContext(cache_dir=root / "cache")
        for content in (b"", bytes(range(256)) * 40):  # two runs that add different sizes
            (data / "blob.bin").write_bytes(content)
            done = ops.run(
                context, ops.RunOptions(settings.config, "nightly", state_dir=settings.state_dir)
            )
            assert done.record.status == "success"
        failed = ops.run(
            context, ops.RunOptions(settings.config, "broken", state_dir=settings.state_dir)
        )
        assert failed.record.status == "failed"
        users = UserStore(settings.state_dir)
        users.add("ada", Role.ADMIN, PASSWORDS["ada"])
        users.add("vic", Role.VIEWER, PASSWORDS["vic"])
        downloads = root / "downloads"
        downloads.mkdir()
        shots = artifacts_dir(tmp_path_factory.mktemp("dashboard-screenshots"))
        try:
            with running_server(settings) as url, chromium(downloads) as driver:
                yield Site(url, root, data, gate, driver, downloads, shots)
        finally:
            gate.touch()  # a gated run never outlives the module


def log_in(site: Site, user: str, password: str | None = None) -> None:
    """Log out whoever is logged in, then log in as ``user`` through the form."""
    driver = site.driver
    site.get("/login")
    if driver.find_elements(By.CSS_SELECTOR, "form.logout button"):
        driver.find_element(By.CSS_SELECTOR, "form.logout button").click()
        wait_for(driver, lambda d: d.find_elements(By.ID, "username"))
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password or PASSWORDS[user])
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()


def logged_in_as(site: Site, user: str) -> None:
    """Log in as ``user`` and wait for the overview."""
    log_in(site, user)
    wait_for(site.driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".who"))
    assert f"user:{user}" in text_of(site.driver, ".who")


def job_row(site: Site, name: str) -> Any:
    """The overview's row of job ``name``."""
    return site.driver.find_element(By.CSS_SELECTOR, f"#jobs tr[data-job='{name}']")


def task_status(driver: webdriver.Chrome) -> str:
    """The task page's status, read at once (htmx replaces the element while it runs)."""
    return str(driver.execute_script("return document.getElementById('progress').dataset.status"))


def test_login_then_overview_shows_the_succeeded_and_the_failed_job(site: Site) -> None:
    driver = site.driver
    log_in(site, "ada", "not the password at all")
    alert = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[role=alert]"))
    assert "wrong user name or password" in alert[0].text
    assert driver.current_url.endswith("/login")
    site.shot("login-refused")

    logged_in_as(site, "ada")
    assert driver.current_url == site.url + "/"
    nightly, broken = job_row(site, "nightly"), job_row(site, "broken")
    assert nightly.get_attribute("data-status") == "success"
    assert "success" in nightly.find_element(By.CSS_SELECTOR, ".status.ok").text
    assert broken.get_attribute("data-status") == "failed"
    assert "failed" in broken.find_element(By.CSS_SELECTOR, ".status.critical").text
    assert "exited with status 3" in broken.text
    assert job_row(site, "gated").get_attribute("data-status") == "never run"
    trend = nightly.find_element(By.CSS_SELECTOR, "svg.trend polyline")
    assert len(str(trend.get_attribute("points")).split()) == 2  # two runs of nightly
    assert "broken" in text_of(driver, "#open-alerts")  # the failed run raised an alert
    assert "data key" in text_of(driver, "#keys-title + ul")
    assert layout_shift(driver) == (0.0, [])
    path = site.shot("overview")
    if os.environ.get("KEYARK_UPDATE_DOC_IMAGES"):  # refresh the README's screenshot on request
        README_IMAGE.write_bytes(path.read_bytes())


def test_job_page_draws_the_run_history_chart(site: Site) -> None:
    driver = site.driver
    site.get("/")
    job_row(site, "nightly").find_element(By.LINK_TEXT, "nightly").click()
    chart = wait_for(
        driver, lambda d: d.find_element(By.CSS_SELECTOR, "#history-chart[data-drawn]")
    )
    assert chart.get_attribute("data-drawn") == "2"
    assert chart.find_elements(By.CSS_SELECTOR, "canvas")  # uPlot drew it
    legend = chart.text
    assert "duration (s)" in legend and "bytes added" in legend
    runs = driver.find_elements(By.CSS_SELECTOR, "details.run")
    assert len(runs) == 2 and "backup" in runs[0].text
    assert layout_shift(driver) == (0.0, [])
    site.shot("job-nightly")
    site.get("/jobs/broken")
    assert "exited with status 3" in text_of(driver, "details.run")
    site.shot("job-broken")


def test_browse_a_snapshot_and_download_a_file_and_a_directory(site: Site) -> None:
    driver = site.driver
    site.get("/snapshots")
    links = driver.find_elements(By.CSS_SELECTOR, "#snapshots tbody a")
    assert len(links) == 2
    site.shot("snapshots")
    links[0].click()  # the newest
    for part in [p for p in str(site.data).split("/") if p]:  # down to the data directory
        link = f"{part}/"
        wait_for(driver, lambda d: d.find_elements(By.LINK_TEXT, link))[0].click()
    wait_for(
        driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"tr[data-path='{site.data}/blob.bin']")
    )
    site.shot("snapshot-tree")
    row = driver.find_element(By.CSS_SELECTOR, f"tr[data-path='{site.data}/blob.bin']")
    row.find_element(By.CSS_SELECTOR, "a.file-download").click()
    got = wait_for_file(site.downloads, "blob.bin")
    assert got.read_bytes() == (site.data / "blob.bin").read_bytes()

    sub = driver.find_element(By.CSS_SELECTOR, f"tr[data-path='{site.data}/sub']")
    sub.find_element(By.LINK_TEXT, "tar").click()
    archive = wait_for_file(site.downloads, "sub.tar")
    with tarfile.open(archive) as tar:
        members = {m.name.lstrip("/"): m for m in tar.getmembers() if m.isfile()}
        [name] = [n for n in members if n.endswith("key.pem")]
        content = tar.extractfile(members[name])
        assert (
            content is not None and content.read() == (site.data / "sub" / "key.pem").read_bytes()
        )

    with httpx.Client(cookies=site.cookies()) as client:  # the zip of the same directory
        zipped = client.get(
            f"{site.url}/snapshots/latest/download",
            params={"path": str(site.data / "sub"), "archive": "zip"},
        )
    assert zipped.status_code == 200, zipped.text
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive_zip:
        [name] = [n for n in archive_zip.namelist() if n.endswith("key.pem")]
        assert archive_zip.read(name) == (site.data / "sub" / "key.pem").read_bytes()


def test_run_a_job_and_watch_its_progress_update_in_place(site: Site) -> None:
    driver = site.driver
    site.get("/")
    job_row(site, "gated").find_element(By.CSS_SELECTOR, "form button").click()
    wait_for(driver, lambda d: "/tasks/" in d.current_url)
    progress = driver.find_element(By.ID, "progress")
    assert progress.get_attribute("data-status") == "running"  # the hook waits for the gate
    assert "running" in text_of(driver, "#task-status")
    site.shot("task-running")
    driver.execute_script("window.__samePage = true;")

    site.gate.touch()
    wait_for(
        driver,
        lambda d: task_status(d) != "running",
    )
    assert task_status(driver) == "succeeded"
    assert driver.execute_script("return window.__samePage === true")  # updated, not reloaded
    assert "success" in text_of(driver, "#task-result")
    assert layout_shift(driver) == (0.0, [])
    site.shot("task-succeeded")
    task_id = driver.current_url.rsplit("/", 1)[-1]
    site.get("/")
    assert job_row(site, "gated").get_attribute("data-status") == "success"
    listed = driver.find_element(By.CSS_SELECTOR, f"#tasks a[href='/tasks/{task_id}']")
    assert "run" in listed.text


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/inventory", "Inventory"),
        ("/alerts", "Alerts"),
        ("/audit", "Audit log"),
        ("/compliance", "Compliance"),
        ("/keys", "Keys"),
        ("/agents", "Agents"),
    ],
)
def test_every_page_renders_for_an_admin(site: Site, path: str, heading: str) -> None:
    driver = site.driver
    site.get(path)
    assert text_of(driver, "h1") == heading
    assert not driver.find_elements(By.ID, "error-code")
    unlabelled = driver.execute_script(
        "return [...document.querySelectorAll('input:not([type=hidden]), select')]"
        ".filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.name)"
    )
    assert unlabelled == []
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)  # the keyboard's first stop
    assert driver.switch_to.active_element.text == "Skip to content"
    site.shot(path.strip("/"))


def test_audit_page_names_the_dashboard_user(site: Site) -> None:
    site.get("/audit?operation=dump")
    assert "user:ada" in text_of(site.driver, "#audit")  # the downloads ran as ada


def test_overview_is_readable_on_a_phone(site: Site) -> None:
    driver = site.driver
    driver.set_window_size(390, 844)
    try:
        site.get("/")
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0  # wide tables scroll inside their box, the page does not
        site.shot("overview-phone")
    finally:
        driver.set_window_size(1280, 900)


def test_a_session_form_post_needs_its_csrf_token(site: Site) -> None:
    site.get("/")
    token = site.driver.find_element(By.CSS_SELECTOR, "form.logout input[name=csrf_token]")
    csrf = str(token.get_attribute("value"))
    with httpx.Client(cookies=site.cookies()) as client:
        url = f"{site.url}/jobs/no-such-job/run"
        refused = client.post(url, data={"csrf_token": "not-the-token"})
        assert refused.status_code == 403 and "csrf" in refused.text
        assert client.post(url, data={}).status_code == 403
        passed = client.post(url, data={"csrf_token": csrf})  # positive control
        assert passed.status_code == 404 and "no-such-job" in passed.text


def test_a_viewer_cannot_reach_the_snapshot_browser(site: Site) -> None:
    driver = site.driver
    with httpx.Client(cookies=site.cookies()) as admin:  # positive control: ada may
        assert admin.get(f"{site.url}/snapshots").status_code == 200
    logged_in_as(site, "vic")
    nav = text_of(driver, "header nav")
    assert "Overview" in nav and "Snapshots" not in nav and "Keys" not in nav
    assert not driver.find_elements(By.CSS_SELECTOR, "#jobs form")  # no "Run now"
    site.get("/snapshots")
    assert text_of(driver, "#error-code") == "forbidden"
    site.shot("viewer-forbidden")
    with httpx.Client(cookies=site.cookies()) as viewer:
        for path in (
            "/snapshots",
            "/snapshots/latest/tree?path=/",
            f"/snapshots/latest/download?path={site.data}/hello.txt",
        ):
            assert viewer.get(site.url + path).status_code == 403, path
        page = viewer.get(f"{site.url}/")
        assert page.status_code == 200
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "script-src 'self';" in page.headers["content-security-policy"]
        refused = viewer.post(f"{site.url}/jobs/nightly/run", data={})
        assert refused.status_code == 403  # no CSRF token, and no run permission
    with httpx.Client() as anonymous:
        response = anonymous.get(f"{site.url}/snapshots", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
        part = anonymous.get(  # a part htmx reloads sends the whole page to the login
            f"{site.url}/tasks/x/progress",
            headers={"HX-Request": "true", "HX-Current-URL": f"{site.url}/tasks/x"},
        )
        assert part.status_code == 204
        assert part.headers["hx-redirect"] == "/login?next=%2Ftasks%2Fx"
    refusals = [
        line
        for log in (site.root / "state" / "audit").rglob("*")
        if log.is_file()
        for line in log.read_text(errors="replace").splitlines()
        if "server refused" in line and "user:vic" in line
    ]
    assert any("/snapshots" in line for line in refusals)  # each refusal is audited
