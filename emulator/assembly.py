"""Where the emulator is put together: the ARM router and the admin router over one :class:`Emulator`.

The layers import downwards only: ``app`` -> ``assembly`` -> ``*/responses`` -> ``*/models`` and
``state``. Backends never import routes. Every route looks its backend up on the emulator when a request
arrives (``emulator.compute``, ``emulator.asr``, ...), so the routers are built once per app and stay
valid across ``Emulator.reset()``, which replaces the backends.
"""

from __future__ import annotations

from emulator.admin import build_router as build_emulator_admin_router
from emulator.asr.responses import build_admin_router as build_asr_admin_router
from emulator.asr.responses import build_router as build_asr_router
from emulator.compute.responses import build_router as build_compute_router
from emulator.entra_responses import build_router as build_entra_router
from emulator.network.responses import build_router as build_network_router
from emulator.resources.responses import build_router as build_resources_router
from emulator.routing import Router
from emulator.state import Emulator


def build_arm_router(emulator: Emulator) -> Router:
    """Every ARM route the emulator serves (Resources, Compute, Network/Storage, Site Recovery)."""
    router = Router()
    router.include(build_resources_router(emulator))
    router.include(build_compute_router(emulator))
    router.include(build_network_router(emulator))
    router.include(build_asr_router(emulator))
    return router


def build_admin_router(emulator: Emulator) -> Router:
    """The ``/_emulator/`` admin API, with the Site Recovery admin routes (``/_emulator/asr``) and the local
    Entra ID tenant (``/_emulator/entra``)."""
    router = Router()
    router.include(build_asr_admin_router(emulator))
    router.include(build_emulator_admin_router(emulator))
    router.include(build_entra_router(emulator))
    return router
