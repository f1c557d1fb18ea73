"""Azure Functions entry point (Python v2 programming model): build the app, register the blueprints.

The HTTP surface is one ASGI app (``shared.operator.http_api``) served by ``AsgiFunctionApp``; the other
triggers live in ``functions/`` and only decode, call ``shared/`` and encode. The host checks the function
key first (``AuthLevel.FUNCTION``) unless the app accepts Entra ID tokens (secure alert webhook, operator
tokens): then the host lets requests through (``ANONYMOUS``) and the app authenticates every route itself
(``shared.settings.http_auth_level``, ``docs/security.md``).
Nothing here imports an Azure management SDK: those load on first use, which keeps cold start short.
"""

import azure.functions as func

from functions.health_events import bp as health_events_bp
from functions.resource_events import bp as resource_events_bp
from functions.timers import bp as timers_bp
from shared.operator.http_api import create_app
from shared.settings import http_auth_level

HTTP_AUTH_LEVEL = func.AuthLevel.ANONYMOUS if http_auth_level() == "anonymous" else func.AuthLevel.FUNCTION

app = func.AsgiFunctionApp(app=create_app(), http_auth_level=HTTP_AUTH_LEVEL, function_name="http_api")
app.register_functions(resource_events_bp)
app.register_functions(health_events_bp)
app.register_functions(timers_bp)
