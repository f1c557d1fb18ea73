"""What Azure's replicated items say about a DR group whose records were lost. Pure.

ppg-dr's tables are a cache of decisions over Azure's state: a new storage account, a wiped table or a
restore loses them, Azure keeps the truth. ppg-dr names every item it creates after the VM it protects
(:func:`shared.arm.names.replicated_item_name`: the VM's name and a digest of its id), so an item says
which VM is its *home* (the VM first protected) in whichever direction it replicates now, and where the
group stands:

- items replicating from home, protected (or replicating for the first time): steady, nothing to adopt;
- items failed over from home (``Commit`` or ``SwitchProtection`` allowed): a failover is under way;
- items replicating from the DR region (switched): replicating back (a failover's reprotect), or protected
  there (the group runs in its DR region: "reprotected");
- items failed over from the DR region: a failback is under way;
- items ASR is busy with (no operation allowed): not adopted until their job ends (the next reconcile),
  because what a job does is not visible in the item, and guessing could send the wrong next step.

The workflow adopted starts at the phase whose look-before-send finds what Azure did: each phase adopts
a step already done instead of sending it twice (``shared.failover.phases``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from shared.arm.keys import normalize_arm_id
from shared.arm.names import fabric_name
from shared.platform.observed import ObservedItem, home_vm_id

A2A = "A2A"


class Stage(StrEnum):
    """Where one item stands, relative to its home region."""

    STEADY = "steady"  # replicates from home: the per-VM reconcile manages it
    BUSY = "busy"  # a job runs on it: adopted once it ends
    FAILED_OVER = "failed-over"  # failed over from home, committed or not
    REPLICATING_BACK = "replicating-back"  # switched: replicates from the DR region, initial replication
    RUNNING_AWAY = "running-away"  # switched and protected: the VM runs in the DR region
    FAILED_BACK = "failed-back"  # failed over from the DR region (a failback), committed or not


@dataclass(frozen=True)
class ItemFacts:
    """One ppg-dr item, read for adoption."""

    item: ObservedItem
    home_vm_id: str
    home_region: str
    away: bool  # replicates from the DR region now
    stage: Stage

    @property
    def home_key(self) -> str:
        return normalize_arm_id(self.home_vm_id)

    @property
    def running_vm_id(self) -> str | None:
        """The VM that runs the workload now: the failed-over copy, or (switched) the item's source."""
        if self.away and self.stage in (Stage.RUNNING_AWAY, Stage.REPLICATING_BACK):
            return self.item.source_vm_id
        return self.item.recovery_vm_id


def _failed_over(ops: tuple[str, ...]) -> bool:
    return "Commit" in ops or "SwitchProtection" in ops


def stage_of(item: ObservedItem, away: bool) -> Stage:
    """The item's stage from what ASR allows on it (the one place ASR says where an item is)."""
    ops = item.allowed_operations
    if not ops:
        return Stage.BUSY
    if not away:
        return Stage.FAILED_OVER if _failed_over(ops) else Stage.STEADY
    if _failed_over(ops):
        return Stage.FAILED_BACK
    if "UnplannedFailover" in ops:
        return Stage.RUNNING_AWAY
    return Stage.REPLICATING_BACK


def item_facts(item: ObservedItem, home_regions: Iterable[str]) -> ItemFacts | None:
    """Facts of a ppg-dr A2A item; None for other items, or when its home region is not a configured one."""
    if item.provider != A2A:
        return None
    home = home_vm_id(item)
    region = (item.initial_primary_region or "").lower()
    if home is None or not region or region not in {r.lower() for r in home_regions}:
        return None
    away = item.fabric_name.lower() != fabric_name(region)
    return ItemFacts(item, home, region, away, stage_of(item, away))


class Adoption(StrEnum):
    """What a group's items say ppg-dr should have on record."""

    NOTHING = "nothing"  # steady (or only busy): the per-VM reconcile manages it
    WAIT = "wait"  # some items are busy and the others do not say enough: the next reconcile looks again
    FAILOVER = "failover"  # a failover is under way: its workflow continues
    REPROTECTED = "reprotected"  # the group runs in its DR region, replicating back: ready for failback
    FAILBACK = "failback"  # a failback is under way: its workflow continues


@dataclass(frozen=True)
class GroupAdoption:
    kind: Adoption
    phase: str = ""  # the workflow phase to continue from
    why: str = ""


def adoption_for(stages: list[Stage]) -> GroupAdoption:
    """What to rebuild for a group from its members' stages (see the module docstring)."""
    present = set(stages)
    if not present or present <= {Stage.STEADY, Stage.BUSY}:
        return GroupAdoption(Adoption.NOTHING)
    if Stage.FAILED_BACK in present and Stage.STEADY in present:
        return GroupAdoption(
            Adoption.FAILBACK,
            "reprotect",
            "items failed back and some replicate from home again: the failback's reprotect continues",
        )
    if Stage.FAILED_BACK in present:
        return GroupAdoption(Adoption.FAILBACK, "failover", "items failed over from the DR region: the failback continues")
    if Stage.REPLICATING_BACK in present or (Stage.RUNNING_AWAY in present and Stage.FAILED_OVER in present):
        return GroupAdoption(
            Adoption.FAILOVER, "reprotect", "items replicate back from the DR region: the failover's reprotect continues"
        )
    if Stage.FAILED_OVER in present:
        return GroupAdoption(Adoption.FAILOVER, "failover", "items failed over to the DR region: the failover continues")
    if present == {Stage.RUNNING_AWAY}:
        return GroupAdoption(Adoption.REPROTECTED, "", "every item runs in the DR region and replicates back")
    return GroupAdoption(Adoption.WAIT, "", "some items are busy with a job: looked at again once it ends")
