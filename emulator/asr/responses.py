"""Site Recovery ARM routes: parse the request, call :class:`~emulator.asr.models.AsrBackend`, shape the answer.

Long-running writes answer like the recorded A2A enable: ``202`` with ``Azure-AsyncOperation``
(``{vault}/replicationOperationStatus/{job}``), ``Location`` (``{resource}/operationresults/{job}``),
``Retry-After`` and ``x-ms-request-id`` (the job id). The SDK polls the status URL until the job is
done, then GETs the resource (PUT/PATCH) or the ``Location`` URL (POST actions).

Admin routes under ``/_emulator/asr`` (:func:`build_admin_router`, included by the admin API) seed what
the ARM API cannot create here (VMware/Hyper-V items
whose enablement needs on-premises appliances, 10,000 items for listing at scale, optionally protecting
given VMs into given recovery PPGs) and tune timings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from emulator.asr.models import AsrBackend, BulkItemSpec, Job, ProtectedItem, Vault
from emulator.errors import ArmError
from emulator.routing import ArmRequest, ArmResponse, LazyBodies, Router, page

if TYPE_CHECKING:
    from emulator.state import Emulator

API_VERSION = "2025-08-01"
ADMIN = "/_emulator/asr"

V = "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.RecoveryServices/vaults/{vault}"
F = V + "/replicationFabrics/{fabric}"
C = F + "/replicationProtectionContainers/{container}"
M = C + "/replicationProtectionContainerMappings/{mapping}"
I = C + "/replicationProtectedItems/{item}"  # noqa: E741
N = F + "/replicationNetworks/{network}"
NM = N + "/replicationNetworkMappings/{network_mapping}"
P = V + "/replicationPolicies/{policy}"
RP = V + "/replicationRecoveryPlans/{plan}"


def build_router(emulator: Emulator) -> Router:
    router = Router()

    def asr() -> AsrBackend:
        backend = emulator.asr
        if not isinstance(backend, AsrBackend):
            raise ArmError(503, "ServiceUnavailable", "The Site Recovery emulator is not available.")
        return backend

    def vault(req: ArmRequest) -> Vault:
        p = req.params
        return asr().vault(p["subscription"], p["resource_group"], p["vault"])

    def body(req: ArmRequest) -> dict[str, Any]:
        return {} if req.body is None else req.json_body()

    def accepted(req: ArmRequest, job: Job, resource_path: str) -> ArmResponse:
        api = req.api_version or API_VERSION
        headers = {
            "Azure-AsyncOperation": req.url(f"{job.vault.id}/replicationOperationStatus/{job.id}", **{"api-version": api}),
            "Location": req.url(f"{resource_path}/operationresults/{job.id}", **{"api-version": api}),
            "Retry-After": retry_after(asr(), job),
            "x-ms-request-id": job.arm_id,
        }
        return ArmResponse(202, None, headers)

    def action_path(req: ArmRequest) -> str:
        """The resource a POST action acts on (the request path without its last segment)."""
        return req.path.rstrip("/").rsplit("/", 1)[0]

    def listing(req: ArmRequest, objects: Sequence[Any], render: Callable[[Any], dict[str, Any] | None]) -> ArmResponse:
        return page(req, LazyBodies(objects, render), asr().page_size)

    # ------------------------------------------------------------------ vaults (minimal)
    @router.route("PUT", V)
    def put_vault(req: ArmRequest) -> ArmResponse:
        p = req.params
        backend = asr()
        backend.tick()
        existed = any(
            v.name.lower() == p["vault"].lower()
            and v.resource_group.lower() == p["resource_group"].lower()
            and v.subscription.lower() == p["subscription"].lower()
            for v in backend.vaults()
        )
        created = backend.put_vault(p["subscription"], p["resource_group"], p["vault"], body(req))
        return ArmResponse(200 if existed else 201, vault_body(created))

    @router.route("GET", V)
    def get_vault(req: ArmRequest) -> ArmResponse:
        return ArmResponse(200, vault_body(vault(req)))

    @router.route("DELETE", V)
    def delete_vault(req: ArmRequest) -> ArmResponse:
        p = req.params
        vault(req)
        asr().delete_vault(p["subscription"], p["resource_group"], p["vault"])
        return ArmResponse(200)

    # ------------------------------------------------------------------ operation status / results
    @router.route("GET", V + "/replicationOperationStatus/{job}")
    def operation_status(req: ArmRequest) -> ArmResponse:
        job = asr().get_job(vault(req), req.params["job"])
        headers = {} if job.op.done else {"Retry-After": retry_after(asr(), job)}
        headers["x-ms-request-id"] = job.arm_id
        return ArmResponse(200, asr().operation_status_body(job), headers)

    def operation_result(req: ArmRequest) -> ArmResponse:
        backend = asr()
        job = backend.get_job(vault(req), req.params["job"])
        if not job.op.done:
            return ArmResponse(
                202, None, {"Location": req.url(req.path, **dict(req.query)), "Retry-After": retry_after(backend, job)}
            )
        if job.op.error is not None:
            return ArmResponse(job.op.error.status, job.op.error.body())
        result = job.result() if job.result is not None else None
        return ArmResponse(200, result) if result is not None else ArmResponse(204)

    for template in (V, F, C, M, I, N, NM, P, RP):
        router.add("GET", template + "/operationresults/{job}", operation_result)

    # ------------------------------------------------------------------ fabrics
    @router.route("GET", V + "/replicationFabrics")
    def list_fabrics(req: ArmRequest) -> ArmResponse:
        v = vault(req)
        return listing(req, list(v.fabrics.values()), lambda f: asr().fabric_body(v, f))

    @router.route("GET", F)
    def get_fabric(req: ArmRequest) -> ArmResponse:
        v = vault(req)
        return ArmResponse(200, asr().fabric_body(v, asr().fabric(v, req.params["fabric"])))

    @router.route("PUT", F)
    def create_fabric(req: ArmRequest) -> ArmResponse:
        return accepted(req, asr().create_fabric(vault(req), req.params["fabric"], body(req)), req.path)

    @router.route("POST", F + "/remove")
    def delete_fabric(req: ArmRequest) -> ArmResponse:
        return accepted(req, asr().delete_fabric(vault(req), req.params["fabric"]), action_path(req))

    @router.route("DELETE", F)
    def purge_fabric(req: ArmRequest) -> ArmResponse:
        return accepted(req, asr().delete_fabric(vault(req), req.params["fabric"]), req.path)

    # ------------------------------------------------------------------ protection containers
    @router.route("GET", V + "/replicationProtectionContainers")
    def list_containers(req: ArmRequest) -> ArmResponse:
        v = vault(req)
        return listing(req, asr().containers(v), lambda c: asr().container_body(v, c))

    @router.route("GET", F + "/replicationProtectionContainers")
    def list_containers_by_fabric(req: ArmRequest) -> ArmResponse:
        v = vault(req)
        return listing(req, asr().containers(v, req.params["fabric"]), lambda c: asr().container_body(v, c))

    @router.route("GET", C)
    def get_container(req: ArmRequest) -> ArmResponse:
        v, p = vault(req), req.params
        return ArmResponse(200, asr().container_body(v, asr().container(v, p["fabric"], p["container"])))

    @router.route("PUT", C)
    def create_container(req: ArmRequest) -> ArmResponse:
        p = req.params
        return accepted(req, asr().create_container(vault(req), p["fabric"], p["container"], body(req)), req.path)

    @router.route("POST", C + "/remove")
    def delete_container(req: ArmRequest) -> ArmResponse:
        p = req.params
        return accepted(req, asr().delete_container(vault(req), p["fabric"], p["container"]), action_path(req))

    @router.route("POST", C + "/switchprotection")
    def switch_protection(req: ArmRequest) -> ArmResponse:
        p = req.params
        return accepted(req, asr().switch_protection(vault(req), p["fabric"], p["container"], body(req)), action_path(req))

    # ------------------------------------------------------------------ container mappings
    @router.route("GET", V + "/replicationProtectionContainerMappings")
    def list_mappings(req: ArmRequest) -> ArmResponse:
        v = vault(req)
        return listing(req, asr().mappings(v), lambda m: asr().mapping_body(v, m))

    @router.route("GET", C + "/replicationProtectionContainerMappings")
    def list_mappings_by_container(req: ArmRequest) -> ArmResponse:
        v, p = vault(req), req.params
        return listing(req, asr().mappings(v, p["fabric"], p["container"]), lambda m: asr().mapping_body(v, m))

    @router.route("GET", M)
    def get_mapping(req: ArmRequest) -> ArmResponse:
        v, p = vault(req), req.params
        return ArmResponse(200, asr().mapping_body(v, asr().mapping(v, p["fabric"], p["container"], p["mapping"])))

    @router.route("PUT", M)
    def create_mapping(req: ArmRequest) -> ArmResponse:
        p = req.params
        job = asr().create_mapping(vault(req), p["fabric"], p["container"], p["mapping"], body(req))
        return accepted(req, job, req.path)

    @router.route("POST", M + "/remove")
    def delete_mapping(req: ArmRequest) -> ArmResponse:
        p = req.params
        return accepted(req, asr().delete_mapping(vault(req), p["fabric"], p["container"], p["mapping"]), action_path(req))

    @router.route("DELETE", M)
    def purge_mapping(req: ArmRequest) -> ArmResponse:
        p = req.params
        return accepted(req, asr().delete_mapping(vault(req), p["fabric"], p["container"], p["mapping"]), req.path)

    # ------------------------------------------------------------------ policies
    @router.route("GET", V + "/replicationPolicies")
    def list_policies(req: ArmRequest) -> ArmResponse:
        v = vault(req)
        return listing(req, list(v.policies.values()), lambda pol: asr().policy_body(v, pol))

    @router.route("GET", P)
    def get_policy(req: ArmRequest) -> ArmResponse:
        v = vault(req)
        return ArmResponse(200, asr().policy_body(v, asr().policy(v, req.params["policy"])))

    @router.route("PUT", P)
    def create_policy(req: ArmRequest) -> ArmResponse:
        return accepted(req, asr().create_policy(vault(req), req.params["policy"], body(req)), req.path)

    @router.route("PATCH", P)
    def update_policy(req: ArmRequest) -> ArmResponse:
        return accepted(req, asr().update_policy(vault(req), req.params["policy"], body(req)), req.path)

    @router.route("DELETE", P)
    def delete_policy(req: ArmRequest) -> ArmResponse:
        return accepted(req, asr().delete_policy(vault(req), req.params["policy"]), req.path)

    # ------------------------------------------------------------------ networks and network mappings
    @router.route("GET", V + "/replicationNetworks")
    def list_networks(req: ArmRequest) -> ArmResponse:
        v = vault(req)
        return listing(req, asr().networks(v), lambda n: asr().network_body(v, n))

    @router.route("GET", F + "/replicationNetworks")
    def list_networks_by_fabric(req: ArmRequest) -> ArmResponse:
        v = vault(req)
        asr().fabric(v, req.params["fabric"])
        return listing(req, asr().networks(v, req.params["fabric"]), lambda n: asr().network_body(v, n))

    @router.route("GET", N)
    def get_network(req: ArmRequest) -> ArmResponse:
        v, p = vault(req), req.params
        return ArmResponse(200, asr().network_body(v, asr().network(v, p["fabric"], p["network"])))

    @router.route("GET", V + "/replicationNetworkMappings")
    def list_network_mappings(req: ArmRequest) -> ArmResponse:
        v = vault(req)
        return listing(req, asr().network_mappings(v), lambda m: asr().network_mapping_body(v, m))

    @router.route("GET", N + "/replicationNetworkMappings")
    def list_network_mappings_by_network(req: ArmRequest) -> ArmResponse:
        v, p = vault(req), req.params
        return listing(req, asr().network_mappings(v, p["fabric"], p["network"]), lambda m: asr().network_mapping_body(v, m))

    @router.route("GET", NM)
    def get_network_mapping(req: ArmRequest) -> ArmResponse:
        v, p = vault(req), req.params
        mapping = asr().network_mapping(v, p["fabric"], p["network"], p["network_mapping"])
        return ArmResponse(200, asr().network_mapping_body(v, mapping))

    @router.route("PUT", NM)
    def create_network_mapping(req: ArmRequest) -> ArmResponse:
        p = req.params
        job = asr().create_network_mapping(vault(req), p["fabric"], p["network"], p["network_mapping"], body(req))
        return accepted(req, job, req.path)

    @router.route("PATCH", NM)
    def update_network_mapping(req: ArmRequest) -> ArmResponse:
        p = req.params
        job = asr().create_network_mapping(vault(req), p["fabric"], p["network"], p["network_mapping"], body(req))
        return accepted(req, job, req.path)

    @router.route("DELETE", NM)
    def delete_network_mapping(req: ArmRequest) -> ArmResponse:
        p = req.params
        job = asr().delete_network_mapping(vault(req), p["fabric"], p["network"], p["network_mapping"])
        return accepted(req, job, req.path)

    # ------------------------------------------------------------------ replication protected items
    def item_body(item: ProtectedItem) -> dict[str, Any]:
        return asr().item_body(item)

    @router.route("GET", V + "/replicationProtectedItems")
    def list_items(req: ArmRequest) -> ArmResponse:
        return listing(req, asr().items(vault(req), req.query.get("$filter")), item_body)

    @router.route("GET", C + "/replicationProtectedItems")
    def list_items_by_container(req: ArmRequest) -> ArmResponse:
        p = req.params
        return listing(req, asr().items_in_container(vault(req), p["fabric"], p["container"]), item_body)

    @router.route("GET", I)
    def get_item(req: ArmRequest) -> ArmResponse:
        p = req.params
        return ArmResponse(200, item_body(asr().item(vault(req), p["fabric"], p["container"], p["item"])))

    @router.route("PUT", I)
    def create_item(req: ArmRequest) -> ArmResponse:
        p = req.params
        v = vault(req)
        job = asr().create_item(v, p["fabric"], p["container"], p["item"], body(req))
        if job is None:
            return ArmResponse(200, item_body(asr().item(v, p["fabric"], p["container"], p["item"])))
        return accepted(req, job, req.path)

    @router.route("PATCH", I)
    def update_item(req: ArmRequest) -> ArmResponse:
        p = req.params
        return accepted(req, asr().update_item(vault(req), p["fabric"], p["container"], p["item"], body(req)), req.path)

    @router.route("DELETE", I)
    def purge_item(req: ArmRequest) -> ArmResponse:
        p = req.params
        return accepted(req, asr().purge(vault(req), p["fabric"], p["container"], p["item"]), req.path)

    def item_action(name: str, call: Callable[[AsrBackend, Vault, str, str, str, dict[str, Any]], Job]) -> None:
        def handler(req: ArmRequest) -> ArmResponse:
            p = req.params
            job = call(asr(), vault(req), p["fabric"], p["container"], p["item"], body(req))
            return accepted(req, job, action_path(req))

        router.add("POST", f"{I}/{name}", handler)

    item_action("remove", lambda b, v, f, c, i, x: b.disable(v, f, c, i, x))
    item_action("unplannedFailover", lambda b, v, f, c, i, x: b.unplanned_failover(v, f, c, i, x))
    item_action("plannedFailover", lambda b, v, f, c, i, x: b.planned_failover(v, f, c, i, x))
    item_action("failoverCommit", lambda b, v, f, c, i, x: b.failover_commit(v, f, c, i))
    item_action("reProtect", lambda b, v, f, c, i, x: b.reprotect(v, f, c, i, x))
    item_action("testFailover", lambda b, v, f, c, i, x: b.test_failover(v, f, c, i, x))
    item_action("testFailoverCleanup", lambda b, v, f, c, i, x: b.test_failover_cleanup(v, f, c, i, x))

    # ------------------------------------------------------------------ recovery points
    @router.route("GET", I + "/recoveryPoints")
    def list_recovery_points(req: ArmRequest) -> ArmResponse:
        p = req.params
        item = asr().item(vault(req), p["fabric"], p["container"], p["item"])
        return page(req, asr().recovery_points(item), asr().page_size)

    @router.route("GET", I + "/recoveryPoints/{point}")
    def get_recovery_point(req: ArmRequest) -> ArmResponse:
        p = req.params
        item = asr().item(vault(req), p["fabric"], p["container"], p["item"])
        return ArmResponse(200, asr().recovery_point(item, p["point"]))

    # ------------------------------------------------------------------ jobs
    @router.route("GET", V + "/replicationJobs")
    def list_jobs(req: ArmRequest) -> ArmResponse:
        return listing(req, asr().list_jobs(vault(req), req.query.get("$filter")), asr().job_body)

    @router.route("GET", V + "/replicationJobs/{job}")
    def get_job(req: ArmRequest) -> ArmResponse:
        return ArmResponse(200, asr().job_body(asr().get_job(vault(req), req.params["job"])))

    # ------------------------------------------------------------------ recovery plans
    def plan_body(plan: Any) -> dict[str, Any] | None:
        return asr().plan_body(plan)

    @router.route("GET", V + "/replicationRecoveryPlans")
    def list_plans(req: ArmRequest) -> ArmResponse:
        return listing(req, asr().plans(vault(req)), plan_body)

    @router.route("GET", RP)
    def get_plan(req: ArmRequest) -> ArmResponse:
        return ArmResponse(200, plan_body(asr().plan(vault(req), req.params["plan"])))

    @router.route("PUT", RP)
    def create_plan(req: ArmRequest) -> ArmResponse:
        return accepted(req, asr().create_plan(vault(req), req.params["plan"], body(req)), req.path)

    @router.route("PATCH", RP)
    def update_plan(req: ArmRequest) -> ArmResponse:
        return accepted(req, asr().update_plan(vault(req), req.params["plan"], body(req)), req.path)

    @router.route("DELETE", RP)
    def delete_plan(req: ArmRequest) -> ArmResponse:
        return accepted(req, asr().delete_plan(vault(req), req.params["plan"]), req.path)

    def plan_action(name: str, call: Callable[[AsrBackend, Vault, str, dict[str, Any]], Job]) -> None:
        def handler(req: ArmRequest) -> ArmResponse:
            job = call(asr(), vault(req), req.params["plan"], body(req))
            return accepted(req, job, action_path(req))

        router.add("POST", f"{RP}/{name}", handler)

    plan_action("unplannedFailover", lambda b, v, n, x: b.plan_unplanned_failover(v, n, x))
    plan_action("plannedFailover", lambda b, v, n, x: b.plan_planned_failover(v, n, x))
    plan_action("failoverCommit", lambda b, v, n, x: b.plan_commit(v, n))
    plan_action("reProtect", lambda b, v, n, x: b.plan_reprotect(v, n))
    plan_action("testFailover", lambda b, v, n, x: b.plan_test_failover(v, n, x))
    plan_action("testFailoverCleanup", lambda b, v, n, x: b.plan_test_failover_cleanup(v, n, x))

    return router


def build_admin_router(emulator: Emulator) -> Router:
    """The ``/_emulator/asr/...`` admin routes (served by the admin API, outside the ARM namespace)."""
    router = Router()

    def asr() -> AsrBackend:
        backend = emulator.asr
        if not isinstance(backend, AsrBackend):
            raise ArmError(503, "ServiceUnavailable", "The Site Recovery emulator is not available.")
        return backend

    _add_admin_routes(router, asr)
    return router


def retry_after(backend: AsrBackend, job: Job) -> str:
    """``Retry-After`` in real seconds until the job is due (``0`` when done or when tests set it to 0).

    Real ASR says 30; a fixed 30 would make the SDK sleep 30 real seconds even when a test advances
    the clock, so the emulator derives it from the clock (as Compute does) unless the admin API fixes it.
    """
    if backend.retry_after_s is not None:
        return str(backend.retry_after_s)
    remaining = (job.op.due - backend.clock.now()).total_seconds()
    if job.op.done or remaining <= 0:
        return "0"
    if backend.clock.speed <= 0:
        return "10"
    return str(min(30, math.ceil(remaining / backend.clock.speed)))


def vault_body(v: Vault) -> dict[str, Any]:
    return {
        "id": v.id.replace("/Subscriptions/", "/subscriptions/", 1),
        "name": v.name,
        "type": "Microsoft.RecoveryServices/vaults",
        "location": v.location,
        "tags": dict(v.tags),
        "sku": {"name": "RS0", "tier": "Standard"},
        "properties": {"provisioningState": "Succeeded", "publicNetworkAccess": "Enabled"},
    }


# ---------------------------------------------------------------------- admin


def _add_admin_routes(router: Router, asr: Callable[[], AsrBackend]) -> None:
    def body(req: ArmRequest) -> dict[str, Any]:
        return {} if req.body is None else req.json_body()

    def vault_of(data: dict[str, Any], *, create: bool = False) -> Vault:
        sub, rg, name = data.get("subscriptionId"), data.get("resourceGroup"), data.get("vault")
        if not (isinstance(sub, str) and isinstance(rg, str) and isinstance(name, str)):
            raise ArmError(400, "InvalidParameter", "subscriptionId, resourceGroup and vault are required.")
        if create:
            asr().put_vault(sub, rg, name, {"location": data.get("location") or "westeurope"})
        return asr().vault(sub, rg, name)

    def settings_body() -> dict[str, Any]:
        backend = asr()
        return {"retryAfterSeconds": backend.retry_after_s, "pageSize": backend.page_size, "timings": backend.timings.as_dict()}

    @router.route("GET", ADMIN + "/settings")
    def get_settings(req: ArmRequest) -> ArmResponse:
        return ArmResponse(200, settings_body())

    @router.route("POST", ADMIN + "/settings")
    def set_settings(req: ArmRequest) -> ArmResponse:
        data = body(req)
        backend = asr()
        if "retryAfterSeconds" in data:
            value = data["retryAfterSeconds"]
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ArmError(400, "InvalidParameter", "retryAfterSeconds must be null or an integer >= 0.")
            backend.retry_after_s = value
        if "pageSize" in data:
            size = data["pageSize"]
            if not isinstance(size, int) or size < 1:
                raise ArmError(400, "InvalidParameter", "pageSize must be an integer >= 1.")
            backend.page_size = size
        backend.timings.update(dict(data.get("timings") or {}))
        return ArmResponse(200, settings_body())

    @router.route("POST", ADMIN + "/topology")
    def topology(req: ArmRequest) -> ArmResponse:
        """Vault + two Azure fabrics/containers + an A2A policy + container mappings both ways (+ network mapping)."""
        data = body(req)
        return ArmResponse(200, asr().setup_topology(vault_of(data, create=True), data))

    @router.route("POST", ADMIN + "/items")
    def seed_item(req: ArmRequest) -> ArmResponse:
        data = body(req)
        backend = asr()
        return ArmResponse(201, backend.item_body(backend.seed_item(vault_of(data, create=True), data)))

    @router.route("POST", ADMIN + "/items/bulk")
    def bulk_items(req: ArmRequest) -> ArmResponse:
        data = body(req)
        backend = asr()
        v = vault_of(data, create=True)
        specs = _bulk_specs(data.get("items"))
        count = len(specs) if specs is not None else data.get("count")
        if not isinstance(count, int):
            raise ArmError(400, "InvalidParameter", "count must be an integer.")
        added = backend.bulk_seed(
            v,
            count=count,
            fabric=str(data.get("fabric") or "bulk-primary"),
            container=str(data.get("container") or "bulk-primary-container"),
            recovery_fabric=str(data.get("recoveryFabric") or "bulk-recovery"),
            recovery_container=str(data.get("recoveryContainer") or "bulk-recovery-container"),
            prefix=str(data.get("prefix") or "bulk"),
            location=str(data.get("location") or "westeurope"),
            recovery_location=str(data.get("recoveryLocation") or "northeurope"),
            resource_group=str(data.get("vmResourceGroup") or "bulk-rg"),
            specs=specs,
        )
        return ArmResponse(200, {"added": added, "total": len(v.items)})

    @router.route("POST", ADMIN + "/items/health")
    def item_health(req: ArmRequest) -> ArmResponse:
        """Set an item's replication health (and health errors) to drive health-based decisions."""
        data = body(req)
        backend = asr()
        item = backend.item_by_id(vault_of(data), str(data.get("itemId") or ""))
        if item is None:
            raise ArmError(404, "NotFound", f"Replicated item '{data.get('itemId')}' was not found.")
        health = data.get("replicationHealth")
        if health not in ("Normal", "Warning", "Critical"):
            raise ArmError(400, "InvalidParameter", "replicationHealth must be Normal, Warning or Critical.")
        item.replication_health = str(health)
        item.health_errors = list(data.get("healthErrors") or [])
        return ArmResponse(200, backend.item_body(item))


def _bulk_specs(raw: Any) -> list[BulkItemSpec] | None:
    """``items`` of a bulk seed: ``[{sourceVmId, name?, recoveryProximityPlacementGroupId?, recoveryResourceGroupId?}]``."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ArmError(400, "InvalidParameter", "items must be a list of objects.")
    specs: list[BulkItemSpec] = []
    for index, entry in enumerate(raw):
        vm_id = entry.get("sourceVmId") if isinstance(entry, dict) else None
        if not isinstance(vm_id, str) or not vm_id.strip("/"):
            raise ArmError(400, "InvalidParameter", f"items[{index}].sourceVmId (a VM resource id) is required.")
        optional = {key: entry.get(key) for key in ("name", "recoveryProximityPlacementGroupId", "recoveryResourceGroupId")}
        for key, value in optional.items():
            if value is not None and (not isinstance(value, str) or not value):
                raise ArmError(400, "InvalidParameter", f"items[{index}].{key} must be a non-empty string.")
        specs.append(
            BulkItemSpec(
                source_vm_id=vm_id,
                name=optional["name"],
                recovery_ppg_id=optional["recoveryProximityPlacementGroupId"],
                recovery_rg_id=optional["recoveryResourceGroupId"],
            )
        )
    return specs
