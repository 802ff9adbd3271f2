"""The staff API as routes any service can mount: ``staff_router(context)``.

- :mod:`.controller`: the routes and :func:`~.controller.staff_router`;
- :mod:`.auth`: the guard (throttle → token → action → form) and the failed-token throttle;
- :mod:`.context`: :class:`~.context.StaffContext`, what the mounting service provides;
- :mod:`.queries`: reading a form's submissions through its index; :mod:`.exports`: CSV, JSONL;
- :mod:`.schemas`: the bodies the routes answer and accept.
"""

from __future__ import annotations

from frontdesk.submissions.staff.context import StaffContext
from frontdesk.submissions.staff.controller import StaffController, staff_router

__all__ = ["StaffContext", "StaffController", "staff_router"]
