"""Protection writes Azure may have applied without ppg-dr learning their job: found in the vault's job list.

A protection write (enable, target-PPG update, disable) is journaled before it is sent. Two things can leave
its entry without a job although Azure ran one: a gateway answers 5xx after Azure applied the request (and the
SDK's retries are answered 5xx too), or the instance dies between the send and the journal write. Marking such
an entry "failed" or "lost" would make the journal say Azure ran nothing while a job ran; re-sending at once
could send a write Azure's state makes wrong. So the pulse asks the vault first: a job of the write's scenario
on the VM since the intent was written is adopted as the write's job (then followed like any other), and only
when Azure shows none is the entry closed and the VM planned again.
"""

from __future__ import annotations

from datetime import timedelta

from shared.context import AppContext
from shared.platform.site_recovery import JobSearch
from shared.state.store import JournalEntry

# The ASR job scenario each journaled protection write starts (docs/emulator.md, "Scenario names").
SCENARIOS = {
    "enable-protection": "EnableDr",
    "update-target-ppg": "UpdateVmProperties",
    "disable-protection": "DisableDr",
}
# The intent's time is the worker's clock, the job's start ASR's: look a little earlier than the intent.
CLOCK_SLACK = timedelta(minutes=1)
# An entry the sender gave up on (no answer from Azure) carries this in its result.
UNANSWERED = "unanswered"


def is_unanswered(entry: JournalEntry) -> bool:
    """The sender saw no answer (transient error after the send): Azure may or may not have applied it."""
    return bool(entry.result.get(UNANSWERED))


def job_of(ctx: AppContext, entry: JournalEntry) -> JobSearch:
    """The job Azure started for this journaled protection write, if the vault's job list shows exactly one (or
    that a job too new to say what it is may be it: looked at again later)."""
    scenario = SCENARIOS.get(entry.operation)
    vm_id = str(entry.request.get("vm_id", ""))
    if scenario is None or not vm_id or entry.created is None:
        return JobSearch(None)
    vm_name = vm_id.rstrip("/").rsplit("/", 1)[-1]
    return ctx.site_recovery.find_job(scenario, vm_name, entry.created - CLOCK_SLACK)
