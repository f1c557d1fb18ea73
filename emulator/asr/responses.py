"""Site Recovery ARM routes: parse the request, call :class:`~emulator.asr.models.AsrBackend`, shape the answer.

Long-running writes answer like the recorded A2A enable: ``202`` with ``Azure-AsyncOperation``
(``{vault}/replicationOperationStatus/{job}``), ``Location`` (``{resource}/operationresults/{job}``),
``Retry-After`` and ``x-ms-request-id`` (the job id). The SDK polls the status URL until the job is
done, then GETs the resource (PUT/PATCH) or the ``Location`` URL (POST actions).

Resource types whose routes differ only by the backend calls are rows of :data:`RESOURCES` (GET,
lists, PUT/PATCH/DELETE and POST ``remove`` as jobs); what really differs stays explicit below the
table: vaults (synchronous), the item PUT (idempotent ``200`` for the same VM), the vault-wide item and
job lists (``$filter``), switch protection, recovery points, and the item and plan actions.

Admin routes under ``/_emulator/asr`` (:func:`build_admin_router`, included by the admin API) seed what
the ARM API cannot create here (VMware/Hyper-V items
whose enablement needs on-premises appliances, 10,000 items for listing at scale, optionally protecting
given VMs into given recovery PPGs) and tune timings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from emulator.asr.models import AsrBackend, BulkItemSpec, Job, Vault
from emulator.errors import ArmError
from emulator.routing import ArmRequest, ArmResponse, Handler, LazyBodies, Router, page
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

#: Renders one object of a resource type: ``(backend, vault, object) -> body`` (None: gone, skipped in lists).
Render = Callable[[AsrBackend, Vault, Any], dict[str, Any] | None]


def _names(template: str) -> list[str]:
    """The path parameters below the vault, in order: the arguments the backend takes after the vault."""
    return re.findall(r"\{(\w+)\}", template.removeprefix(V))


@dataclass(frozen=True)
class Resource:
    """One ASR resource type. Backend calls are unbound ``AsrBackend`` methods taking ``(vault, *names)``
    (``*names`` of ``path``), plus the request body for ``put`` / ``patch``; each returns the object or the job.
    """

    path: str
    get: Callable[..., Any]
    render: Render
    #: Lists the objects under a parent: ``(vault, *names of the parent)``.
    list: Callable[..., Sequence[Any]]
    #: The parents whose collection route (``{parent}/{collection}``) lists this type.
    list_under: tuple[str, ...] = (V,)
    put: Callable[..., Job] | None = None
    patch: Callable[..., Job] | None = None
    delete: Callable[..., Job] | None = None
    #: ``POST {path}/remove``.
    remove: Callable[..., Job] | None = None

    @property
    def collection(self) -> str:
        return self.path.rsplit("/", 2)[-2]


def _render_item(backend: AsrBackend, vault: Vault, item: Any) -> dict[str, Any]:
    return backend.item_body(item)


def _render_plan(backend: AsrBackend, vault: Vault, plan: Any) -> dict[str, Any] | None:
    return backend.plan_body(plan)


RESOURCES: tuple[Resource, ...] = (
    Resource(
        F,
        get=AsrBackend.fabric,
        render=AsrBackend.fabric_body,
        list=AsrBackend.fabrics,
        put=AsrBackend.create_fabric,
        delete=AsrBackend.delete_fabric,
        remove=AsrBackend.delete_fabric,
    ),
    Resource(
        C,
        get=AsrBackend.container,
        render=AsrBackend.container_body,
        list=AsrBackend.containers,
        list_under=(V, F),
        put=AsrBackend.create_container,
        remove=AsrBackend.delete_container,
    ),
    Resource(
        M,
        get=AsrBackend.mapping,
        render=AsrBackend.mapping_body,
        list=AsrBackend.mappings,
        list_under=(V, C),
        put=AsrBackend.create_mapping,
        delete=AsrBackend.delete_mapping,
        remove=AsrBackend.delete_mapping,
    ),
    Resource(
        P,
        get=AsrBackend.policy,
        render=AsrBackend.policy_body,
        list=AsrBackend.policies,
        put=AsrBackend.create_policy,
        patch=AsrBackend.update_policy,
        delete=AsrBackend.delete_policy,
    ),
    Resource(N, get=AsrBackend.network, render=AsrBackend.network_body, list=AsrBackend.networks, list_under=(V, F)),
    Resource(
        NM,
        get=AsrBackend.network_mapping,
        render=AsrBackend.network_mapping_body,
        list=AsrBackend.network_mappings,
        list_under=(V, N),
        put=AsrBackend.create_network_mapping,
        patch=AsrBackend.create_network_mapping,  # a PATCH replaces the mapping, as a PUT does
        delete=AsrBackend.delete_network_mapping,
    ),
    # Items: the PUT (enable) and the vault-wide list ($filter) are explicit routes.
    Resource(
        I,
        get=AsrBackend.item,
        render=_render_item,
        list=AsrBackend.items_in_container,
        list_under=(C,),
        patch=AsrBackend.update_item,
        delete=AsrBackend.purge,
    ),
    Resource(
        RP,
        get=AsrBackend.plan,
        render=_render_plan,
        list=AsrBackend.plans,
        put=AsrBackend.create_plan,
        patch=AsrBackend.update_plan,
        delete=AsrBackend.delete_plan,
    ),
)

ItemAction = Callable[[AsrBackend, Vault, str, str, str, dict[str, Any]], Job]
#: ``POST {item}/{action}``: the body is the action's input; ``Location`` is the item's operation result.
ITEM_ACTIONS: dict[str, ItemAction] = {
    "remove": lambda b, v, f, c, i, x: b.disable(v, f, c, i, x),
    "unplannedFailover": lambda b, v, f, c, i, x: b.unplanned_failover(v, f, c, i, x),
    "plannedFailover": lambda b, v, f, c, i, x: b.planned_failover(v, f, c, i, x),
    "failoverCommit": lambda b, v, f, c, i, x: b.failover_commit(v, f, c, i),
    "reProtect": lambda b, v, f, c, i, x: b.reprotect(v, f, c, i, x),
    "testFailover": lambda b, v, f, c, i, x: b.test_failover(v, f, c, i, x),
    "testFailoverCleanup": lambda b, v, f, c, i, x: b.test_failover_cleanup(v, f, c, i, x),
}

PlanAction = Callable[[AsrBackend, Vault, str, dict[str, Any]], Job]
#: ``POST {plan}/{action}``.
PLAN_ACTIONS: dict[str, PlanAction] = {
    "unplannedFailover": lambda b, v, n, x: b.plan_unplanned_failover(v, n, x),
    "plannedFailover": lambda b, v, n, x: b.plan_planned_failover(v, n, x),
    "failoverCommit": lambda b, v, n, x: b.plan_commit(v, n),
    "reProtect": lambda b, v, n, x: b.plan_reprotect(v, n),
    "testFailover": lambda b, v, n, x: b.plan_test_failover(v, n, x),
    "testFailoverCleanup": lambda b, v, n, x: b.plan_test_failover_cleanup(v, n, x),
}


def build_router(emulator: Emulator) -> Router:
    router = Router()

    def asr() -> AsrBackend:
        return emulator.asr

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

    def refusable(req: ArmRequest, start: Callable[[], Job | None]) -> Job | None:
        """Run a write that may start a job: an async-refusal fault rule matching it makes that job fail in its
        prerequisite check (the write's own rollback applies: a refused enable leaves its item in the failed state,
        a refused setup write or action changes nothing). A write that starts no job leaves the rule unused."""
        rule = emulator.faults.take_async_refusal(req.method, req.path)
        backend = asr()
        backend.pending_refusal = (rule.code, rule.message) if rule is not None else None
        try:
            return start()
        finally:
            unused = backend.pending_refusal is not None
            backend.pending_refusal = None
            if rule is not None and unused:
                emulator.faults.give_back(rule)

    def job_of(req: ArmRequest, start: Callable[[], Job]) -> Job:
        job = refusable(req, start)
        if job is None:
            raise RuntimeError(f"{req.method} {req.path} started no job")  # an emulator bug: these writes always do
        return job

    def listing(req: ArmRequest, objects: Sequence[Any], render: Callable[[Any], dict[str, Any] | None]) -> ArmResponse:
        return page(req, LazyBodies(objects, render), asr().page_size, null_next_link=True)

    # ------------------------------------------------------------------ the table: one resource type at a time
    def add_resource(res: Resource) -> None:
        names = _names(res.path)

        def args(req: ArmRequest, count: int = len(names)) -> list[str]:
            return [req.params[n] for n in names[:count]]

        def get(req: ArmRequest) -> ArmResponse:
            v = vault(req)
            return ArmResponse(200, res.render(asr(), v, res.get(asr(), v, *args(req))))

        router.add("GET", res.path, get)
        for parent in res.list_under:

            def list_objects(req: ArmRequest, depth: int = len(_names(parent))) -> ArmResponse:
                v = vault(req)
                return listing(req, res.list(asr(), v, *args(req, depth)), lambda o: res.render(asr(), v, o))

            router.add("GET", f"{parent}/{res.collection}", list_objects)

        def writer(call: Callable[..., Job], *, with_body: bool, action: bool = False) -> Handler:
            def handler(req: ArmRequest) -> ArmResponse:
                v = vault(req)  # before the body: a missing vault is a 404 whatever the body
                extra = [body(req)] if with_body else []
                job = job_of(req, lambda: call(asr(), v, *args(req), *extra))
                return accepted(req, job, action_path(req) if action else req.path)

            return handler

        if res.put is not None:
            router.add("PUT", res.path, writer(res.put, with_body=True))
        if res.patch is not None:
            router.add("PATCH", res.path, writer(res.patch, with_body=True))
        if res.delete is not None:
            router.add("DELETE", res.path, writer(res.delete, with_body=False))
        if res.remove is not None:
            router.add("POST", res.path + "/remove", writer(res.remove, with_body=False, action=True))

    for resource in RESOURCES:
        add_resource(resource)

    # ------------------------------------------------------------------ vaults (minimal, synchronous)
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
        return ArmResponse(200 if existed else 201, backend.vault_body(created))

    @router.route("GET", V)
    def get_vault(req: ArmRequest) -> ArmResponse:
        return ArmResponse(200, asr().vault_body(vault(req)))

    @router.route("DELETE", V)
    def delete_vault(req: ArmRequest) -> ArmResponse:
        p = req.params
        vault(req)
        asr().delete_vault(p["subscription"], p["resource_group"], p["vault"])
        return ArmResponse(200)

    # ------------------------------------------------------------------ operation status / results
    @router.route("GET", V + "/replicationOperationStatus/{job}")
    def operation_status(req: ArmRequest) -> ArmResponse:
        # No Retry-After on polls, running or done (.NET entries 3-19): only the 202 carries one.
        job = asr().get_job(vault(req), req.params["job"])
        return ArmResponse(200, asr().operation_status_body(job), {"x-ms-request-id": job.arm_id})

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

    for template in (V, *(res.path for res in RESOURCES)):
        router.add("GET", template + "/operationresults/{job}", operation_result)

    # ------------------------------------------------------------------ switch protection (on the container)
    @router.route("POST", C + "/switchprotection")
    def switch_protection(req: ArmRequest) -> ArmResponse:
        p = req.params
        job = job_of(req, lambda: asr().switch_protection(vault(req), p["fabric"], p["container"], body(req)))
        return accepted(req, job, action_path(req))

    # ------------------------------------------------------------------ replication protected items
    @router.route("GET", V + "/replicationProtectedItems")
    def list_items(req: ArmRequest) -> ArmResponse:
        return listing(req, asr().items(vault(req), req.query.get("$filter")), asr().item_body)

    @router.route("PUT", I)
    def create_item(req: ArmRequest) -> ArmResponse:
        """Enable replication; the same VM under the same item name answers 200 with the item (idempotent)."""
        p = req.params
        v = vault(req)
        job = refusable(req, lambda: asr().create_item(v, p["fabric"], p["container"], p["item"], body(req)))
        if job is None:
            return ArmResponse(200, asr().item_body(asr().item(v, p["fabric"], p["container"], p["item"])))
        return accepted(req, job, req.path)

    def add_item_action(name: str, call: ItemAction) -> None:
        def handler(req: ArmRequest) -> ArmResponse:
            p = req.params
            job = job_of(req, lambda: call(asr(), vault(req), p["fabric"], p["container"], p["item"], body(req)))
            return accepted(req, job, action_path(req))

        router.add("POST", f"{I}/{name}", handler)

    for item_action, item_call in ITEM_ACTIONS.items():
        add_item_action(item_action, item_call)

    # ------------------------------------------------------------------ recovery points
    @router.route("GET", I + "/recoveryPoints")
    def list_recovery_points(req: ArmRequest) -> ArmResponse:
        p = req.params
        item = asr().item(vault(req), p["fabric"], p["container"], p["item"])
        return page(req, asr().recovery_points(item), asr().page_size, null_next_link=True)

    @router.route("GET", I + "/recoveryPoints/{point}")
    def get_recovery_point(req: ArmRequest) -> ArmResponse:
        p = req.params
        item = asr().item(vault(req), p["fabric"], p["container"], p["item"])
        return ArmResponse(200, asr().recovery_point(item, p["point"]))

    # ------------------------------------------------------------------ jobs
    @router.route("GET", V + "/replicationJobs")
    def list_jobs(req: ArmRequest) -> ArmResponse:
        return listing(req, asr().list_jobs(vault(req), req.query.get("$filter")), asr().job_list_body)

    @router.route("GET", V + "/replicationJobs/{job}")
    def get_job(req: ArmRequest) -> ArmResponse:
        return ArmResponse(200, asr().job_body(asr().get_job(vault(req), req.params["job"])))

    # ------------------------------------------------------------------ recovery plan actions
    def add_plan_action(name: str, call: PlanAction) -> None:
        def handler(req: ArmRequest) -> ArmResponse:
            job = job_of(req, lambda: call(asr(), vault(req), req.params["plan"], body(req)))
            return accepted(req, job, action_path(req))

        router.add("POST", f"{RP}/{name}", handler)

    for plan_action, plan_call in PLAN_ACTIONS.items():
        add_plan_action(plan_action, plan_call)

    return router


def build_admin_router(emulator: Emulator) -> Router:
    """The ``/_emulator/asr/...`` admin routes (served by the admin API, outside the ARM namespace)."""
    router = Router()
    _add_admin_routes(router, lambda: emulator.asr)
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
