"""Site templates are content, not code: the worker renders them in Jinja's sandbox, against a
real relay and real Redis (in-process SimpleWorker), and ``frontdesk forms check`` reports them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from frontdesk.cli import main
from tests.conftest import clinic_site_copy
from tests.relay import Relay, running
from tests.service.test_worker_messages import (
    run_jobs,
    stored,
    submit,
    submit_from_page,
    visitor,
)


def _payload(marker: Path) -> str:
    return "{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}\n"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    clinic_site_copy(site)  # a full staff email: the clinic's sends a summary
    return site


@pytest.fixture
def relay(
    env: dict[str, str], site: Path, monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis
) -> Iterator[Relay]:
    monkeypatch.setenv("FRONTDESK_SITE_DIR", str(site))
    monkeypatch.setenv("FRONTDESK_RATE_LIMITS", "off")
    monkeypatch.setenv("FRONTDESK_SMTP_TIMEOUT", "3")
    relay = Relay()
    with running(relay) as port:
        monkeypatch.setenv("FRONTDESK_SMTP_PORT", str(port))
        yield relay


def _failed_unsent(relay: Relay, connection: redis.Redis, submission_id: str) -> str:
    """The staff message's error text, after checking it failed and nothing reached the relay."""
    assert relay.accepted == []
    state = stored(connection, submission_id).message("staff")
    assert state is not None
    assert state.status == "failed"
    assert state.last_error is not None
    return state.last_error.text


def test_template_cannot_run_code_in_the_worker(
    relay: Relay, site: Path, tmp_path: Path, redis_client: redis.Redis
) -> None:
    marker = tmp_path / "pwned"
    (site / "templates").mkdir(exist_ok=True)
    (site / "templates" / "staff.txt.j2").write_text(_payload(marker))
    submission_id = submit(visitor())
    run_jobs(redis_client)

    assert not marker.exists(), "the template ran a shell command as the worker's user"
    assert _failed_unsent(relay, redis_client, submission_id).startswith(
        "template error: SecurityError"
    )


