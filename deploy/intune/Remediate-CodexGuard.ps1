<#
.SYNOPSIS
    Intune remediation script: run `codex-guard setup --silent --json` on this device.

.DESCRIPTION
    Assumes the codex-guard binaries are deployed (Win32 app or MSI) to
    $env:ProgramFiles\codex-guard. Settings come from the parameters below, then
    from the fleet file (default $env:ProgramData\codex-guard\fleet.toml), then from
    the current install; with neither a URL nor a fleet file it installs local rules
    only (--local-only).

    Intune passes no parameters: edit the defaults below before uploading, or ship
    the settings in the fleet file. Scope User needs "Run this script using the
    logged-on credentials: Yes"; Managed runs as SYSTEM.

    Writes setup's JSON to stdout (Intune's remediation output) and appends it to
    a log. Exits with setup's code: 0 installed, 1 installed but degraded, 2 bad
    input, 3 needs administrator rights; 4 when codex-guard.exe is missing.
#>
[CmdletBinding()]
param(
    [string] $CodexGuard = (Join-Path $env:ProgramFiles 'codex-guard\codex-guard.exe'),
    [ValidateSet('User', 'Managed')]
    [string] $Scope = 'User',
    # Program data, not program files: settings and logs are not part of the program.
    [string] $FleetConfig = (Join-Path $env:ProgramData 'codex-guard\fleet.toml'),
    [string] $Url = '',
    [string] $TokenFile = '',
    [ValidateSet('', 'argus', 'atlas')]
    [string] $Mode = '',
    [ValidateSet('', 'observe', 'blocking')]
    [string] $Enforcement = '',
    [string[]] $ExtraArgs = @()
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

function Invoke-Native {
    param([string] $Program, [string[]] $Arguments)
    # Windows PowerShell 5.1 turns a native program's stderr lines into error
    # records, which 'Stop' would throw: collect them here and keep them apart.
    $ErrorActionPreference = 'Continue'
    $stdout = New-Object System.Collections.Generic.List[string]
    $stderr = New-Object System.Collections.Generic.List[string]
    & $Program @Arguments 2>&1 | ForEach-Object {
        if ($_ -is [System.Management.Automation.ErrorRecord]) { $stderr.Add($_.Exception.Message) }
        else { $stdout.Add([string] $_) }
    }
    [pscustomobject]@{ ExitCode = $LASTEXITCODE; Stdout = ($stdout -join "`n"); Stderr = ($stderr -join "`n") }
}

if (-not (Test-Path -LiteralPath $CodexGuard -PathType Leaf)) {
    Write-Output "codex-guard is not installed at ${CodexGuard}: deploy the codex-guard app first"
    exit 4
}

$setupArgs = @('setup', '--silent', '--json')
if ($Scope -eq 'Managed') { $setupArgs += '--managed' }
$haveFleet = Test-Path -LiteralPath $FleetConfig -PathType Leaf
if ($haveFleet) { $setupArgs += @('--config', $FleetConfig) }
if ($Url) {
    $setupArgs += @('--url', $Url)
} elseif (-not $haveFleet) {
    $setupArgs += '--local-only'
}
if ($TokenFile) { $setupArgs += @('--token-file', $TokenFile) }
if ($Mode) { $setupArgs += @('--mode', $Mode) }
if ($Enforcement) { $setupArgs += "--$Enforcement" }
$setupArgs += $ExtraArgs

$result = Invoke-Native -Program $CodexGuard -Arguments $setupArgs

# SYSTEM and administrators log machine-wide; a user run logs in the user's profile.
$identity = [Security.Principal.WindowsIdentity]::GetCurrent()
$isAdmin = ([Security.Principal.WindowsPrincipal] $identity).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
$logBase = if ($isAdmin) { $env:ProgramData } else { $env:LOCALAPPDATA }
$logDir = Join-Path $logBase 'codex-guard\logs'
try {
    New-Item -ItemType Directory -Path $logDir -Force | Out-Null
    $line = '{0} scope={1} exit={2} {3}' -f (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ'), $Scope, $result.ExitCode, $result.Stdout
    Add-Content -LiteralPath (Join-Path $logDir 'intune-remediate.log') -Value $line -Encoding UTF8
} catch {
    # A log that cannot be written must not hide setup's own result.
    Write-Warning "cannot write the log in ${logDir}: $($_.Exception.Message)"
}

Write-Output $result.Stdout
if ($result.ExitCode -ne 0 -and $result.Stderr) { Write-Output $result.Stderr.Trim() }
if ($result.ExitCode -in 0, 1) {
    try {
        $report = $result.Stdout | ConvertFrom-Json
    } catch {
        $report = $null
        Write-Output 'codex-guard setup printed no JSON'
    }
    if ($report -and $report.PSObject.Properties['warnings']) {
        foreach ($warning in @($report.warnings)) { Write-Output "warning: $warning" }
    }
}
exit $result.ExitCode
