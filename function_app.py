"""Azure Functions entry point (Python v2 programming model): build the app, register the blueprints.

Triggers live in ``functions/`` and only decode, call ``shared/`` and encode. Nothing here imports an
Azure management SDK: those load on first use, which keeps cold start short.
"""

import azure.functions as func

from functions.resource_events import bp as resource_events_bp
from functions.status_api import bp as status_api_bp
from functions.timers import bp as timers_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(resource_events_bp)
app.register_functions(timers_bp)
app.register_functions(status_api_bp)
