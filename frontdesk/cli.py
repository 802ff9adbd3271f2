"""The ``frontdesk`` console script: every command of every role.

Exit codes: 0 success, 1 a check found problems, 2 bad settings or usage.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from frontdesk.logging import configure as configure_logging
from frontdesk.settings import Settings, SettingsError, load_settings

# The app factory of each service (``module:function``), imported only by the process that serves
# it: the CLI is the one place that names the services.
SERVICES = {
    "content": "services.content.asgi:app_factory",
    "forms": "services.forms.asgi:app_factory",
    "inbox": "services.inbox.asgi:app_factory",
}


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"frontdesk: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frontdesk", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a service with the production ASGI server")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    worker = commands.add_parser("worker", help="run the RQ worker (with its scheduler)")
    worker.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    doc = commands.add_parser(
        "settings-doc", help="write docs/settings.md and .env.example from the settings type"
    )
    doc.add_argument("--check", action="store_true", help="exit 1 when a file is stale")
    doc.add_argument("--root", type=Path, default=Path(), help="the repository (default: .)")
    health = commands.add_parser("health", help="exit 0 when a role on this host is healthy")
    health.add_argument("role", choices=["worker"])
    send_test = commands.add_parser("send-test", help="send one test email through the relay")
    send_test.add_argument("--to", required=True, help="recipient address")
    send_test.add_argument("--from", dest="sender", help="sender (default the first form's sender)")
    resend = commands.add_parser("resend", help="queue a submission's email(s) again")
    resend.add_argument("id", help="submission id")
    resend.add_argument(
        "--kind",
        action="append",
        choices=["staff", "auto_reply", "webhook", "chat_1", "chat_2", "chat_3", "chat_4"],
        help="default: staff; chat_<n>: the form's n-th notify_chat target",
    )
    resend.add_argument(
        "--reply", action="append", metavar="REPLY_ID", help="a reply from the inbox, by its id"
    )
    keys = commands.add_parser("keys", help="print a key derived from the master key")
    keys.add_argument(
        "purpose",
        choices=["webhook", "build-hooks"],
        help="webhook: the webhook receivers' signing key; build-hooks: the build hooks'",
    )
    hooks = commands.add_parser("hooks", help="build hooks").add_subparsers(
        dest="action", required=True
    )
    hooks_log = hooks.add_parser("log", help="the last deliveries of the build hooks")
    hooks_log.add_argument("name", nargs="?", help="one hook (default: every hook with a log)")
    for name in ("content", "forms"):
        group = commands.add_parser(name, help=f"{name} tools").add_subparsers(
            dest="action", required=True
        )
        check = group.add_parser("check", help=f"validate the {name} of a site directory")
        check.add_argument("dir", type=Path, nargs="?", help="site directory (FRONTDESK_SITE_DIR)")
        if name == "content":
            schema = group.add_parser("schema", help="write JSON Schema files of the site's YAML")
            schema.add_argument("out", type=Path, help="directory to write *.schema.json into")
        else:
            schema = group.add_parser("schema", help="write the JSON Schema of forms/<id>.yaml")
            schema.add_argument("out", type=Path, help="directory to write form.schema.json into")
    return parser


def _print_problems(problems: Sequence[object]) -> bool:
    """Print ``problems`` on stdout, one a line (what ``check`` reports); whether there were any."""
    for problem in problems:
        print(problem)
    return bool(problems)


def _check_content(site_dir: Path, settings: Settings) -> int:
    from services.content.buildhooks import hook_problems
    from services.content.loader import SiteError, load_site

    try:
        site = load_site(site_dir)
    except SiteError as exc:
        _print_problems(exc.problems)
        print(f"{len(exc.problems)} problem(s) in {site_dir}", file=sys.stderr)
        return 1
    # Build hooks ops do not allow (FRONTDESK_WEBHOOK_*): served without them, so reported here.
    refused = hook_problems(site.config, settings)
    if _print_problems(refused):
        print(f"{len(refused)} problem(s) in {site_dir}", file=sys.stderr)
        return 1

    def published(items: Iterable[Any]) -> int:
        return sum(1 for i in items if i.item.status == "published")

    counts = ", ".join(
        f"{name} {published(items.values())}/{len(items)}"
        for name, items in site.collections.items()
    )
    pages = sum(1 for p in site.pages.values() if p.page.status == "published")
    print(f"ok: {pages}/{len(site.pages)} page(s) published; items published/all: {counts}")
    return 0


def _check_forms(site_dir: Path, settings: Settings) -> int:
    from frontdesk.site import SITE_FILE, SiteSettingsError, read_site_settings
    from frontdesk.submissions.definition import FormsError, load_forms

    site_problems: list[str] = []
    if (site_dir / SITE_FILE).exists():
        # The forms service reads site.yaml too (its timezone is the date fields' today).
        try:
            read_site_settings(site_dir)
        except SiteSettingsError as exc:
            site_problems.append(str(exc))
    try:
        forms = load_forms(site_dir, settings.recipient_domains)
    except FormsError as exc:
        _print_problems(site_problems + exc.problems)
        return 1
    from frontdesk.submissions.definition import chat_secret_problems

    site_problems += chat_secret_problems(forms, settings)
    if _print_problems(site_problems):
        return 1
    if not forms:
        print(f"forms/: no form definitions in {site_dir}", file=sys.stderr)
        return 1
    from worker.templates import check_templates

    if _print_problems(check_templates(site_dir, forms)):
        return 1
    print(f"ok: {len(forms)} form(s): {', '.join(sorted(forms))}")
    return 0


def _settings_doc(root: Path, *, check: bool) -> int:
    from frontdesk.settings_doc import undocumented, write

    missing = undocumented()
    for name in missing:
        print(f"setting {name} has no description in frontdesk/settings_doc.py", file=sys.stderr)
    stale = write(root, check=check)
    for path in stale:
        print(f"{path} is stale: run `frontdesk settings-doc`" if check else f"wrote {path}")
    return 1 if missing or (check and stale) else 0


def _resend(
    settings: Settings, submission_id: str, kinds: list[str], replies: list[str] | None = None
) -> int:
    from frontdesk.redis import connect
    from frontdesk.submissions.queueing import retry_schedule
    from frontdesk.submissions.store import StoreUnavailable, SubmissionStore, WrongStatus

    store = SubmissionStore(
        connect(settings),
        settings.queue_name,
        retry_schedule(settings.retry_base_seconds, settings.retry_max_hours),
        int(settings.job_timeout),
    )
    try:
        record = store.queue_messages(
            submission_id,
            kinds,  # type: ignore[arg-type]
            release=False,
            replies=replies or [],
        )
    except (WrongStatus, StoreUnavailable) as exc:
        print(f"frontdesk: {submission_id}: {exc}", file=sys.stderr)
        return 1
    if record is None:
        print(f"frontdesk: no submission {submission_id}", file=sys.stderr)
        return 1
    names = [*kinds, *(f"reply-{r}" for r in replies or [])]
    logging.getLogger("frontdesk.audit").info(
        "staff=cli action=resend target=%s kinds=%s", submission_id, ",".join(names)
    )
    print(f"queued: {', '.join(names)}")
    return 0


def _print_key(settings: Settings, purpose: str) -> int:
    """Print the webhook receivers' key or the build hooks' (derived from the master key, which
    may live in Redis).
    """
    import redis

    from frontdesk.redis import connect
    from worker import buildhooks, webhooks

    secret_key = buildhooks.secret_key if purpose == "build-hooks" else webhooks.secret_key
    try:
        print(secret_key(connect(settings), settings).decode())
    except redis.RedisError as exc:
        print(f"frontdesk: the master key is in Redis, which failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _hooks_log(settings: Settings, name: str | None) -> int:
    """Print the delivery log of build hook ``name`` (or of every hook), newest first:
    ``<hook> <time> change=<id> attempt=<n> status=<code|-> <outcome> [error]``.
    """
    import redis

    from frontdesk.redis import connect
    from frontdesk.submissions.buildhooks import deliveries, logged_hooks

    try:
        connection = connect(settings)
        names = [name] if name else logged_hooks(connection)
        logs = {hook: deliveries(connection, hook) for hook in names}
    except redis.RedisError as exc:
        print(f"frontdesk: Redis failed: {exc}", file=sys.stderr)
        return 1
    if not any(logs.values()):
        print("no build-hook deliveries logged", file=sys.stderr)
        return 0
    for hook, entries in logs.items():
        for entry in entries:
            status = "-" if entry.status is None else str(entry.status)
            error = f" {entry.error}" if entry.error else ""
            print(
                f"{hook} {entry.at} change={entry.change} attempt={entry.attempt} "
                f"status={status} {entry.outcome}{error}"
            )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    settings = _settings()
    # The process's name in the text format: the service, "worker", or the command.
    role = args.service if args.command == "serve" else args.command
    configure_logging(settings.log_level, settings.log_format, role)
    if args.command == "serve":
        from frontdesk.serve import PortInUse, ServerStopped, serve

        try:
            serve(args.service, SERVICES[args.service], settings, workers=args.workers)
        except (PortInUse, ServerStopped) as exc:
            print(f"frontdesk serve: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "worker":
        from worker.main import LoopEnded, StartError, run

        try:
            run(settings, burst=args.burst)
        except StartError as exc:
            print(f"frontdesk worker: bad settings:\n{exc}", file=sys.stderr)
            return 2
        except LoopEnded as exc:
            print(f"frontdesk worker: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "settings-doc":
        return _settings_doc(args.root, check=args.check)
    if args.command == "content" and args.action == "schema":
        from services.content.schemas import write_schemas

        for path in write_schemas(args.out):
            print(path)
        return 0
    if args.command == "forms" and args.action == "schema":
        from frontdesk.submissions.form_schema import write_form_schema

        print(write_form_schema(args.out))
        return 0
    if args.command == "resend":
        default = [] if args.reply else ["staff"]
        return _resend(settings, args.id, args.kind or default, args.reply)
    if args.command == "health":
        import redis

        from worker.main import healthy_workers

        try:
            names = healthy_workers(settings)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Workers wait out an outage; restarting them (a liveness probe) would not bring Redis.
            print(f"Redis unreachable ({exc}): heartbeats unknown, counted as alive")
            return 0
        print(
            f"ok: {', '.join(names)}" if names else "no worker with a fresh heartbeat on this host"
        )
        return 0 if names else 1
    if args.command == "keys":
        return _print_key(settings, args.purpose)
    if args.command == "hooks":
        return _hooks_log(settings, args.name)
    if args.command == "send-test":
        from worker.cli import send_test

        return send_test(settings, args.to, args.sender)
    site_dir = args.dir or settings.site_dir
    if args.command == "content":
        return _check_content(site_dir, settings)
    return _check_forms(site_dir, settings)


if __name__ == "__main__":
    raise SystemExit(main())
