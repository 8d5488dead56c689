"""gitlab.yml's registry section: GitLab's half of the token trust (key, issuer) and the registry address."""

from __future__ import annotations

import textwrap

import pytest

from runbooklib.config import ConfigError, parse_gitlab_yml, read_gitlab_yml
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data" / "config"


def test_gitlab_yml_registry_section_is_read_from_production():
    g = read_gitlab_yml(DATA / "gitlab.yml")
    assert g.present and g.enabled and g.environment == "production"
    assert (g.host, g.port, g.host_port) == ("registry.example.com", 5050, "registry.example.com:5050")
    assert g.api_url == "http://127.0.0.1:5000"
    assert g.key == "/var/opt/gitlab/gitlab-rails/etc/gitlab-registry.key"
    assert g.issuer == "omnibus-gitlab-issuer"
    assert g.path == "/var/opt/gitlab/gitlab-rails/shared/registry"
    assert g.line_of("key") == 23 and g.line_of("registry") == 18
    assert g.where("issuer") == f"{DATA / 'gitlab.yml'}:25"
    assert g.notes == ()


def test_anchors_and_merges_are_followed_for_other_environments():
    g = read_gitlab_yml(DATA / "gitlab.yml", environment="test")  # test: <<: *base
    assert g.present and g.enabled and g.issuer == "omnibus-gitlab-issuer"
    assert g.line_of("key") == 23  # the line in the anchored production block


def test_an_explicit_registry_in_an_environment_replaces_the_inherited_one():
    g = read_gitlab_yml(DATA / "gitlab.yml", environment="development")
    assert g.present and not g.enabled
    assert g.key is None and g.line_of("key") is None  # YAML merges are shallow
    assert g.line_of("enabled") == 34


def test_notification_secret_is_redacted_but_comparable():
    g = read_gitlab_yml(DATA / "gitlab.yml")
    assert g.notification_secret == "[REDACTED]" and g.has_notification_secret
    assert g.notification_secret_matches("Sup3rS3cretN0tificationValue")
    assert not g.notification_secret_matches("wrong") and not g.notification_secret_matches(None)
    shown = repr(g) + str(g.to_dict()) + str(g.evidence("notification_secret", "key"))
    assert "Sup3rS3cret" not in shown


def test_the_seeds_gitlab_yml_snippet_reads_once_the_arrow_is_gone():
    seed = (
        "  ## Container registry key\n"
        "     registry:\n"
        "       enabled: true\n"
        "       host: gitlab.company.com\n"
        "       port: 4567\n"
        "       api_url: http://127.0.0.1:5000 # internal address to the registry, is used by GitLab to directly communicate with API\n"
        "       path: /var/opt/gitlab/gitlab-rails/shared/registry\n"
        "  -->  key: /var/opt/gitlab/gitlab-rails/etc/gitlab-registry.key\n"
        "       issuer: omnibus-gitlab-issuer\n"
        "       notification_secret:\n"
    )
    with pytest.raises(ConfigError) as exc:
        parse_gitlab_yml(seed, "gitlab.yml")
    assert exc.value.line == 8
    g = parse_gitlab_yml(textwrap.dedent(seed.replace("-->", "   ")))
    assert g.enabled and g.host_port == "gitlab.company.com:4567" and g.issuer == "omnibus-gitlab-issuer"
    assert g.notification_secret is None and not g.has_notification_secret
    assert any("bare fragment" in n for n in g.notes)


def test_a_commented_out_registry_section_means_disabled():
    g = parse_gitlab_yml("production: &base\n  gitlab:\n    host: x\n  registry:\n    # enabled: true\n"
                         "    # host: registry.example.com\n")
    assert not g.present and not g.enabled
    assert any("all settings commented out" in n for n in g.notes)


def test_registry_under_the_gitlab_key_is_flagged_as_misplaced():
    g = parse_gitlab_yml("production:\n  gitlab:\n    registry:\n      enabled: true\n")
    assert not g.present and any("where GitLab does not look" in n for n in g.notes)


def test_relative_key_paths_erb_tags_and_odd_values_are_noted():
    g = parse_gitlab_yml(
        "production:\n  registry:\n    enabled: yes-please\n    port: 'fivethousand'\n    key: config/registry.key\n"
        "    issuer: <%= ENV['ISSUER'] %>\n")
    notes = " ".join(g.notes)
    assert "relative" in notes and "ERB" in notes and "not a boolean" in notes and "not a number" in notes


def test_missing_environment_is_reported_not_raised():
    g = read_gitlab_yml(DATA / "gitlab.yml", environment="staging")
    assert not g.present and any("no `staging:` section" in n for n in g.notes)


def test_unparseable_gitlab_yml_raises_config_error_with_line(tmp_path):
    path = tmp_path / "gitlab.yml"
    path.write_text("production: &base\n  registry:\n    enabled: true\n   host: x\n")
    with pytest.raises(ConfigError) as exc:
        read_gitlab_yml(path)
    assert exc.value.line == 4 and str(exc.value).startswith(f"{path}:4: ")
    with pytest.raises(ConfigError, match="no such file"):
        read_gitlab_yml(tmp_path / "absent.yml")
