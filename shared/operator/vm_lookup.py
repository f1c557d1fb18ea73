"""Turn what an operator types for a VM (a name, ``rg/name`` or a resource id) into the VM's id.

People say ``sap-db-1``, not ``/subscriptions/.../virtualMachines/sap-db-1``. A name is accepted when it
is unique among the VMs ppg-dr manages (or, failing that, among the VMs it watches); when it is not, the
error lists the candidates as ``rg/name`` so the next attempt is unambiguous.
"""

from __future__ import annotations

from shared.arm.ids import VIRTUAL_MACHINES, ResourceId, parse_typed_id, vm_ref
from shared.context import AppContext
from shared.protection.reconciler import watched_vms
from shared.state import vm_status as st


class VmLookupError(LookupError):
    """The text names no VM, or more than one; the message says which and how to be precise."""


def _split(text: str) -> tuple[str | None, str]:
    resource_group, _, name = text.strip().rpartition("/")
    return (resource_group or None), name


def _pick(text: str, candidates: list[tuple[str, str, str]], where: str) -> str | None:
    """The one (id, rg, name) matching ``text``, None when none does; refuses an ambiguous name."""
    resource_group, name = _split(text)
    matches = [
        c
        for c in candidates
        if c[2].lower() == name.lower() and (resource_group is None or c[1].lower() == resource_group.lower())
    ]
    unique = {c[0].lower(): c for c in matches}
    if len(unique) > 1:
        options = ", ".join(sorted(f"{c[1]}/{c[2]}" for c in unique.values()))
        raise VmLookupError(f"VM name {text!r} is ambiguous among {where}: use one of {options} (or the resource id)")
    return next(iter(unique.values()))[0] if unique else None


def resolve_vm(ctx: AppContext, text: str, *, managed_only: bool = False) -> ResourceId:
    """The resource id of the VM ``text`` names: an id, or a name / ``rg/name`` unique among managed VMs.

    Without ``managed_only`` a name no managed VM has is looked up among the VMs the reconcile watches
    (``PPGDR_SUBSCRIPTIONS`` / ``PPGDR_RESOURCE_GROUPS``), so ``ppgdr plan --vm NAME`` works for a VM
    that is tagged but was never seen yet.
    """
    text = text.strip()
    if text.startswith("/"):
        parsed = parse_typed_id(text, VIRTUAL_MACHINES)
        if parsed is None:
            raise VmLookupError(f"{text[:300]!r} is not a virtual machine resource id")
        return parsed
    if not text or text.count("/") > 1:
        raise VmLookupError(f"{text[:300]!r} is not a VM name, rg/name or resource id")
    managed = [(s.vm_id, s.resource_group, s.vm_name or s.vm_id.rsplit("/", 1)[-1]) for s in st.all_statuses(ctx.store)]
    found = _pick(text, managed, "the VMs ppg-dr manages")
    if found is not None:
        return vm_ref(found)
    if not managed_only:
        found = _pick(text, watched_vms(ctx), "the VMs ppg-dr watches")
        if found is not None:
            return vm_ref(found)
    scope = "the VMs ppg-dr manages" if managed_only else "the VMs ppg-dr manages or watches"
    raise VmLookupError(f"no VM named {text!r} among {scope}: `ppgdr status` lists them (or give the resource id)")
