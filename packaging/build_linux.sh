#!/usr/bin/env bash
# Build diffstudio's Linux bundle (PyInstaller, one folder) and .deb from a checkout, and check them.
#
#   packaging/build_linux.sh           # build venv, bundle, frozen --self-test (under Xvfb), .deb
#   packaging/build_linux.sh --install-test
#                                      # also, as root: install the .deb with dpkg, run the launcher's
#                                      # --self-test, check that nothing was written into /opt, uninstall,
#                                      # check that /opt/diffstudio is gone
#
# Needs: python3 (≥ 3.10) with venv, binutils (objdump, strip), dpkg-deb, and for the self-test xvfb-run
# (else it runs offscreen) and Qt's xcb libraries (see .ci/run). Output: dist/diffstudio/ and
# dist/diffstudio_VERSION_amd64.deb; build/ holds the build venv (reused) and PyInstaller's work files.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
INSTALL_TEST=0
[[ "${1:-}" == "--install-test" ]] && INSTALL_TEST=1
VERSION="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' diffstudio/__init__.py)"
ARCH="$(dpkg --print-architecture)"
DEB="dist/diffstudio_${VERSION}_${ARCH}.deb"
VENV="build/venv"
START=$SECONDS

step() { echo "== $* ($((SECONDS - START)) s)"; }

run_frozen() {  # the frozen app under Xvfb when there is one, else offscreen
    if command -v xvfb-run > /dev/null; then
        xvfb-run -a -s "-screen 0 1280x800x24" "$@"
    else
        QT_QPA_PLATFORM=offscreen "$@"
    fi
}

step "build venv"
if [[ ! -x "$VENV/bin/pyinstaller" ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q torch==2.13.0  # the CPU build; see the README
    "$VENV/bin/pip" install -q ".[gui]" "pyinstaller==6.22.*"
fi

step "PyInstaller bundle"
rm -rf dist/diffstudio
"$VENV/bin/pyinstaller" packaging/diffstudio.spec --noconfirm --log-level WARN --distpath dist \
    --workpath build/pyinstaller
# Strip debug symbols, except from the libraries that wheels vendor in *.libs folders: auditwheel
# patched those, and stripping breaks them (numpy's OpenBLAS then fails to load).
find dist/diffstudio -name "*.so*" -type f ! -path "*.libs/*" -exec strip --strip-unneeded {} + 2> /dev/null || true
echo "bundle: $(du -sh dist/diffstudio | cut -f1)"

step "frozen self-test"
run_frozen dist/diffstudio/diffstudio --self-test

step ".deb"
STAGE="build/deb/diffstudio"
rm -rf "build/deb"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications"
cp -a dist/diffstudio "$STAGE/opt/diffstudio"
cat > "$STAGE/usr/bin/diffstudio" << 'LAUNCHER'
#!/bin/sh
exec /opt/diffstudio/diffstudio "$@"
LAUNCHER
chmod 755 "$STAGE/usr/bin/diffstudio"
cp resources/linux/diffstudio.desktop "$STAGE/usr/share/applications/"
for icon in resources/icons/diffstudio-*.png; do
    size="$(basename "$icon" .png | cut -d- -f2)"
    mkdir -p "$STAGE/usr/share/icons/hicolor/${size}x${size}/apps"
    cp "$icon" "$STAGE/usr/share/icons/hicolor/${size}x${size}/apps/diffstudio.png"
done
cat > "$STAGE/DEBIAN/control" << CONTROL
Package: diffstudio
Version: $VERSION
Architecture: $ARCH
Maintainer: diffstudio developers <diffstudio@localhost>
Installed-Size: $(du -sk "$STAGE" | cut -f1)
Depends: libgl1, libegl1, libfontconfig1, libfreetype6, libdbus-1-3, libxkbcommon0, libxkbcommon-x11-0,
 libx11-6, libx11-xcb1, libxcb1, libxcb-cursor0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1,
 libxcb-render-util0, libxcb-render0, libxcb-shape0, libxcb-util1, libxcb-xkb1, libxcb-randr0,
 libxcb-xfixes0, libxcb-sync1, libxcb-shm0
Section: graphics
Priority: optional
Homepage: https://github.com/diffstudio/diffstudio
Description: train and explore denoising diffusion models (DDPM)
 A desktop application for training denoising diffusion models on your own
 images and exploring them: watch the reverse process step by step,
 interpolate at any noise level, manage checkpoints. Includes a small demo
 model. Runs on the CPU (PyTorch, bundled).
CONTROL
for script in postinst postrm; do
    cat > "$STAGE/DEBIAN/$script" << 'SCRIPT'
#!/bin/sh
set -e
# refresh the menus' view of the .desktop entry and icons, where the tools exist
command -v update-desktop-database > /dev/null && update-desktop-database -q /usr/share/applications || true
command -v gtk-update-icon-cache > /dev/null && gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true
SCRIPT
    chmod 755 "$STAGE/DEBIAN/$script"
done
dpkg-deb --root-owner-group -Zzstd -z9 --build "$STAGE" "$DEB" > /dev/null
echo "deb: $DEB $(du -h "$DEB" | cut -f1)"

if [[ $INSTALL_TEST == 1 ]]; then
    step "install test"
    dpkg -i "$DEB" > /dev/null
    listing_before="$(find /opt/diffstudio | sort)"
    HOME_DIR="$(mktemp -d)"
    HOME="$HOME_DIR" run_frozen diffstudio --self-test
    # the launcher on PATH opens the window (still running after 10 s), and the first run puts the demo
    # into the user's data folder
    rc=0
    HOME="$HOME_DIR" DIFFSTUDIO_RUNS_DIR="" run_frozen timeout 10 diffstudio || rc=$?
    [[ $rc == 124 ]] || { echo "the app exited with $rc instead of showing its window"; exit 1; }
    test -f "$HOME_DIR/.local/share/diffstudio/runs/demo/config.json"
    if [[ "$(find /opt/diffstudio | sort)" != "$listing_before" ]]; then
        echo "the app wrote into /opt/diffstudio:"; diff <(echo "$listing_before") <(find /opt/diffstudio | sort)
        exit 1
    fi
    dpkg -r diffstudio > /dev/null
    if [[ -e /opt/diffstudio || -e /usr/bin/diffstudio ]]; then
        echo "uninstalling left files behind:"; find /opt/diffstudio /usr/bin/diffstudio 2> /dev/null | head
        exit 1
    fi
    rm -rf "$HOME_DIR"
    echo "installed, self-tested, nothing written into /opt, uninstalled cleanly"
fi
step "done"
