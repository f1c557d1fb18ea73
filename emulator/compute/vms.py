"""Virtual machines as stored, and as ARM shows them: the VM body, its instance view, lists."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from emulator.arm import key
from emulator.clock import iso
from emulator.compute.core import ComputeCore
from emulator.errors import ArmError
from emulator.operations import FAILED, Operation
from emulator.routing import LazyBodies

VM_TYPE = "Microsoft.Compute/virtualMachines"
_POWER_DISPLAY = {
    "running": "VM running",
    "deallocated": "VM deallocated",
    "stopped": "VM stopped",
    "starting": "VM starting",
    "stopping": "VM stopping",
    "deallocating": "VM deallocating",
}


@dataclass
class Vm:
    """One VM: its ARM body (without computed state) plus the state Azure reports separately."""

    body: dict[str, Any]
    subscription: str
    resource_group: str
    power: str = "running"
    provisioning: str = "Succeeded"
    etag: int = 1
    pending: Operation | None = None
    failure: ArmError | None = None
    placement_fallback: dict[str, Any] | None = None
    disk_ids: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.body["id"])

    @property
    def props(self) -> dict[str, Any]:
        props: dict[str, Any] = self.body["properties"]
        return props

    def ref(self, name: str) -> str | None:
        ref = self.props.get(name)
        return str(ref["id"]) if isinstance(ref, dict) and ref.get("id") else None


class VmViewsMixin(ComputeCore):
    """VM reads: the rendered body (computed provisioning state, etag) and the instance view."""

    def get_vm(self, subscription: str, resource_group: str, name: str, *, instance_view: bool = False) -> dict[str, Any]:
        """The VM as ARM returns it; raises a 404 ``ArmError`` when missing."""
        return self.render_vm(self._vm(subscription, resource_group, name), instance_view=instance_view)

    def vm_exists(self, subscription: str, resource_group: str, name: str) -> bool:
        return key(self._vm_id(subscription, resource_group, name)) in self.vms

    def vm_location(self, subscription: str, resource_group: str, name: str) -> str | None:
        vm = self.vms.get(key(self._vm_id(subscription, resource_group, name)))
        return str(vm.body["location"]) if vm else None

    def instance_view(self, subscription: str, resource_group: str, name: str) -> dict[str, Any]:
        return self._instance_view(self._vm(subscription, resource_group, name))

    def vm_placement(self, vm_id: str) -> dict[str, Any] | None:
        """Where the VM landed relative to what was asked (the fallback record), or None."""
        vm = self.vms.get(key(vm_id))
        return copy.deepcopy(vm.placement_fallback) if vm and vm.placement_fallback else None

    def list_vms(
        self, subscription: str, resource_group: str | None = None, *, instance_view: bool = False
    ) -> Sequence[dict[str, Any]]:
        """VMs of a subscription (or one resource group), rendered lazily for paging."""
        sub = subscription.lower()
        rg = resource_group.lower() if resource_group else None
        chosen = [
            vm for vm in self.vms.values() if vm.subscription.lower() == sub and (rg is None or vm.resource_group.lower() == rg)
        ]
        return LazyBodies(chosen, lambda vm: self.render_vm(vm, instance_view=instance_view))

    def render_vm(self, vm: Vm, *, instance_view: bool = False) -> dict[str, Any]:
        body = copy.deepcopy(vm.body)
        body["etag"] = f'"{vm.etag}"'
        props = body["properties"]
        props["provisioningState"] = self._provisioning(vm)
        if instance_view:
            props["instanceView"] = self._instance_view(vm)
        return body

    def _provisioning(self, vm: Vm) -> str:
        if vm.pending is not None and vm.pending.status == FAILED:
            return "Failed"
        return vm.provisioning

    def _instance_view(self, vm: Vm) -> dict[str, Any]:
        now = iso(self.clock.now())
        provisioning = self._provisioning(vm)
        if provisioning == "Failed" and vm.failure is not None:
            prov_status = {
                "code": f"ProvisioningState/failed/{vm.failure.code}",
                "level": "Error",
                "displayStatus": "Provisioning failed",
                "message": vm.failure.message,
                "time": now,
            }
        else:
            prov_status = {
                "code": f"ProvisioningState/{provisioning.lower()}",
                "level": "Info",
                "displayStatus": f"Provisioning {provisioning.lower()}" if provisioning == "Succeeded" else provisioning,
                "time": now,
            }
        storage = vm.props.get("storageProfile") or {}
        disks = [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]
        windows = vm_os_type(vm.props) == "Windows"
        view: dict[str, Any] = {
            "platformUpdateDomain": 0,
            "platformFaultDomain": 0,
            "computerName": (vm.props.get("osProfile") or {}).get("computerName", vm.body["name"]),
            "osName": "Windows Server 2022 Datacenter" if windows else "ubuntu",
            "osVersion": "Microsoft Windows NT 10.0.20348.0" if windows else "22.04",
            "vmAgent": {
                "vmAgentVersion": "2.7.41491.1102",
                "statuses": [
                    {
                        "code": "ProvisioningState/succeeded",
                        "level": "Info",
                        "displayStatus": "Ready",
                        "message": "GuestAgent is running and accepting new configurations.",
                        "time": now,
                    }
                ],
                "extensionHandlers": [],
            },
            "disks": [
                {
                    "name": d.get("name", ""),
                    "statuses": [
                        {
                            "code": "ProvisioningState/succeeded",
                            "level": "Info",
                            "displayStatus": "Provisioning succeeded",
                            "time": now,
                        }
                    ],
                }
                for d in disks
            ],
            "extensions": [],
            "hyperVGeneration": "V1",
            "isVMInStandbyPool": False,
            "statuses": [
                prov_status,
                {"code": f"PowerState/{vm.power}", "level": "Info", "displayStatus": _POWER_DISPLAY.get(vm.power, vm.power)},
            ],
        }
        boot = (vm.props.get("diagnosticsProfile") or {}).get("bootDiagnostics") or {}
        if boot.get("enabled"):
            base = (boot.get("storageUri") or "https://bootdiag.blob.core.windows.net/").rstrip("/")
            view["bootDiagnostics"] = {
                "consoleScreenshotBlobUri": f"{base}/bootdiagnostics-{vm.body['name']}/{vm.body['name']}.screenshot.bmp",
                "serialConsoleLogBlobUri": f"{base}/bootdiagnostics-{vm.body['name']}/{vm.body['name']}.serialconsole.log",
            }
        return view


def vm_os_type(props: dict[str, Any]) -> str:
    storage = props.get("storageProfile") or {}
    declared = (storage.get("osDisk") or {}).get("osType")
    if declared:
        return str(declared)
    publisher = ((storage.get("imageReference") or {}).get("publisher") or "").lower()
    os_profile = props.get("osProfile") or {}
    if "windows" in publisher or "windowsConfiguration" in os_profile:
        return "Windows"
    return "Linux"
