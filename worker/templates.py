"""The Jinja environments of the email templates, which editors write: a sandbox, not code.

Templates come from the site directory (docs/worker.md), and editors are trusted with content only
(docs/security.md). So they run in Jinja's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`:
no attribute starting with ``_`` (``cycler.__init__.__globals__`` reached ``os``), no internal
attributes of functions and frames, no mutation of the context's lists and dicts. A template that
tries raises :class:`jinja2.sandbox.SecurityError` (a ``TemplateError``) when rendered: the worker
records it as a template error of that message, and ``frontdesk forms check`` reports it. The
operators that could take the worker's memory (``*``, ``+``, ``**``, ``%``) are bounded before they
run (:class:`BoundedSandbox`), and a Python error raised in a template is a template error too
(:class:`RenderFailed`).

Files are read only from inside the template folders, and only regular files: a symbolic link (to
``/proc/self/environ``, say, whose text would be mailed to the form's recipients; to ``/dev/zero``;
to nothing), a FIFO or a device at a template path, or a linked template folder, is refused with
:class:`RefusedTemplate` rather than skipped, so a message never falls back to the shipped template
while the editor believes theirs is used.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import traceback
from collections.abc import Callable, Sequence, Sized
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
from jinja2.exceptions import SecurityError
from jinja2.loaders import split_template_path
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from frontdesk.submissions.definition import AutoReply, FormDefinition
from frontdesk.submissions.record import Submission

Environments = tuple[jinja2.Environment, jinja2.Environment]


class RefusedTemplate(jinja2.TemplateError):
    """A template path holds a symbolic link or something other than a regular file.

    Not a :class:`jinja2.TemplateNotFound`: ``{% include ... ignore missing %}`` and a list of
    names in ``include`` skip those, which would fall back to another template silently.
    ``filename`` is the path relative to the site directory (to the shipped folder for ours).
    """

    def __init__(self, filename: str, why: str) -> None:
        super().__init__(f"{filename}: refused: {why}; a template must be a regular file, no link")
        self.filename = filename


class ContainedLoader(jinja2.BaseLoader):
    """Loads ``<root>/<template>`` from the first root that has an entry at that path; refuses
    (:class:`RefusedTemplate`) a symbolic link at any step from ``base`` (the site directory) down
    to the file, and a file that is not regular. ``base`` itself may be a link (a release folder).
    Roots outside ``base`` (the shipped templates) are checked from the root down.
    """

    def __init__(self, searchpath: Sequence[Path], base: Path | None = None) -> None:
        self.searchpath = [Path(p) for p in searchpath]
        self.base = base

    def _start(self, root: Path) -> Path:
        return self.base if self.base is not None and root.is_relative_to(self.base) else root

    def _find(self, root: Path, pieces: list[str]) -> tuple[Path, str] | None:
        """(path, path shown) of the regular file at ``root``/``pieces``, or ``None`` when nothing
        is there; raises :class:`RefusedTemplate` for a link or a special file on the way.
        """
        start = self._start(root)
        path = root.joinpath(*pieces)
        current = start
        parts = path.relative_to(start).parts
        for index, part in enumerate(parts):
            current = current / part
            shown = current.relative_to(start).as_posix()
            try:
                mode = os.lstat(current).st_mode
            except (FileNotFoundError, NotADirectoryError):
                return None
            if stat.S_ISLNK(mode):
                raise RefusedTemplate(shown, "a symbolic link")
            if index == len(parts) - 1:
                if not stat.S_ISREG(mode):
                    raise RefusedTemplate(shown, "not a regular file")
                return path, shown
            if not stat.S_ISDIR(mode):
                return None
        return None  # pragma: no cover - a template name has at least one piece

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        """The template's source, file name and up-to-date check; raises
        :class:`jinja2.TemplateNotFound` when no root has it, :class:`RefusedTemplate` when the
        first root that has an entry there holds a link or a special file.
        """
        pieces = split_template_path(template)
        for index, root in enumerate(self.searchpath):
            found = self._find(root, pieces)
            if found is None:
                continue
            path, shown = found
            # O_NOFOLLOW: a file swapped for a link since the check is refused, not followed;
            # O_NONBLOCK: a file swapped for a FIFO does not hang the open.
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            try:
                fd = os.open(path, flags)
            except OSError:
                raise RefusedTemplate(shown, "changed while being read") from None
            with os.fdopen(fd, "rb") as file:
                info = os.fstat(file.fileno())
                if not stat.S_ISREG(info.st_mode):
                    raise RefusedTemplate(shown, "not a regular file")
                source = file.read().decode("utf-8")
            earlier = [r.joinpath(*pieces) for r in self.searchpath[:index]]
            return source, str(path), _uptodate(path, info.st_mtime, earlier)
        raise jinja2.TemplateNotFound(template)


def _uptodate(path: Path, mtime: float, earlier: list[Path]) -> Callable[[], bool]:
    """Still the same regular file, and no entry has appeared at an earlier root (a site template
    added, or a link put there, after the shipped one was compiled).
    """

    def check() -> bool:
        try:
            info = os.lstat(path)
        except OSError:
            return False
        if not stat.S_ISREG(info.st_mode) or info.st_mtime != mtime:
            return False
        return not any(os.path.lexists(p) for p in earlier)

    return check


#: Most items or characters a ``*``, ``+`` or ``%`` of a template may produce (a mail is far shorter).
MAX_LENGTH = 100_000
#: Largest exponent of ``**``.
MAX_EXPONENT = 100
#: Largest integer a ``*`` or ``**`` may produce, in bits (about 30,000 decimal digits).
MAX_INT_BITS = 100_000
# A width or precision in a printf-style format, after an optional ``(key)``: digits or ``*``
# (taken from the arguments).
_PRINTF_SIZE = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with ``*``, ``**``, ``+`` and ``%`` bounded before they run:
    ``{{ ("a" * 10**10)|length }}``, ``2 ** 10**9`` or a string doubled in a loop would take the
    worker's memory (or ``forms check``'s: Jinja folds constant expressions while compiling, and
    intercepted operators are not folded). Past a bound they raise
    :class:`~jinja2.sandbox.SecurityError`: a sequence or string over :data:`MAX_LENGTH`, an
    exponent over :data:`MAX_EXPONENT`, an integer over :data:`MAX_INT_BITS`, a printf width or
    precision over :data:`MAX_LENGTH` or given by ``*``.
    """

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """``left <operator> right`` once its result is known to fit the bounds."""
        if operator == "*":
            _check_product(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "+":
            _check_sum(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_printf(left)
        return super().call_binop(context, operator, left, right)


def _is_int(value: object) -> bool:
    return isinstance(value, int)


def _too_long(length: int) -> None:
    if length > MAX_LENGTH:
        raise SecurityError(f"the result would hold {length} items, over {MAX_LENGTH}")


def _too_big(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise SecurityError(
            f"the result would be a number of about {bits} bits, over {MAX_INT_BITS}"
        )


def _check_product(left: Any, right: Any) -> None:
    if _is_int(left) and _is_int(right):
        _too_big(int(left).bit_length() + int(right).bit_length())
    elif _is_int(left) and isinstance(right, Sized):
        _too_long(len(right) * int(left))
    elif _is_int(right) and isinstance(left, Sized):
        _too_long(len(left) * int(right))


def _check_power(left: Any, right: Any) -> None:
    if isinstance(right, int | float) and right > MAX_EXPONENT:
        raise SecurityError(f"an exponent of {right} is over {MAX_EXPONENT}")
    if _is_int(left) and _is_int(right) and right > 0:
        _too_big(int(left).bit_length() * int(right))


def _check_sum(left: Any, right: Any) -> None:
    if _is_int(left) and _is_int(right):
        _too_big(max(int(left).bit_length(), int(right).bit_length()) + 1)
    elif isinstance(left, Sized) and isinstance(right, Sized):
        _too_long(len(left) + len(right))


def _check_printf(template: str) -> None:
    for width, precision in _PRINTF_SIZE.findall(template):
        for size in (width, precision):
            if size == "*":
                raise SecurityError("a printf width or precision given by * is refused")
            if size:
                _too_long(int(size))


def sandboxed_environments(paths: Sequence[Path], base: Path | None = None) -> Environments:
    """(text, html) bounded sandboxed environments (:class:`BoundedSandbox`) over ``paths`` in
    order, links refused from ``base`` down (see :class:`ContainedLoader`); HTML autoescapes.
    """
    loader = ContainedLoader(paths, base)
    # Plain-text mail: nothing to escape.
    text = BoundedSandbox(loader=loader, autoescape=False, undefined=jinja2.StrictUndefined)
    html = BoundedSandbox(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    return text, html


class RenderFailed(jinja2.TemplateRuntimeError):
    """A template raised an exception that is not Jinja's (``1 / 0``, ``"%d" % name``,
    ``MemoryError``). Its text is only the exception's type: Python's message may quote a value,
    a visitor's. ``filename``: the innermost template file that was running, when known.
    """

    def __init__(self, error: BaseException, filename: str | None) -> None:
        super().__init__(f"{type(error).__name__} while rendering")
        self.filename = filename


def render(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    """Template ``name`` of ``env`` rendered with ``context``; every error is a
    :class:`jinja2.TemplateError` (Python's as :class:`RenderFailed`), so the worker fails the
    message (no retry: the same template fails again) and ``forms check`` reports it.
    """
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateError:
        raise
    except Exception as exc:  # a template's arithmetic or a filter given the wrong type
        raise RenderFailed(exc, _template_frame(exc)) from None


def _template_frame(exc: BaseException) -> str | None:
    """The file of the innermost template frame in ``exc``'s traceback."""
    return next(
        (
            frame.filename
            for frame in reversed(traceback.extract_tb(exc.__traceback__))
            if frame.filename.endswith(".j2")
        ),
        None,
    )


def describe(exc: jinja2.TemplateError) -> str:
    """``<exception type>: <message>`` of a template error: names and attributes, never values."""
    return f"{type(exc).__name__}: {exc.message or ''}"[:300]


def check_templates(site_dir: Path, forms: dict[str, FormDefinition]) -> list[str]:
    """Render each email template of every form with a sample submission, each on its own, so every
    failing one is reported; one ``<file>: <exception type>: <message>`` string per failure (syntax,
    sandbox, undefined names, a refused link), ``<file>`` relative to the site directory.

    An auto-reply template (and every template it includes, imports or extends) must name no
    variable beyond :data:`worker.messages.AUTO_REPLY_NAMES` and Jinja's globals, even on a branch
    the sample does not take: the worker would fail that message at send time. The same holds for
    a summary template (``staff_summary.*``) and :data:`worker.messages.SUMMARY_NAMES`.
    """
    from worker.messages import (
        AUTO_REPLY_NAMES,
        SUMMARY_NAMES,
        TEMPLATE_NAMES,
        auto_reply_context,
        build_environment,
        staff_context,
        summary_context,
    )

    problems: set[str] = set()
    for form in forms.values():
        sample = Submission(
            id="0" * 28,
            form=form.id,
            status="received",
            created_at=dt.datetime.now(dt.UTC),
            fields={f.name: "a@example.com" if f.type == "email" else "x" for f in form.fields},
        )
        text_env, html_env = build_environment(site_dir, form.id)
        # Rendered all the same without one: a form may gain an auto-reply without another check.
        auto_reply = form.auto_reply or AutoReply(subject="s", body="b")
        for name in TEMPLATE_NAMES:
            env = text_env if name.endswith(".txt.j2") else html_env
            # A template without visitor data: the only names it may use, what it is and why.
            restricted: tuple[tuple[str, ...], str, str] | None = None
            if name.startswith("auto_reply"):
                context = auto_reply_context(form, auto_reply)
                restricted = (
                    AUTO_REPLY_NAMES,
                    "an auto-reply",
                    "it goes to whatever address was typed",
                )
            elif name.startswith("staff_summary"):
                context = summary_context(form, sample, "https://inbox.example")
                restricted = (SUMMARY_NAMES, "a summary", "the form sends staff no visitor data")
            else:
                context = staff_context(form, sample)
            try:
                template = env.get_template(name)
                if restricted is not None:
                    allowed, what, why = restricted
                    extra = _names_beyond(env, name, set(allowed), set())
                    if extra:
                        problems.add(
                            f"{_shown(template.filename, site_dir)}: names {', '.join(extra)}:"
                            f" {what} template gets only {', '.join(allowed)}"
                            f" ({why}: no visitor value)"
                        )
                        continue
                render(env, name, context)
            except jinja2.TemplateError as exc:
                problems.add(f"{_culprit(exc, site_dir)}: {describe(exc)}")
    return sorted(problems)


def _names_beyond(
    env: jinja2.Environment, name: str, allowed: set[str], seen: set[str]
) -> list[str]:
    """Variables template ``name`` and the templates it references look up beyond ``allowed`` and
    the environment's globals, sorted; a template named only at render time counts as one.
    """
    seen.add(name)
    source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
    tree = env.parse(source, name)
    found = set(jinja2.meta.find_undeclared_variables(tree)) - allowed - set(env.globals)
    for referenced in jinja2.meta.find_referenced_templates(tree):
        if referenced is None:
            found.add("(a template named at render time)")
        elif referenced not in seen:
            found.update(_names_beyond(env, referenced, allowed, seen))
    return sorted(found)


def _shown(filename: str | None, site_dir: Path) -> str:
    path = Path(filename or "templates")
    return path.relative_to(site_dir).as_posix() if path.is_relative_to(site_dir) else str(path)


def _culprit(exc: jinja2.TemplateError, site_dir: Path) -> str:
    """The template file the error happened in, relative to the site when it is one of the site's."""
    name = (
        getattr(exc, "filename", None)
        or _template_frame(exc)
        or getattr(exc, "name", None)
        or "templates"
    )
    if isinstance(exc, RefusedTemplate):
        return str(name)  # already relative to the site
    return _shown(name, site_dir)
