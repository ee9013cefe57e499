<#
.SYNOPSIS
    Intune remediation detection script: is codex-guard protecting Codex on this device?

.DESCRIPTION
    Runs `codex-guard doctor --json` and writes its verdict (healthy, degraded,
    unprotected, or "not installed") to stdout, which Intune shows as the detection
    output. Exit 0 when healthy (nothing to do), 1 otherwise (Intune then runs
    Remediate-CodexGuard.ps1).

    Intune passes no parameters: edit the defaults below before uploading. Use the
    same -Scope as the remediation script: User needs "Run this script using the
    logged-on credentials: Yes", Managed runs as SYSTEM.
#>
[CmdletBinding()]
param(
    [string] $CodexGuard = (Join-Path $env:ProgramFiles 'codex-guard\codex-guard.exe'),
    [ValidateSet('User', 'Managed')]
    [string] $Scope = 'User',
    # The Codex CLI doctor asks for its view of the hooks; empty: codex on PATH.
    [string] $CodexBin = ''
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
    Write-Output 'not installed'
    exit 1
}

$doctorArgs = @('doctor', '--json')
if ($Scope -eq 'Managed') { $doctorArgs += '--managed' }
if ($CodexBin) { $doctorArgs += @('--codex-bin', $CodexBin) }

try {
    $result = Invoke-Native -Program $CodexGuard -Arguments $doctorArgs
    $status = [string] ($result.Stdout | ConvertFrom-Json).status
} catch {
    # No JSON: doctor could not run (exit 2 is bad input), so nothing vouches for the hooks.
    Write-Output "unprotected (codex-guard doctor failed: $($_.Exception.Message))"
    exit 1
}

Write-Output $status
if ($status -eq 'healthy') { exit 0 }
exit 1
