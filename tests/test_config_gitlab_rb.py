"""gitlab.rb is read as Ruby literals only: every seed example is understood, everything else is reported
(with its line) and never executed, and no input makes the reader raise."""

from __future__ import annotations

import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbooklib.config import ConfigError, NotUnderstood, RubySymbol, parse_gitlab_rb, read_gitlab_rb
from tests.conftest import REFERENCE, ROOT

DATA = ROOT / "tests" / "data" / "config"
SEED = REFERENCE / "config-blocks.md"


def _seed_blocks(lang: str) -> list[str]:
    blocks = re.findall(r"^( *)```" + lang + r"\n(.*?)^\1```", SEED.read_text(), flags=re.S | re.M)
    return [re.sub(rf"^{indent}", "", body, flags=re.M) for indent, body in blocks]


# ---------------------------------------------------------------------------------------------- seed examples


def test_gitlab_rb_parses_the_seeds_s3_chunksize_example():
    rb = parse_gitlab_rb(
        "registry['storage'] = {\n"
        "  's3' => {\n"
        "    'accesskey' => 'AKIAKIAKI',\n"
        "    'secretkey' => 'secret123',\n"
        "    'bucket'    => 'gitlab-registry-bucket-AKIAKIAKI',\n"
        "    'chunksize' => 25000000\n"
        "  }\n"
        "}\n"
    )
    assert rb.not_understood == ()
    assert rb.settings["registry['storage']"]["s3"]["chunksize"] == 25000000
    assert rb.registry_storage == ("s3", {"accesskey": "AKIAKIAKI", "secretkey": "secret123",
                                          "bucket": "gitlab-registry-bucket-AKIAKIAKI", "chunksize": 25000000})
    assert rb.line_of("registry['storage']") == 1
    assert rb.get("registry['storage']['s3']['chunksize']") == 25000000


def test_gitlab_rb_parses_the_seeds_debug_server_and_prometheus_examples():
    rb = parse_gitlab_rb(
        'registry[\'debug_addr\'] = "localhost:5001"\n'
        "\n"
        "# Enable Prometheus metrics\n"
        "registry['debug'] = {\n"
        "  'prometheus' => {\n"
        "    'enabled' => true,\n"
        "    'path' => '/metrics'\n"
        "  }\n"
        "}\n"
    )
    assert rb.not_understood == ()
    assert rb.registry("debug_addr") == "localhost:5001"
    assert rb.registry("debug") == {"prometheus": {"enabled": True, "path": "/metrics"}}
    assert rb.line_of("registry['debug']") == 4


def test_gitlab_rb_parses_the_seeds_relative_urls_and_schema1_examples():
    rb = parse_gitlab_rb(
        "registry['env'] = {\n"
        '  "REGISTRY_HTTP_RELATIVEURLS" => true\n'
        "}\n"
        "registry['compatibility_schema1_enabled'] = true\n"
    )
    assert rb.registry_env == {"REGISTRY_HTTP_RELATIVEURLS": True}
    assert rb.registry("compatibility_schema1_enabled") is True
    mapped = {(m["file"], m["key"]): m["value"] for m in rb.mapped_settings()}
    assert mapped[("config.yml (environment override)", "http.relativeurls")] is True
    assert mapped[("config.yml", "compatibility.schema1.enabled")] is True


def test_gitlab_rb_parses_the_seeds_ipv6_listener_and_missing_key_examples():
    rb = parse_gitlab_rb("registry['registry_http_addr'] = \"127.0.0.1:5000\"\ngitlab_rails['registry_enabled'] = true\n")
    assert rb.registry("registry_http_addr") == "127.0.0.1:5000"
    assert rb.gitlab_rails("registry_enabled") is True
    assert rb.line_of("gitlab_rails['registry_enabled']") == 2


def test_gitlab_rb_reads_the_seeds_docker_compose_omnibus_config():
    compose = (
        "GITLAB_OMNIBUS_CONFIG: |\n"
        "  external_url 'https://git.example.com'\n"
        "  registry_external_url 'https://git.example.com:5050'\n"
    )
    rb = parse_gitlab_rb(yaml.safe_load(compose)["GITLAB_OMNIBUS_CONFIG"])
    assert rb.not_understood == ()
    assert rb.external_url == "https://git.example.com"
    assert rb.registry_external_url == "https://git.example.com:5050"
    listen = [m for m in rb.mapped_settings() if m["key"] == "listen"]
    assert listen[0]["value"] == 5050


