"""Azure Functions entry point (Python v2 programming model): build the app, register the blueprints.

The HTTP surface is one ASGI app (``shared.operator.http_api``) served by ``AsgiFunctionApp`` behind the
function key; the other triggers live in ``functions/`` and only decode, call ``shared/`` and encode.
Nothing here imports an Azure management SDK: those load on first use, which keeps cold start short.
"""

import azure.functions as func

from functions.health_events import bp as health_events_bp
from functions.resource_events import bp as resource_events_bp
from functions.timers import bp as timers_bp
from shared.operator.http_api import create_app

app = func.AsgiFunctionApp(app=create_app(), http_auth_level=func.AuthLevel.FUNCTION, function_name="http_api")
app.register_functions(resource_events_bp)
app.register_functions(health_events_bp)
app.register_functions(timers_bp)
