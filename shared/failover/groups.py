"""DR groups: the VMs that fail over, commit, reprotect and fail back together. Pure.

A group is, by default, the VMs that share a source PPG (``ppgdr-group`` names another). Its members
and their placement facts come from the per-VM status ppg-dr keeps; the recovery plan's boot order is
computed here: the VM sizes hardest to place start first, because the first VM allocated in a PPG
pins its datacenter, and a large or rare size that comes last may find no capacity there.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from shared.state.vm_status import VmState, VmStatus

# ASR recovery plan limits (documented: up to 100 protected items per plan and 7 boot groups).
MAX_ITEMS_PER_PLAN = 100
MAX_BOOT_GROUPS = 7

_SIZE = re.compile(r"^(?:standard|basic)_(?P<family>[a-z]+)(?P<vcpus>\d+)(?P<rest>[a-z_0-9-]*)$", re.IGNORECASE)
# Memory-optimised and HPC families are scarce per datacenter: anchor them first at equal vCPUs.
_SCARCE_FAMILIES = {"m": 3, "mv": 3, "hb": 3, "hc": 3, "nd": 3, "nc": 2, "nv": 2, "l": 1, "e": 1}


@dataclass(frozen=True, slots=True)
class Member:
    vm_id: str
    vm_name: str
    size: str
    item_name: str
    fabric: str
    container: str
    boot_order: int | None
    state: str


@dataclass(frozen=True)
class Group:
    name: str
    members: tuple[Member, ...]
    source_region: str
    failover_mode: str
    # drills: what the members' tags ask for ("" / None: the PPGDR_DRILL_* setting applies)
    drill_schedules: tuple[str, ...] = ()
    rto_minutes: int | None = None  # the tightest target any member sets
    rpo_minutes: int | None = None
    drill_probes: tuple[str, ...] = ()

    @property
    def protected(self) -> bool:
        return bool(self.members) and all(m.state == VmState.PROTECTED for m in self.members)

    @property
    def member_ids(self) -> tuple[str, ...]:
        return tuple(m.vm_id.lower() for m in self.members)


def size_rank(size: str) -> tuple[int, int]:
    """(vCPUs, scarcity) parsed from an Azure size name; unknown names rank lowest."""
    found = _SIZE.match(size.strip())
    if not found:
        return (0, 0)
    family = found["family"].lower()
    return (int(found["vcpus"]), _SCARCE_FAMILIES.get(family, 0))


def placement_order(members: list[Member]) -> list[list[Member]]:
    """Boot groups for a recovery plan: hardest-to-place sizes first, then ``ppgdr-boot-order``.

    Sizes are ranked by vCPUs, then scarcity of the family, then rarity within the group (a size
    only one VM uses is harder to find room for than a common one). Each distinct size gets its own
    boot group, so the anchor is allocated before the rest; beyond the ASR limit of 7 boot groups the
    remaining sizes share the last one (still in rank order inside it).
    """
    counts = Counter(m.size for m in members)

    def key(member: Member) -> tuple[int, int, int, int, str]:
        vcpus, scarcity = size_rank(member.size)
        boot = member.boot_order if member.boot_order is not None else 100
        return (-vcpus, -scarcity, counts[member.size], boot, member.vm_name)

    ordered = sorted(members, key=key)
    groups: list[list[Member]] = []
    sizes: list[str] = []
    for member in ordered:
        if member.size in sizes and len(groups) > 0 and sizes[-1] == member.size:
            groups[-1].append(member)
        elif len(groups) < MAX_BOOT_GROUPS:
            groups.append([member])
            sizes.append(member.size)
        else:
            groups[-1].append(member)
    return groups


def plan_limits_problem(group: Group) -> str | None:
    """Why a group cannot fit one recovery plan, said plainly (never silently drop a VM)."""
    if len(group.members) > MAX_ITEMS_PER_PLAN:
        return (
            f"group {group.name} has {len(group.members)} VMs but an ASR recovery plan holds at most {MAX_ITEMS_PER_PLAN}: "
            "split it with the ppgdr-group tag"
        )
    return None


def groups_from_statuses(statuses: Iterable[VmStatus]) -> dict[str, Group]:
    """Group every VM ppg-dr protects (or is protecting) by its DR group name (case-insensitive).

    One pass that keeps only what a group needs of each member (a :class:`Member` and a few settings), so a stream
    of 100,000 statuses never has to be held at once.
    """
    by_name: dict[str, list[tuple[Member, str, str, str, int | None, int | None, tuple[str, ...], str]]] = {}
    for status in statuses:
        if not status.group or not status.item_name:
            continue
        member = Member(  # the values many members share are kept once (a stream of 100,000 statuses)
            status.vm_id,
            status.vm_name,
            sys.intern(status.size),
            status.item_name,
            sys.intern(status.fabric),
            sys.intern(status.container),
            status.boot_order,
            sys.intern(status.state),
        )
        by_name.setdefault(status.group.lower(), []).append(
            (
                member,
                sys.intern(status.group),
                sys.intern(status.location),
                sys.intern(status.failover_mode),
                status.rto_minutes,
                status.rpo_minutes,
                tuple(status.drill_probes),
                status.drill_schedule,
            )
        )
    groups: dict[str, Group] = {}
    for key, entries in by_name.items():
        entries.sort(key=lambda e: e[0].vm_name)
        first = entries[0]
        modes = {e[3] for e in entries if e[3]}
        # The strictest mode any member asks for wins: one VM tagged "off" keeps the group manual.
        mode = "off" if "off" in modes else "approve" if "approve" in modes or not modes else "auto"
        groups[key] = Group(
            name=first[1],
            members=tuple(e[0] for e in entries),
            source_region=first[2],
            failover_mode=mode,
            drill_schedules=tuple(sorted({e[7] for e in entries if e[7]})),
            rto_minutes=min((e[4] for e in entries if e[4]), default=None),
            rpo_minutes=min((e[5] for e in entries if e[5]), default=None),
            drill_probes=tuple(sorted({p for e in entries for p in e[6]})),
        )
    return groups
