"""The web page in a real headless Chromium (Debian's chromium + chromium-driver), driven by Selenium."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_net_server import AppSettings, create_app
from dageval import Level, Validator
from dagserve import Client

from .scripted import ScriptedModel
from .test_app import GOOD, HALLUCINATED

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Chromium: apt-get install chromium chromium-driver"
)


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="chromium-")
    # The machine's network is closed: no background connections, no sandbox as root, a fresh profile.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def test_type_a_request_pick_a_version_see_the_dag_and_its_verdict(browser: Any, serve: Callable[[Any], str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    model = ScriptedModel([HALLUCINATED, GOOD])
    validator = Validator(Level.IMPORT, install_runtimes=True)
    app = create_app(AppSettings(endpoint=model.url), client=Client(model.url), validator=validator)
    url = serve(app)
    browser.get(url)
    assert "write an Airflow DAG" in browser.title
    browser.find_element(By.ID, "request").send_keys("Load orders every day")
    Select(browser.find_element(By.ID, "version")).select_by_value("3.1")
    browser.find_element(By.ID, "go").click()
    WebDriverWait(browser, 180).until(ec.text_to_be_present_in_element((By.ID, "status"), "done in"))
    verdict = browser.find_element(By.ID, "verdict")
    assert "ok" in verdict.get_attribute("class")
    assert "Valid for Airflow 3.1" in verdict.text and "2 task(s)" in verdict.text
    code = browser.find_element(By.CSS_SELECTOR, "#code .code")
    assert "EmptyOperator" in code.text
    assert code.find_elements(By.CSS_SELECTOR, "span.kn")  # Pygments marked the import keywords
    attempts = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#attempts li")]
    assert len(attempts) == 2 and "hallucinated_module" in attempts[0] and "valid" in attempts[1]
    assert model.requests[0]["messages"][1]["content"].endswith("Target: Apache Airflow 3.1")
    validator.close()
    model.close()