def test_gitlab_rb_reads_log_level_godebug_and_gc_examples():
    rb = parse_gitlab_rb(
        "registry['log_level'] = 'debug'\n"
        'registry[\'env\'] = { "GODEBUG" => "http2client=0" }\n'
        "registry['gc'] = {\n"
        "  'disabled' => false,\n"
        "  'maxbackoff' => '24h',\n"
        "  'blobs' => { 'interval' => '5s', storagetimeout: '5s' },\n"
        "}\n"
    )
    assert rb.not_understood == ()
    assert rb.registry("log_level") == "debug"
    assert rb.registry_env["GODEBUG"] == "http2client=0"
    assert rb.registry("gc")["blobs"] == {"interval": "5s", "storagetimeout": "5s"}
    assert isinstance(next(k for k in rb.registry("gc")["blobs"] if k == "storagetimeout"), RubySymbol)


def test_every_gitlab_rb_example_in_the_seed_is_understood():
    blocks = [b for b in _seed_blocks("ruby") if re.search(r"^(registry|gitlab_rails)\[", b, flags=re.M)]
    compose = [yaml.safe_load(b)["GITLAB_OMNIBUS_CONFIG"] for b in _seed_blocks("yaml") if "GITLAB_OMNIBUS_CONFIG" in b]
    assert len(blocks) >= 8 and len(compose) == 2
    for block in blocks + compose:
        rb = parse_gitlab_rb(block)
        assert rb.not_understood == (), (block, rb.not_understood)
        assert rb.settings, block


def test_rails_console_snippets_of_the_seed_are_not_understood_and_never_run():
    blocks = [b for b in _seed_blocks("ruby") if "ContainerRepository" in b or "Project.find" in b]
    assert blocks
    for block in blocks:
        rb = parse_gitlab_rb(block)
        assert rb.settings == {}
        assert rb.not_understood
        assert all(not nu.relevant for nu in rb.not_understood)


# ---------------------------------------------------------------------------------------------- Ruby subset


def test_multiline_hashes_with_trailing_commas_comments_and_arithmetic():
    rb = read_gitlab_rb(DATA / "gitlab.rb")
    assert [nu.line for nu in rb.not_understood] == [14]  # File.read(...).strip: not a literal
    assert rb.relevant_not_understood == ()
    s3 = rb.registry("storage")["s3"]
    assert s3["chunksize"] == 50 * 1024 * 1024
    assert s3["region"] == "eu-west-1"
    assert rb.registry("storage")["redirect"] == {"disable": False}
    assert rb.registry_env["REGISTRY_HTTP_RELATIVEURLS"] is True
    assert rb.registry("notifications")[0]["headers"]["Authorization"] == ["n0t1f1cat10nS3cr3tValue"]
    assert rb.registry_nginx("listen_port") == 5050
    assert rb.nginx("listen_https") is False
    assert rb.external_url == "https://gitlab.example.com"
    assert "registry['rootcertbundle']" not in rb  # only in a comment
    assert rb.line_of("registry['log_level']") == 22


def test_ruby_interpolation_is_reported_not_understood_with_its_line():
    rb = parse_gitlab_rb("registry['log_level'] = 'info'\n\nregistry_external_url \"https://#{host}:5050\"\n")
    assert rb.registry_external_url is None
    assert rb.not_understood == ((3, 'registry_external_url "https://#{host}:5050"'),)
    assert "interpolation" in rb.not_understood[0].reason
    assert rb.registry("log_level") == "info"


def test_env_heredoc_modifiers_and_blocks_are_not_understood_and_the_rest_is_read():
    rb = read_gitlab_rb(DATA / "gitlab-garbage.rb")
    reasons = {nu.line: nu.reason for nu in rb.not_understood}
    assert set(reasons) == {2, 3, 11, 14, 15, 20, 24}
    assert "interpolation" in reasons[2]
    assert "ENV" in reasons[3]
    assert "heredoc" in reasons[11]
    assert "modifier" in reasons[14]
    assert "`if` block (lines 15-17)" in reasons[15]
    assert "`do` block" in reasons[20]
    assert "brackets" in reasons[24]
    # nothing from a not-understood statement leaks in as a setting...
    assert "registry['storage']" not in rb and "registry['debug_addr']" not in rb
    # ...and every plain statement around them is read
    assert rb.registry("log_level") == "info"
    assert rb.registry("health_storagedriver_enabled") is True
    assert rb.registry("validation_enabled") is False
    assert rb.registry("after_broken") == "still read"
    assert rb.registry("autoredirect") is False
    assert rb.settings["roles"] == ["registry_role"]


