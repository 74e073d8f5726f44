"""A second Generate while a job runs: which stream reports on the tab's status line (modules/ui/jobstream.py)."""

from __future__ import annotations

from types import SimpleNamespace

from modules.service.jobs import DONE, QUEUED, RUNNING
from modules.ui.jobstream import queued_note, status_html, waiting_behind_own


def _services(jobs: list[SimpleNamespace]) -> SimpleNamespace:
    def current_of(owner: str):
        mine = [j for j in jobs if j.owner == owner and j.status in (QUEUED, RUNNING)]
        running = [j for j in mine if j.status == RUNNING]
        return (running or mine or [None])[0]

    return SimpleNamespace(jobs=SimpleNamespace(current_of=current_of,
                                                jobs_of=lambda owner: [j for j in jobs if j.owner == owner]))


def test_a_job_queued_behind_the_same_users_running_job_stays_quiet_and_is_counted_by_it():
    first = SimpleNamespace(owner="ann", status=RUNNING)
    second = SimpleNamespace(owner="ann", status=QUEUED)
    services = _services([first, second])
    assert waiting_behind_own(services, second) and not waiting_behind_own(services, first)
    assert queued_note(services, first) == " · 1 more of your jobs queued after this one"
    first.status, second.status = DONE, RUNNING  # the first ends: the second reports, alone
    assert not waiting_behind_own(services, second) and queued_note(services, second) == ""


def test_a_job_waiting_only_for_other_users_reports_its_own_place():
    theirs = SimpleNamespace(owner="bob", status=RUNNING)
    mine = SimpleNamespace(owner="ann", status=QUEUED)
    assert not waiting_behind_own(_services([theirs, mine]), mine)


def test_the_running_status_is_marked_for_escape_and_the_finished_one_is_not():
    assert 'class="status status-running"' in status_html("Step 1/2", 0.5, running=True)
    assert "status-running" not in status_html("Done", 1.0, after="<a>x</a>") and "<a>x</a>" in status_html(
        "Done", after="<a>x</a>")
