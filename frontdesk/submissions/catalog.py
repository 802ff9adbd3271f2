"""The forms of a running process, reloadable: each form file on its own, its last good definition
kept while the file is broken.

The forms service and the worker each hold one :class:`Catalog`, built by their factory and loaded
again on the reload triggers (:mod:`frontdesk.watch`). A load reads ``site.yaml``'s settings and
every ``forms/*.yaml``:

- a good file replaces its form's definition;
- a broken file keeps its form's last good definition (if it ever had one) in
  :attr:`Catalog.definitions` — the worker still composes the emails of submissions already stored
  — and puts the form in :attr:`Catalog.broken`: the forms service answers it 503
  ``form_unavailable`` and names it on the internal readiness answer, while every other form goes
  on;
- a removed file removes its form;
- a broken ``site.yaml`` keeps the last good :class:`~frontdesk.site.SiteSettings`.

Readers take :attr:`Catalog.forms` (or :attr:`Catalog.definitions`) once per request or job: a load
swaps whole dictionaries, never changes one in place.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from frontdesk.site import SiteSettings, SiteSettingsError, form_files, read_site_settings
from frontdesk.submissions.definition import FormDefinition, FormsError, load_form_file

log = logging.getLogger("frontdesk.forms")


class Catalog:
    """The forms of ``site_dir`` and its :class:`~frontdesk.site.SiteSettings`.

    - :attr:`forms` — id → definition of the forms whose file is good now (the public ones);
    - :attr:`definitions` — id → the last good definition of every form file present, broken
      ones included (staff mail, the staff API);
    - :attr:`broken` — id → the problems (``forms/<id>.yaml: $.path: message``) of each form file
      that does not load now;
    - :attr:`site` — the last good site settings (``None`` until ``site.yaml`` has loaded once),
      :attr:`site_problem` the problem of the current ``site.yaml`` (``None`` when good);
    - :attr:`loads` — how many loads ran.

    ``recipient_domains`` (``FRONTDESK_RECIPIENT_DOMAINS``; empty: any) are the domains staff mail
    may go to: a form file that names another one does not load.
    """

    def __init__(self, site_dir: Path, recipient_domains: Sequence[str] = ()) -> None:
        self.site_dir = site_dir
        self.recipient_domains = tuple(recipient_domains)
        self.forms: dict[str, FormDefinition] = {}
        self.definitions: dict[str, FormDefinition] = {}
        self.broken: dict[str, list[str]] = {}
        self.site: SiteSettings | None = None
        self.site_problem: str | None = None
        self.loads = 0

    @property
    def problems(self) -> list[str]:
        """Every problem of the last load, ``site.yaml``'s first; empty when all loaded."""
        problems = [self.site_problem] if self.site_problem else []
        for form_id in sorted(self.broken):
            problems += self.broken[form_id]
        return problems

    def load(self) -> bool:
        """Read ``site.yaml`` and every form file again; ``True`` when all of them are good.

        Blocking (file reads): an event loop calls it in a thread. Never raises for bad content.
        """
        try:
            self.site = read_site_settings(self.site_dir)
            self.site_problem = None
        except SiteSettingsError as exc:
            self.site_problem = str(exc)
            log.error("site settings not reloaded: %s", exc)
        definitions: dict[str, FormDefinition] = {}
        broken: dict[str, list[str]] = {}
        try:
            files = form_files(self.site_dir)
        except OSError as exc:
            log.error("forms of %s not reloaded: %s", self.site_dir, exc)
            return False
        for form_id, file in files.items():
            try:
                definitions[form_id] = load_form_file(self.site_dir, file, self.recipient_domains)
            except FormsError as exc:
                broken[form_id] = exc.problems
                last = self.definitions.get(form_id)
                if last is not None:
                    definitions[form_id] = last
                for problem in exc.problems:
                    log.error("form problem: %s", problem)
                log.error(
                    "form %s not reloaded; %s",
                    form_id,
                    "its last good definition is kept for mail already queued; it answers 503"
                    if last is not None
                    else "it answers 503 until its file is fixed",
                )
        self.definitions = definitions
        self.forms = {k: v for k, v in definitions.items() if k not in broken}
        self.broken = broken
        self.loads += 1
        log.info(
            "forms loaded: %d good, %d broken (%s)",
            len(self.forms),
            len(broken),
            ", ".join(sorted(broken)) or "none",
        )
        return not broken and self.site_problem is None
