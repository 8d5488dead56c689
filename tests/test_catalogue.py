import re
import tomllib

import yaml

from runbooklib import scenarios
from runbooklib.params import VOCABULARY
from tests.conftest import REFERENCE, ROOT, runbook


def _design_ids() -> list[str]:
    text = (REFERENCE / "design-contract.md").read_text()
    section = text.split("## Scenario ids", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.M)


# issue #19: runbooks for incidents GitLab's troubleshooting page does not cover (section "Beyond the ...")
BEYOND_THE_PAGE = {"gc-broke-pulls", "notifications", "body-limit-413", "storage-redirect-unreachable",
                   "jwt-auth-refused", "redis-cache-down"}


def test_catalogue_has_exactly_the_design_scenarios():
    ids = _design_ids()
    assert len(ids) >= 18
    beyond = {s.id for s in scenarios.CATALOGUE.values() if s.seed_section.startswith("Beyond the troubleshooting page")}
    assert beyond <= BEYOND_THE_PAGE
    assert sorted(ids) == sorted(set(scenarios.CATALOGUE) - beyond)


def test_every_scenario_parameter_is_in_the_vocabulary():
    for sc in scenarios.CATALOGUE.values():
        assert set(sc.schema) <= set(VOCABULARY), sc.id


def test_design_vocabulary_names_are_all_known():
    section = (REFERENCE / "design-contract.md").read_text().split("## Parameter vocabulary", 1)[1].split("\n## ", 1)[0]
    names = set(re.findall(r"`([a-z0-9_]+)`", section)) - {"env", "file", "container_registry"}
    assert names <= set(VOCABULARY), names - set(VOCABULARY)


def test_every_scenario_of_the_catalogue_ships_its_notebook():
    missing = [sc.id for sc in scenarios.CATALOGUE.values() if not (scenarios.NOTEBOOK_DIR / f"{sc.id}.ipynb").is_file()]
    assert missing == []


def test_list_marks_unbuilt_scenarios():
    r = runbook("list")
    assert r.returncode == 0
    lines = {line.split()[0]: line for line in r.stdout.splitlines()}
    assert "not built" not in lines["triage"]
    unbuilt = [s.id for s in scenarios.CATALOGUE.values() if not s.built]
    for sid in unbuilt:
        assert "not built" in lines[sid]


def test_running_an_unbuilt_scenario_exits_2_with_its_name(tmp_path, monkeypatch, capsys):
    from runbooklib import cli

    monkeypatch.setattr(scenarios, "NOTEBOOK_DIR", tmp_path / "no-notebooks")  # nothing is built here
    assert scenarios.get("s3-permissions").built is False
    code = cli.main(["run", "s3-permissions", "-o", str(tmp_path / "o")])
    assert code == 2
    assert "scenario s3-permissions is not built yet" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_params_prints_the_schema_with_secret_flags():
    r = runbook("params", "triage", "--json")
    assert r.returncode == 0
    rows = {row["name"]: row for row in __import__("json").loads(r.stdout)}
    assert rows["password"]["secret"] is True and rows["registry_url"]["required"] is True


def _normalise(req: str) -> str:
    return re.sub(r"\s+", "", req).lower()


# conda-forge's package names where they differ from PyPI's (checked against the conda-forge feedstocks)
CONDA_TO_PYPI = {"prometheus_client": "prometheus-client", "python-build": "build", "python-duckdb": "duckdb"}


def _pypi_name(conda_dep: str) -> str:
    name = re.match(r"[A-Za-z0-9_.-]+", conda_dep).group(0)
    return CONDA_TO_PYPI.get(name, name) + conda_dep[len(name):]


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = {_normalise(d) for d in project["dependencies"] + extras["lab"] + extras["test"]
              if not d.startswith("runbooklib")}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    have = set()
    for dep in env:
        if isinstance(dep, dict):
            have |= {_normalise(d) for d in dep["pip"] if not d.startswith("-e")}
        elif not re.match(r"^(python|pip)([<>=]|$)", dep):
            have.add(_normalise(_pypi_name(dep)))
    assert have == wanted


def test_environment_yml_uses_conda_forge_names_not_pypi_spellings():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda = [d for d in env if isinstance(d, str)]
    assert not any(d.startswith(("prometheus-client", "build")) for d in conda), conda
