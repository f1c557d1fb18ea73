# azd postdeploy hook (Windows): the second deployment pass, which creates the Event Grid subscriptions.
# Same steps as event-subscriptions.sh (read that file for the why); needs the Azure CLI signed in.
$ErrorActionPreference = 'Stop'

if ($env:PPGDR_SKIP_EVENT_SUBSCRIPTIONS -eq 'true') {
  Write-Host 'ppg-dr: PPGDR_SKIP_EVENT_SUBSCRIPTIONS=true: Event Grid subscriptions not deployed'
  exit 0
}
foreach ($name in 'AZURE_ENV_NAME', 'AZURE_LOCATION', 'AZURE_SUBSCRIPTION_ID', 'AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_APP_NAME') {
  if (-not (Get-Item "env:$name" -ErrorAction SilentlyContinue)) { throw "ppg-dr: $name is not set: run through azd after azd provision" }
}

$root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
$parameters = Join-Path $root 'infra/main.parameters.json'
if (-not (Test-Path $parameters)) { throw "ppg-dr: $parameters not found (copy infra/main.parameters.example.json)" }

az account show --only-show-errors | Out-Null
if ($LASTEXITCODE -ne 0) { throw "ppg-dr: the second pass uses the Azure CLI: run 'az login', then 'azd hooks run postdeploy'" }

foreach ($function in 'resource_events', 'health_events') {
  $tries = 0
  while ($true) {
    az functionapp function show --subscription $env:AZURE_SUBSCRIPTION_ID -g $env:AZURE_RESOURCE_GROUP -n $env:AZURE_FUNCTION_APP_NAME --function-name $function --query name -o tsv --only-show-errors 2>$null | Out-Null
    if ($LASTEXITCODE -eq 0) { break }
    $tries++
    if ($tries -ge 60) { throw "ppg-dr: function $function not found after 10 minutes; then 'azd hooks run postdeploy'" }
    Start-Sleep -Seconds 10
  }
}

# Expand azd-style ${VAR} / ${VAR=default} placeholders, as azd does for its own deployment.
$text = Get-Content -Raw $parameters
$expandedText = [regex]::Replace($text, '\$\{([A-Za-z_][A-Za-z0-9_]*)(=([^}]*))?\}', {
  param($m)
  $value = [Environment]::GetEnvironmentVariable($m.Groups[1].Value)
  if ($null -ne $value) { return $value }
  if ($m.Groups[2].Success) { return $m.Groups[3].Value }
  throw "ppg-dr: the parameters file uses $($m.Value), which the azd environment does not set"
})
$expanded = New-TemporaryFile
try {
  Set-Content -Path $expanded -Value $expandedText -Encoding utf8
  $deployment = "$($env:AZURE_ENV_NAME)-event-subscriptions"
  if ($deployment.Length -gt 64) { $deployment = $deployment.Substring(0, 64) }
  az deployment sub create --subscription $env:AZURE_SUBSCRIPTION_ID --name $deployment --location $env:AZURE_LOCATION `
    --template-file (Join-Path $root 'infra/main.bicep') --parameters "@$expanded" --parameters deployEventSubscriptions=true `
    --only-show-errors --output none
  if ($LASTEXITCODE -ne 0) { throw 'ppg-dr: the second pass failed (see above)' }
  Write-Host 'ppg-dr: Event Grid subscriptions deployed (retries, dead-lettering, server-side filters)'
} finally {
  Remove-Item $expanded -ErrorAction SilentlyContinue
}
