#!/usr/bin/env bash
# Build diffstudio.app and a .dmg on macOS. UNTESTED: written carefully, never run (no Mac here).
#   packaging/macos/build_macos.sh
# Needs: Python 3.10–3.12 from python.org or Homebrew, Xcode command-line tools (iconutil, hdiutil).
# Output: dist/diffstudio.app and dist/diffstudio-VERSION.dmg. Not signed or notarized: Gatekeeper asks
# users to open it with right-click > Open; signing needs a Developer ID (codesign, notarytool).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' diffstudio/__init__.py)"

# the .icns the spec names, from the committed PNGs
ICONSET="build/diffstudio.iconset"
rm -rf "$ICONSET" && mkdir -p "$ICONSET"
for size in 16 32 128 256 512; do
    cp "resources/icons/diffstudio-$size.png" "$ICONSET/icon_${size}x${size}.png"
    [[ $size -le 256 ]] && cp "resources/icons/diffstudio-$((size * 2)).png" "$ICONSET/icon_${size}x${size}@2x.png" 2> /dev/null || true
done
iconutil -c icns "$ICONSET" -o resources/icons/diffstudio.icns

if [[ ! -x build/venv/bin/pyinstaller ]]; then
    python3 -m venv build/venv
    build/venv/bin/pip install -q --upgrade pip
    build/venv/bin/pip install -q torch==2.13.0  # macOS wheels are CPU + MPS (Apple GPU)
    build/venv/bin/pip install -q ".[gui]" "pyinstaller==6.22.*"
fi
build/venv/bin/pyinstaller packaging/diffstudio.spec --noconfirm --log-level WARN --distpath dist \
    --workpath build/pyinstaller

dist/diffstudio.app/Contents/MacOS/diffstudio --self-test

STAGE="build/dmg"
rm -rf "$STAGE" && mkdir -p "$STAGE"
cp -R dist/diffstudio.app "$STAGE/"
ln -s /Applications "$STAGE/Applications"  # drag the app onto it to install
hdiutil create -volname "diffstudio $VERSION" -srcfolder "$STAGE" -ov -format UDZO "dist/diffstudio-$VERSION.dmg"
echo "dist/diffstudio-$VERSION.dmg"
