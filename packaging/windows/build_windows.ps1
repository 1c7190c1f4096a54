# Build diffstudio's Windows bundle and installer. UNTESTED: written carefully, never run (no Windows here).
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build_windows.ps1
# Needs: Python 3.10–3.12 (python on PATH) and Inno Setup 6 (iscc on PATH).
# Output: dist\diffstudio\ (the bundle) and dist\diffstudio-VERSION-setup.exe.
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
$version = (Select-String -Path diffstudio\__init__.py -Pattern '__version__ = "(.+)"').Matches[0].Groups[1].Value

if (-not (Test-Path build\venv\Scripts\pyinstaller.exe)) {
    python -m venv build\venv
    build\venv\Scripts\python -m pip install -q --upgrade pip
    # the CPU build of torch; for an NVIDIA build use https://download.pytorch.org/whl/cu126 (a 2.5 GB bundle)
    build\venv\Scripts\pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
    build\venv\Scripts\pip install -q ".[gui]" "pyinstaller==6.22.*"
}
build\venv\Scripts\pyinstaller packaging\diffstudio.spec --noconfirm --log-level WARN --distpath dist `
    --workpath build\pyinstaller
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }

# The windowed exe has no console, so the self-test's report is not shown; its exit code is what counts.
$test = Start-Process -FilePath dist\diffstudio\diffstudio.exe -ArgumentList "--self-test" -Wait -PassThru
if ($test.ExitCode -ne 0) { throw "the frozen self-test failed (exit code $($test.ExitCode))" }

iscc /Q "/DAppVersion=$version" packaging\windows\diffstudio.iss
if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed" }
Write-Host "dist\diffstudio-$version-setup.exe"