def test_unclosed_bracket_does_not_swallow_the_following_settings():
    rb = parse_gitlab_rb("registry['a'] = {\n  'x' => [1,\nregistry['b'] = 2\nregistry['c'] = 3\n")
    assert [nu.line for nu in rb.not_understood] == [1]
    assert rb.registry("b") == 2 and rb.registry("c") == 3


def test_string_escapes_numbers_symbols_and_word_lists():
    rb = parse_gitlab_rb(
        "a['dq'] = \"tab\\tnl\\n quote\\\" hash\\# u\\u00e9 \\u{1F600} x\\x41 oct\\101\"\n"
        "a['sq'] = 'it\\'s \\\\ \\n kept'\n"
        "a['num'] = [1_000, -5, 0x1F, 0b101, 0644, 1.5e3, -0.25, +3]\n"
        "a['sym'] = :s3\n"
        "a['qsym'] = :\"gcs\"\n"
        "a['words'] = %w(one two three)\n"
        "a['q'] = %q{braces {nested} ok}\n"
        "a['hash'] = { s3: { bucket: 'b' }, 'k' => nil, 1 => false }\n"
        "a[:symkey] = 'x'\n"
        "a[\"dqkey\"] = 'y'\n"
        "a['concat'] = 'ab' + 'cd'\n"
        "a['paren'] = (2 + 3) * 4\n"
    )
    assert rb.not_understood == ()
    a = lambda k: rb.get(f"a['{k}']")  # noqa: E731
    assert a("dq") == "tab\tnl\n quote\" hash# u\u00e9 \U0001F600 xA octA"
    assert a("sq") == "it's \\ \\n kept"
    assert a("num") == [1000, -5, 31, 5, 420, 1500.0, -0.25, 3]
    assert a("sym") == "s3" and repr(a("sym")) == ":s3"
    assert a("qsym") == "gcs"
    assert a("words") == ["one", "two", "three"]
    assert a("q") == "braces {nested} ok"
    assert a("hash") == {"s3": {"bucket": "b"}, "k": None, 1: False}
    assert a("symkey") == "x" and a("dqkey") == "y"
    assert a("concat") == "abcd" and a("paren") == 20


def test_lookups_accept_any_quoting_of_the_target():
    rb = parse_gitlab_rb("registry[\"debug_addr\"] = 'localhost:5001'\n")
    assert rb.get("registry['debug_addr']") == rb.get('registry["debug_addr"]') == rb.get("registry[:debug_addr]")
    assert rb.get("registry['nope']", "dflt") == "dflt"
    assert rb.get("not a target", "dflt") == "dflt"


def test_later_assignment_wins_and_is_noted():
    rb = parse_gitlab_rb("registry['log_level'] = 'info'\nregistry['log_level'] = 'debug'\n")
    assert rb.registry("log_level") == "debug"
    assert rb.line_of("registry['log_level']") == 2
    assert any("lines 1 and 2" in n for n in rb.notes)


def test_nested_index_assignments_merge_into_the_hash():
    rb = parse_gitlab_rb("registry['storage'] = { 's3' => { 'bucket' => 'b' } }\n"
                         "registry['storage']['s3']['chunksize'] = 26214400\n")
    assert rb.registry("storage") == {"s3": {"bucket": "b", "chunksize": 26214400}}
    assert rb.line_of("registry['storage']['s3']['chunksize']") == 2


