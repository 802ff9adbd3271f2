import pytest

from frontdesk.settings import SettingsError, StaffToken, load_settings

ANN = "s3cret-" + "a" * 32
BOB = "t0ken-" + "b" * 32


def test_defaults_run_on_one_laptop() -> None:
    settings = load_settings({})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert (settings.content_port, settings.forms_port, settings.smtp_port) == (8001, 8002, 1025)
    assert settings.rate_limits is True


def test_values_are_decoded() -> None:
    settings = load_settings(
        {
            "FRONTDESK_RATE_LIMITS": "off",
            "FRONTDESK_STAFF_TOKENS": f"ann:{ANN}, bob:{BOB}:forms=contact+booking:actions=read",
            "FRONTDESK_SMTP_TIMEOUT": "2.5",
            "FRONTDESK_CONTENT_CORS_ORIGINS": "https://a.example, https://b.example",
        }
    )
    assert settings.rate_limits is False
    assert settings.staff_tokens == (
        StaffToken("ann", ANN),
        StaffToken("bob", BOB, forms=("contact", "booking"), actions=("read",)),
    )
    assert settings.smtp_timeout == 2.5
    assert settings.content_cors_origins == ("https://a.example", "https://b.example")


def test_every_bad_variable_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                "FRONTDESK_SMTP_PORT": "twenty-five",
                "FRONTDESK_SMTP_SECURITY": "ssl",
                "FRONTDESK_RATE_LIMITS": "maybe",
            }
        )
    names = [name for name, _ in caught.value.problems]
    assert names == ["FRONTDESK_SMTP_PORT", "FRONTDESK_SMTP_SECURITY", "FRONTDESK_RATE_LIMITS"]


def test_port_465_needs_tls() -> None:
    with pytest.raises(SettingsError, match="FRONTDESK_SMTP_SECURITY"):
        load_settings({"FRONTDESK_SMTP_PORT": "465", "FRONTDESK_SMTP_SECURITY": "starttls"})
    assert load_settings({"FRONTDESK_SMTP_PORT": "465", "FRONTDESK_SMTP_SECURITY": "tls"})


def test_empty_values_keep_defaults() -> None:
    settings = load_settings({"FRONTDESK_SMTP_CA_FILE": "", "FRONTDESK_SMTP_USERNAME": " "})
    assert settings.smtp_ca_file is None
    assert settings.smtp_username is None


def test_the_ipv6_prefix_is_64_by_default_and_from_32_to_128() -> None:
    assert load_settings({}).ipv6_prefix == 64
    assert load_settings({"FRONTDESK_IPV6_PREFIX": "56"}).ipv6_prefix == 56
    for bad in ("31", "129", "0"):
        with pytest.raises(SettingsError, match="FRONTDESK_IPV6_PREFIX"):
            load_settings({"FRONTDESK_IPV6_PREFIX": bad})


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (f"ann:{ANN}:forms=", "forms= needs names"),
        (f"ann:{ANN}:actions=read+print", "unknown action(s) print"),
        (f"ann:{ANN}:colour=blue", "expected name:token"),
        (f"ann:{ANN}:forms=a:forms=b", "expected name:token"),
        (f"ann:{ANN},ann:{BOB}", "listed twice"),
        (f"ann:{ANN},bob:{ANN}", "the token of another entry"),
        ("ann", "expected comma-separated"),
    ],
)
def test_bad_staff_token_entries_are_named_without_their_token(value: str, reason: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"FRONTDESK_STAFF_TOKENS": value})
    [(name, text)] = caught.value.problems
    assert name == "FRONTDESK_STAFF_TOKENS"
    assert reason in text
    assert ANN not in str(caught.value)
    assert ANN not in repr(StaffToken("ann", ANN))


def test_internal_ports_differ_from_public_ones() -> None:
    settings = load_settings({})
    assert (settings.content_internal_port, settings.forms_internal_port) == (9001, 9002)
    assert settings.internal_host == "127.0.0.1"
    with pytest.raises(SettingsError, match="FRONTDESK_FORMS_INTERNAL_PORT"):
        load_settings({"FRONTDESK_FORMS_INTERNAL_PORT": "8002"})
    with pytest.raises(SettingsError, match="FRONTDESK_CONTENT_INTERNAL_PORT"):
        load_settings({"FRONTDESK_CONTENT_INTERNAL_PORT": "70000"})


def test_log_format_is_json_or_text() -> None:
    assert load_settings({}).log_format == "json"
    assert load_settings({"FRONTDESK_LOG_FORMAT": "text"}).log_format == "text"
    with pytest.raises(SettingsError, match="FRONTDESK_LOG_FORMAT"):
        load_settings({"FRONTDESK_LOG_FORMAT": "pretty"})


