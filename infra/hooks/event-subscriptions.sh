#!/bin/sh
# azd postdeploy hook: the second deployment pass, which creates the Event Grid subscriptions.
#
# Why a second pass: Event Grid validates an AzureFunction destination against the function app, so the
# subscriptions can only be created once resource_events and health_events are published (docs/infra.md). azd runs
# this after `azd deploy` (and in `azd up`). It deploys infra/main.bicep again with the same parameters file and
# deployEventSubscriptions=true; ARM deployments are incremental, so everything else stays as it is.
#
# Needs the Azure CLI signed in to the same tenant (az login, or azure/login in CI). Set
# PPGDR_SKIP_EVENT_SUBSCRIPTIONS=true to skip it (e.g. when a platform team owns Event Grid).
set -eu

if [ "${PPGDR_SKIP_EVENT_SUBSCRIPTIONS:-false}" = "true" ]; then
  echo "ppg-dr: PPGDR_SKIP_EVENT_SUBSCRIPTIONS=true: Event Grid subscriptions not deployed"
  exit 0
fi

: "${AZURE_ENV_NAME:?run through azd (azd up / azd deploy), which sets the environment}"
: "${AZURE_LOCATION:?azd environment has no AZURE_LOCATION}"
: "${AZURE_SUBSCRIPTION_ID:?azd environment has no AZURE_SUBSCRIPTION_ID}"
: "${AZURE_RESOURCE_GROUP:?no AZURE_RESOURCE_GROUP output: run azd provision first}"
: "${AZURE_FUNCTION_APP_NAME:?no AZURE_FUNCTION_APP_NAME output: run azd provision first}"

root=$(cd "$(dirname "$0")/../.." && pwd)
parameters="$root/infra/main.parameters.json"
[ -f "$parameters" ] || { echo "ppg-dr: $parameters not found (copy infra/main.parameters.example.json)" >&2; exit 1; }

if ! az account show --only-show-errors >/dev/null 2>&1; then
  echo "ppg-dr: the second pass uses the Azure CLI: run 'az login' (CI: azure/login), then 'azd hooks run postdeploy'" >&2
  exit 1
fi

# The functions must be indexed before Event Grid accepts them as destinations (a few seconds to minutes after
# the package is published).
for name in resource_events health_events; do
  tries=0
  until az functionapp function show --subscription "$AZURE_SUBSCRIPTION_ID" -g "$AZURE_RESOURCE_GROUP" \
      -n "$AZURE_FUNCTION_APP_NAME" --function-name "$name" --query name -o tsv --only-show-errors >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
      echo "ppg-dr: function $name not found on $AZURE_FUNCTION_APP_NAME after 10 minutes; check the deployment logs, then 'azd hooks run postdeploy'" >&2
      exit 1
    fi
    sleep 10
  done
done

# azd expands ${VAR} and ${VAR=default} placeholders in the parameters file; the Azure CLI does not, so expand them
# the same way (from the azd environment this hook runs in) into a temporary copy.
expanded=$(mktemp "${TMPDIR:-/tmp}/ppgdr-parameters.XXXXXX")
trap 'rm -f "$expanded"' EXIT
python3 - "$parameters" "$expanded" <<'PY'
import os, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
def value(match):
    name, default = match.group(1), match.group(3)
    if name in os.environ:
        return os.environ[name]
    if default is not None:
        return default
    sys.exit(f"ppg-dr: {sys.argv[1]} uses ${{{name}}}, which the azd environment does not set (azd env set {name} ...)")
open(sys.argv[2], "w", encoding="utf-8").write(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(=([^}]*))?\}", value, text))
PY

echo "ppg-dr: second pass: Event Grid subscriptions for $AZURE_FUNCTION_APP_NAME"
az deployment sub create \
  --subscription "$AZURE_SUBSCRIPTION_ID" \
  --name "$(printf '%s' "$AZURE_ENV_NAME-event-subscriptions" | cut -c1-64)" \
  --location "$AZURE_LOCATION" \
  --template-file "$root/infra/main.bicep" \
  --parameters "@$expanded" \
  --parameters deployEventSubscriptions=true \
  --only-show-errors --output none
echo "ppg-dr: Event Grid subscriptions deployed (retries, dead-lettering, server-side filters)"