@pytest.mark.parametrize("line, fragment", [
    ("registry['x'] ||= 1", "not a plain assignment"),
    ("registry['x'] = ENV.fetch('X')", "ENV"),
    ("registry['x'] = some_method(1)", "method call"),
    ("registry['x'] = '1'.freeze", "method call"),
    ("x = 5", "local variable"),
    ("registry[key] = 1", "not a literal"),
    ("registry['x'] = 1 / 0", "division by zero"),
    ("registry['x'] = 'a' * 3", "other than numbers"),
    ("registry['x'] = \"unterminated", "unterminated"),
    ("registry['x'] = 08", "malformed"),
    ("registry['x'] = 12abc", "not a number"),
    ("external_url", "without a value"),
    ("registry['x'] = [" + "[" * 80 + "]" * 81, "nested too deeply"),
])
def test_each_kind_of_unknown_ruby_has_a_reason(line, fragment):
    rb = parse_gitlab_rb(line + "\nregistry['after'] = true\n")
    assert len(rb.not_understood) == 1 and rb.not_understood[0].line == 1
    assert fragment in rb.not_understood[0].reason, rb.not_understood[0].reason
    assert rb.registry("after") is True


def test_comment_blocks_and_end_marker_are_skipped():
    rb = parse_gitlab_rb("=begin\nregistry['a'] = 1\n=end\nregistry['b'] = 2 # trailing\n__END__\nregistry['c'] = 3\n")
    assert rb.settings == {"registry['b']": 2}
    assert rb.not_understood == ()


def test_not_understood_text_masks_secret_literals():
    rb = parse_gitlab_rb(
        "registry['storage'] = { 's3' => { 'secretkey' => \"k-#{x}-TOPSECRET\", 'accesskey' => ENV['AK'] } }\n"
        "gitlab_rails['registry_notification_secret'] = \"NOTIFSECRET#{y}\"\n"
        "registry['notifications'] = [{ 'headers' => { 'Authorization' => ['HDRSECRET', foo] } }]\n"
    )
    text = repr(rb.not_understood) + str(rb.to_dict())
    for secret in ("TOPSECRET", "NOTIFSECRET", "HDRSECRET"):
        assert secret not in text
    assert "ENV['AK']" in rb.not_understood[0].text  # where a value comes from is not a secret


def test_not_understood_is_a_line_text_pair():
    nu = parse_gitlab_rb("registry['a'] = b\n").not_understood[0]
    line, text = nu
    assert isinstance(nu, NotUnderstood) and (line, text) == (1, "registry['a'] = b")
    assert nu.to_dict()["reason"]


def test_read_gitlab_rb_names_a_missing_file(tmp_path):
    with pytest.raises(ConfigError) as exc:
        read_gitlab_rb(tmp_path / "gitlab.rb")
    assert exc.value.kind == "unreadable" and str(exc.value) == f"{tmp_path / 'gitlab.rb'}: no such file"


# ---------------------------------------------------------------------------------------------- properties

_RUBYISH = st.lists(st.sampled_from(list("'\"#{}[]()=>,:;\n\\ \tabcEOS_12.%wq<~-@$|&*/+?!\r")
                                     + ["<<~EOS", "\nEOS\n", "=begin\n", "\n=end\n", "registry['", "do", "end",
                                        "if ", "#{", "%w(", "ENV[", "\\u{", "0x", "1e9", " => ", "'s3'", "\n"]),
                    max_size=80).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_gitlab_rb_parser_never_raises_on_arbitrary_text(text):
    rb = parse_gitlab_rb(text)
    n_lines = text.count("\n") + 1
    assert all(1 <= nu.line <= n_lines for nu in rb.not_understood)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_RUBYISH)
def test_gitlab_rb_parser_never_raises_on_ruby_like_text(text):
    rb = parse_gitlab_rb(text)
    rb.to_dict(), rb.evidence(), repr(rb)
    n_lines = text.count("\n") + 1
    assert all(1 <= nu.line <= n_lines for nu in rb.not_understood)


def _to_ruby(value, quote: str) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if quote == "'":
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        out = []
        for ch in value:
            if ch in '"\\#':
                out.append("\\" + ch)
            elif ord(ch) < 32 or ord(ch) == 127:
                out.append("\\u{%x}" % ord(ch))
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(value, list):
        return "[\n" + ",\n".join(_to_ruby(v, quote) for v in value) + "\n]"
    return "{ " + ", ".join(f"{_to_ruby(k, quote)} => {_to_ruby(v, quote)}" for k, v in value.items()) + " }"


_LITERALS = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(_LITERALS, st.sampled_from(["'", '"']))
def test_ruby_literals_round_trip(value, quote):
    rb = parse_gitlab_rb(f"registry['v'] = {_to_ruby(value, quote)} # comment\n")
    assert rb.not_understood == ()
    assert rb.registry("v") == value