def test_sentinels_and_replicated_acknowledgement() -> None:
    settings = load_settings(
        {
            "FRONTDESK_REDIS_SENTINELS": "10.0.0.1:26379, [fd00::2]:26380,sentinel-3:26379",
            "FRONTDESK_REDIS_SENTINEL_MASTER": "clinic",
            "FRONTDESK_REDIS_MIN_REPLICAS": "1",
            "FRONTDESK_REDIS_MIN_REPLICAS_TIMEOUT_MS": "250",
        }
    )
    assert settings.redis_sentinels == ("10.0.0.1:26379", "[fd00::2]:26380", "sentinel-3:26379")
    assert (settings.redis_sentinel_master, settings.redis_min_replicas) == ("clinic", 1)
    assert settings.redis_min_replicas_timeout_ms == 250
    defaults = load_settings({})
    assert (defaults.redis_sentinels, defaults.redis_min_replicas) == ((), 0)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"FRONTDESK_REDIS_SENTINELS": "10.0.0.1"}, "FRONTDESK_REDIS_SENTINELS"),
        ({"FRONTDESK_REDIS_SENTINELS": "a:0"}, "FRONTDESK_REDIS_SENTINELS"),
        ({"FRONTDESK_REDIS_SENTINELS": ":26379"}, "FRONTDESK_REDIS_SENTINELS"),
        (
            {"FRONTDESK_REDIS_SENTINELS": "a:1", "FRONTDESK_REDIS_URL": "unix:///run/r.sock"},
            "FRONTDESK_REDIS_URL",
        ),
        ({"FRONTDESK_REDIS_MIN_REPLICAS": "-1"}, "FRONTDESK_REDIS_MIN_REPLICAS"),
        (
            {"FRONTDESK_REDIS_MIN_REPLICAS_TIMEOUT_MS": "0"},
            "FRONTDESK_REDIS_MIN_REPLICAS_TIMEOUT_MS",
        ),
        (
            {"FRONTDESK_REDIS_MIN_REPLICAS_TIMEOUT_MS": "5000"},
            "FRONTDESK_REDIS_MIN_REPLICAS_TIMEOUT_MS",
        ),
    ],
)
def test_bad_sentinel_and_replica_settings_are_named(variables: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(variables)
    assert [name for name, _ in caught.value.problems] == [named]


def test_staff_accounts_are_decoded() -> None:
    from frontdesk.staff_accounts import StaffMember

    settings = load_settings(
        {"FRONTDESK_STAFF": "Desk@Clinic.example:responder, dpo@clinic.example:admin:forms=a+b"}
    )
    assert settings.staff == (
        StaffMember("desk@clinic.example", "responder"),
        StaffMember("dpo@clinic.example", "admin", forms=("a", "b")),
    )
    assert settings.staff[1].reaches("a")
    assert not settings.staff[1].reaches("c")


def test_staff_accounts_may_require_two_step_sign_in() -> None:
    from frontdesk.staff_accounts import StaffMember

    settings = load_settings(
        {"FRONTDESK_STAFF": "a@clinic.example:reader:totp,b@clinic.example:admin:forms=x:totp"}
    )
    assert settings.staff == (
        StaffMember("a@clinic.example", "reader", totp=True),
        StaffMember("b@clinic.example", "admin", forms=("x",), totp=True),
    )
    assert settings.staff[1].may("accounts")
    assert not settings.staff[0].may("accounts")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("desk@clinic.example", "expected comma-separated address:role"),
        ("desk@clinic.example:boss", "unknown role 'boss'"),
        ("desk:reader", "not an email address"),
        ("desk@clinic.example:reader:forms=", "expected address:role[:forms=a+b]"),
        ("desk@clinic.example:reader:colour=blue", "expected address:role[:forms=a+b]"),
        ("a@clinic.example:reader,A@clinic.example:admin", "listed twice"),
        ("desk@clinic.example:reader:totp:totp", "expected address:role[:forms=a+b][:totp]"),
        ("desk@clinic.example:reader:totp=1", "expected address:role[:forms=a+b][:totp]"),
    ],
)
def test_bad_staff_entries_are_named(value: str, reason: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"FRONTDESK_STAFF": value})
    [(name, text)] = caught.value.problems
    assert name == "FRONTDESK_STAFF"
    assert reason in text


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FRONTDESK_INBOX_URL", "inbox.clinic.example"),
        ("FRONTDESK_INBOX_URL", "https://inbox.clinic.example/path"),
        ("FRONTDESK_INBOX_SESSION_IDLE", "0"),
        ("FRONTDESK_INBOX_SESSION_ABSOLUTE", "-1"),
        ("FRONTDESK_INBOX_PORT", "70000"),
    ],
)
def test_bad_inbox_settings_are_named(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({variable: value})
    assert [name for name, _ in caught.value.problems] == [variable]


def test_recipient_domains_are_a_list_of_domain_names() -> None:
    settings = load_settings(
        {"FRONTDESK_RECIPIENT_DOMAINS": "clinic.example, Physio.Clinic.example"}
    )
    assert settings.recipient_domains == ("clinic.example", "Physio.Clinic.example")
    assert load_settings({}).recipient_domains == ()
    for bad in ("@clinic.example", "https://clinic.example", "clinic", "a@clinic.example"):
        with pytest.raises(SettingsError) as caught:
            load_settings({"FRONTDESK_RECIPIENT_DOMAINS": f"clinic.example,{bad}"})
        assert caught.value.problems == [
            ("FRONTDESK_RECIPIENT_DOMAINS", f"{bad!r} is not a domain (e.g. clinic.example)")
        ]