@pytest.mark.usefixtures("env")
def test_forms_check_reports_an_unsafe_template(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    (site / "templates" / "contact").mkdir(parents=True)
    (site / "templates" / "contact" / "auto_reply.html.j2").write_text(_payload(marker))
    assert main(["forms", "check", str(site)]) == 1
    out = capsys.readouterr().out
    assert "templates/contact/auto_reply.html.j2: SecurityError: " in out
    assert not marker.exists()


@pytest.mark.usefixtures("env")
def test_a_linked_template_is_refused(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A template linked to a file outside the site would mail that file to the recipients."""
    secret = tmp_path / "environ"
    secret.write_text("FRONTDESK_SECRET_KEY=canary-5d1e")
    (site / "templates").mkdir(exist_ok=True)
    (site / "templates" / "staff.txt.j2").symlink_to(secret)
    assert main(["forms", "check", str(site)]) == 1
    out = capsys.readouterr().out
    assert (
        "templates/staff.txt.j2: RefusedTemplate: templates/staff.txt.j2: refused: a symbolic link"
        in out
    )
    assert "canary-5d1e" not in out


AUTO_REPLY_FORM = """
auto_reply:
  subject: "We got your message"
  body: "Thanks for writing to the clinic."
spam:
  min_fill_seconds: 0
"""
COPY_OF_YOUR_MESSAGE = "Thanks {{ fields.name }}. You wrote: {{ fields.message }}\n"


def _with_auto_reply(site: Path) -> None:
    form = site / "forms" / "contact.yaml"
    form.write_text(form.read_text() + AUTO_REPLY_FORM)


def test_an_auto_reply_template_sends_no_visitor_text_to_a_third_party(
    relay: Relay, site: Path, redis_client: redis.Redis
) -> None:
    """Anyone may post anyone's address: a "copy of your message" auto-reply would mail the
    poster's text to that third party. The auto-reply's templates get no visitor value at all."""
    _with_auto_reply(site)
    (site / "templates" / "contact").mkdir(parents=True)
    (site / "templates" / "contact" / "auto_reply.txt.j2").write_text(COPY_OF_YOUR_MESSAGE)
    values = visitor(
        name="SPAMNAME Cheap",
        email="victim@elsewhere.example",
        message="SPAMTEXT buy pills at https://spam.example/",
    )
    submission_id = submit_from_page(values)
    run_jobs(redis_client)

    to_victim = [e for e in relay.accepted if "victim@elsewhere.example" in e.rcpt_tos]
    for envelope in to_victim:
        content = envelope.original_content or b""
        assert b"SPAMTEXT" not in content, content.decode()
        assert b"SPAMNAME" not in content
        assert b"spam.example" not in content
    state = stored(redis_client, submission_id).message("auto_reply")
    assert state is not None
    assert state.status == "failed"
    assert state.last_error is not None
    assert state.last_error.text == (
        "template error: UndefinedError: 'fields' is undefined; an auto-reply template gets only"
        " form, auto_reply, paragraphs (no visitor value)"
    )
    assert "SPAM" not in state.last_error.text
    # The staff mail is the editor's business: it still carries the visitor's text.
    staff = stored(redis_client, submission_id).message("staff")
    assert staff is not None
    assert staff.status == "sent"


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize(
    "template",
    [
        COPY_OF_YOUR_MESSAGE,
        "{% if false %}{{ submission.fields.message }}{% endif %}ok\n",
        "{{ phone }}\n",
        '{% include "staff.txt.j2" %}\n',
    ],
)
def test_forms_check_refuses_an_auto_reply_template_that_names_visitor_values(
    site: Path, template: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_auto_reply(site)
    (site / "templates" / "contact").mkdir(parents=True)
    (site / "templates" / "contact" / "auto_reply.html.j2").write_text(template)
    assert main(["forms", "check", str(site)]) == 1
    out = capsys.readouterr().out
    assert "templates/contact/auto_reply.html.j2: " in out
    assert "an auto-reply template gets only" in out


@pytest.mark.usefixtures("env")
def test_forms_check_accepts_an_auto_reply_template_on_form_data(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_auto_reply(site)
    (site / "templates" / "contact").mkdir(parents=True)
    (site / "templates" / "contact" / "auto_reply.txt.j2").write_text(
        "{{ form.title }}\n{% for p in paragraphs %}{{ p }}\n{% endfor %}{{ auto_reply.body }}\n"
    )
    assert main(["forms", "check", str(site)]) == 0, capsys.readouterr().out


def _dangling(path: Path, tmp_path: Path) -> None:
    path.symlink_to(tmp_path / "nothing-here")


def _to_dev_zero(path: Path, tmp_path: Path) -> None:
    path.symlink_to("/dev/zero")


def _fifo(path: Path, tmp_path: Path) -> None:
    os.mkfifo(path)


def _relative_link(path: Path, tmp_path: Path) -> None:
    """A link to another template inside the site: still a link."""
    (path.parent / "real.j2").write_text("fine\n")
    path.symlink_to("real.j2")


LINKS = [_dangling, _to_dev_zero, _fifo, _relative_link]


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("make", LINKS)
def test_forms_check_refuses_every_link_or_special_file_at_a_template_path(
    site: Path,
    tmp_path: Path,
    make: Callable[[Path, Path], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = site / "templates" / "contact"
    folder.mkdir(parents=True)
    make(folder / "staff.html.j2", tmp_path)
    (site / "templates" / "auto_reply.txt.j2").symlink_to(tmp_path / "nothing-either")
    assert main(["forms", "check", str(site)]) == 1
    out = capsys.readouterr().out
    # Each failing template, each named by its path in the site.
    assert "templates/contact/staff.html.j2: " in out
    assert "templates/auto_reply.txt.j2: " in out
    assert "refused" in out


@pytest.mark.parametrize("make", LINKS)
def test_the_worker_fails_a_message_whose_template_is_a_link(
    relay: Relay,
    site: Path,
    tmp_path: Path,
    make: Callable[[Path, Path], None],
    redis_client: redis.Redis,
) -> None:
    """No silent fallback to the shipped template: the message fails and says why."""
    submission_id = submit(visitor())
    # Made after the post: the forms service refuses to load a site with links in it.
    folder = site / "templates" / "contact"
    folder.mkdir(parents=True)
    make(folder / "staff.html.j2", tmp_path)
    run_jobs(redis_client)

    text = _failed_unsent(relay, redis_client, submission_id)
    assert text.startswith("template error: ")
    assert "templates/contact/staff.html.j2" in text


def test_a_linked_template_folder_is_refused(
    relay: Relay, site: Path, tmp_path: Path, redis_client: redis.Redis
) -> None:
    """A form's template folder linked elsewhere would read templates from outside the site."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "staff.txt.j2").write_text("from outside\n")
    submission_id = submit(visitor())
    (site / "templates").mkdir(exist_ok=True)
    (site / "templates" / "contact").symlink_to(elsewhere)
    run_jobs(redis_client)

    assert "templates/contact" in _failed_unsent(relay, redis_client, submission_id)


# Sizes past the bounds (100,000 items or characters, exponent 100, 100,000 bits) that still fit in
# memory: each of these, a few powers of ten larger, ran the worker out of memory.
HUNGRY = [
    '{{ ("a" * 10**7)|length }}',
    "{{ ([0] * 200001)|length }}",
    "{{ 2 ** 101 }}",
    "{{ (((10**100) ** 100) ** 100)|string|length }}",
    "{% set ns = namespace(n=7 ** 100) %}{% for i in range(400) %}"
    "{% set ns.n = ns.n * (7 ** 100) %}{% endfor %}{{ ns.n|string|length }}",
    '{% set ns = namespace(s="ab") %}{% for i in range(20) %}{% set ns.s = ns.s + ns.s %}'
    "{% endfor %}{{ ns.s|length }}",
    '{{ ("%0200000d" % 1)|length }}',
    '{{ ("%*d" % (200000, 1))|length }}',
    '{{ ("%(n).200000f" % {"n": 1})|length }}',
]


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("template", HUNGRY)
def test_forms_check_refuses_a_template_that_would_eat_the_workers_memory(
    site: Path, template: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (site / "templates" / "contact").mkdir(parents=True)
    (site / "templates" / "contact" / "staff.txt.j2").write_text(template + "\n")
    assert main(["forms", "check", str(site)]) == 1
    out = capsys.readouterr().out
    assert "templates/contact/staff.txt.j2: SecurityError: " in out


def test_the_worker_fails_a_message_whose_template_would_eat_its_memory(
    relay: Relay, site: Path, redis_client: redis.Redis
) -> None:
    (site / "templates" / "contact").mkdir(parents=True)
    (site / "templates" / "contact" / "staff.html.j2").write_text(HUNGRY[0] + "\n")
    submission_id = submit(visitor())
    run_jobs(redis_client)

    assert _failed_unsent(relay, redis_client, submission_id).startswith(
        "template error: SecurityError: "
    )


@pytest.mark.usefixtures("env")
def test_ordinary_arithmetic_still_renders(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (site / "templates" / "contact").mkdir(parents=True)
    (site / "templates" / "contact" / "staff.txt.j2").write_text(
        '{{ "-" * 72 }} {{ 2 ** 10 }} {{ 1.5 * 4 }} {{ [1] + [2] }} {{ "%05.1f%%" % 12.5 }}\n'
        "{% for f in fields %}{{ loop.index * 2 }} {{ f }}{% endfor %}\n"
    )
    assert main(["forms", "check", str(site)]) == 0, capsys.readouterr().out


@pytest.mark.usefixtures("env")
def test_forms_check_reports_a_template_that_raises_a_python_error(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a traceback: the template and the error's type, never its text (it may quote a value)."""
    (site / "templates" / "contact").mkdir(parents=True)
    (site / "templates" / "contact" / "staff.txt.j2").write_text("{{ 1 / 0 }}\n")
    (site / "templates" / "contact" / "staff.html.j2").write_text('{{ "%d" % fields.name }}\n')
    assert main(["forms", "check", str(site)]) == 1
    out = capsys.readouterr().out
    assert "templates/contact/staff.txt.j2: RenderFailed: ZeroDivisionError" in out
    assert "templates/contact/staff.html.j2: RenderFailed: TypeError" in out


def test_the_worker_fails_a_message_whose_template_raises_a_python_error(
    relay: Relay, site: Path, redis_client: redis.Redis
) -> None:
    (site / "templates" / "contact").mkdir(parents=True)
    (site / "templates" / "contact" / "staff.txt.j2").write_text('{{ "%d" % fields.name }}\n')
    submission_id = submit(visitor(name="SECRETNAME"))
    run_jobs(redis_client)

    text = _failed_unsent(relay, redis_client, submission_id)
    assert text.startswith("template error: RenderFailed: TypeError")
    assert "SECRETNAME" not in text
