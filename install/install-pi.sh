#!/bin/bash
# Install halfday on Raspberry Pi OS (Bookworm) as a locked-down appliance: the door, the kiosk, sync (when the site
# joins a hub), the local bus, the touchscreen and the e-mail notices (when the configuration has [mail]), each as a
# hardened systemd service (see systemd/).
#
# Idempotent: every step looks first and acts only when something differs, so a second run prints no action.
# Every action is printed as a line starting with "+ "; --dry-run prints them and changes nothing.
# The door, the kiosk and sync run as users of their own (halfday-door, halfday-kiosk, halfday-sync), so that one
# compromised process cannot read another's secrets: each bus password is 0600 to its own service's user, the hub's
# key and password to sync's. The mail worker (halfday-mail) is one more, alone to read the mail server's password
# (/etc/halfday/mail-password). All four share the group halfday, which owns the state folder (2770) and the ledger
# in it (0660). An install from before, with one user halfday for all three, is migrated by a run of this script.
# Nothing listens on the network but the kiosk: the touchscreen's plain HTTP on loopback (host, port of [kiosk] in
# /etc/halfday/halfday.toml), the admin and the wall display over HTTPS (lan_host, lan_port), under a certificate
# made here.
# Python dependencies come from requirements.lock, each file checked against its hash (pip --require-hashes).
set -euo pipefail
# `printf ... | place_text` must run place_text in this shell, so that the CHANGED it sets is seen.
shopt -s lastpipe
umask 022
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

usage() {
    cat <<'EOF'
Usage : install/install-pi.sh [options]

Installe halfday sur Raspberry Pi OS (Bookworm) : paquets, comptes, venv, configuration, bus local, services.
Installs halfday on Raspberry Pi OS (Bookworm). Run it again at will: it only changes what differs.

  --site-id ID             identifiant du site, pour une nouvelle configuration (défaut : mon-tiers-lieu)
  --site-name NOM          nom du site, pour une nouvelle configuration (défaut : « Mon tiers-lieu »)
  --device-id ID           identifiant de ce boîtier dans le site, pour une nouvelle configuration (défaut :
                           door-1) ; avec --hub-url, doit être celui sous lequel le hub a enregistré la porte
  --hub-url URL            relier le site à un hub : mqtts://hôte:8883 (TLS obligatoire)
  --hub-public-key CLÉ     clé publique Ed25519 du hub (base64), qui signe les listes et les commandes
  --hub-username NOM       identifiant de ce boîtier sur le broker du hub
  --hub-password-file F    fichier contenant son mot de passe (copié en 0600)
  --hub-ca F               certificat de l'autorité qui signe le broker du hub
  --hub-cert F             certificat client de ce boîtier
  --hub-key F              clé privée du certificat client (copiée en 0600)
  --mail-password-file F   fichier contenant le mot de passe du serveur d'e-mails ([mail] user) : copié dans
                           /etc/halfday/mail-password (0600, lisible du seul service halfday-mail), le chemin
                           que [mail] password_file doit donner
  --homeassistant-password-file F
                           fichier contenant le mot de passe du courtier MQTT de Home Assistant ([homeassistant]
                           username) : copié dans /etc/halfday/homeassistant-password (0600, lisible du seul
                           service halfday-homeassistant), le chemin que [homeassistant] password_file doit donner
  --chromium-package P     paquet du navigateur (défaut : chromium)
  --no-screen              pas d'écran tactile sur ce boîtier (pas de cage ni de Chromium)
  --dry-run                afficher chaque action sans rien changer
  --root DIR               installer sous DIR comme si DIR était / (pour les tests : apt-get et chown doivent
                           alors être fournis par l'appelant, useradd et systemctl reçoivent --root DIR)
  --source DIR             sources de halfday (défaut : le dépôt qui contient ce script)

Environnement : HALFDAY_MANAGER_PASSWORD (mot de passe de l'accueil, sinon demandé au terminal),
HALFDAY_PIP_ARGS (options de pip, par ex. --no-index --find-links /media/usb/wheels : des fichiers de PyPI, dont
pip vérifie l'empreinte inscrite dans requirements.lock), HALFDAY_PYTHON (python3).
EOF
}

die() {
    printf 'install-pi : %s\n' "$*" >&2
    exit 1
}

note() {
    printf '  %s\n' "$*"
}

# ---------------------------------------------------------------------------------------------------- options

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT=""
DRY=0
SCREEN=1
SITE_ID="mon-tiers-lieu"
SITE_NAME="Mon tiers-lieu"
DEVICE_ID="door-1"
# Whether --site-id or --device-id was given: joining a hub checks them against an existing configuration.
SITE_ID_GIVEN=0
DEVICE_ID_GIVEN=0
HUB_URL=""
HUB_PUBLIC_KEY=""
HUB_USERNAME=""
HUB_PASSWORD_FILE=""
HUB_CA=""
HUB_CERT=""
HUB_KEY=""
MAIL_PASSWORD_FILE=""
HA_PASSWORD_FILE=""
CHROMIUM_PACKAGE="chromium"
PYTHON="${HALFDAY_PYTHON:-python3}"
PIP_ARGS="${HALFDAY_PIP_ARGS:-}"

need_value() {
    [ "$#" -ge 2 ] && [ -n "$2" ] || die "$1 attend une valeur"
}

while [ "$#" -gt 0 ]; do
    case "$1" in
        --site-id) need_value "$@"; SITE_ID="$2"; SITE_ID_GIVEN=1; shift 2 ;;
        --device-id) need_value "$@"; DEVICE_ID="$2"; DEVICE_ID_GIVEN=1; shift 2 ;;
        --site-name) need_value "$@"; SITE_NAME="$2"; shift 2 ;;
        --hub-url) need_value "$@"; HUB_URL="$2"; shift 2 ;;
        --hub-public-key) need_value "$@"; HUB_PUBLIC_KEY="$2"; shift 2 ;;
        --hub-username) need_value "$@"; HUB_USERNAME="$2"; shift 2 ;;
        --hub-password-file) need_value "$@"; HUB_PASSWORD_FILE="$2"; shift 2 ;;
        --hub-ca) need_value "$@"; HUB_CA="$2"; shift 2 ;;
        --hub-cert) need_value "$@"; HUB_CERT="$2"; shift 2 ;;
        --hub-key) need_value "$@"; HUB_KEY="$2"; shift 2 ;;
        --mail-password-file) need_value "$@"; MAIL_PASSWORD_FILE="$2"; shift 2 ;;
        --homeassistant-password-file) need_value "$@"; HA_PASSWORD_FILE="$2"; shift 2 ;;
        --chromium-package) need_value "$@"; CHROMIUM_PACKAGE="$2"; shift 2 ;;
        --no-screen) SCREEN=0; shift ;;
        --dry-run) DRY=1; shift ;;
        --root) need_value "$@"; ROOT="$2"; shift 2 ;;
        --source) need_value "$@"; SOURCE="$2"; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "option inconnue : $1" ;;
    esac
done

# ------------------------------------------------------------------------------------- where things go

ETC=/etc/halfday
CONFIG=$ETC/halfday.toml
BUS_DIR=$ETC/bus
HUB_DIR=$ETC/hub
# The mail server's password, the mail worker's alone: [mail] password_file names this path (as in the commented
# [mail] that `halfday init` writes).
MAIL_PASSWORD=$ETC/mail-password
# The password of the site's own broker (Home Assistant's), the bridge's alone: [homeassistant] password_file.
HA_PASSWORD=$ETC/homeassistant-password
STATE=/var/lib/halfday
DATABASE=$STATE/halfday.db
LOCK=requirements.lock
OPT=/opt/halfday
VENV=$OPT/venv
# The digest of the [mail] the worker was last installed with: a change to it restarts the worker.
MAIL_STAMP=$OPT/mail-config.sha256
UNIT_DIR=/etc/systemd/system
# The appliance's daemons: each runs as the user halfday-NAME and connects to the local bus as NAME.
SERVICES=(door kiosk sync homeassistant)
# The group of the three, which owns the state folder and the ledger; no user is named so any more.
GROUP=halfday
# The one user of the three daemons before each had its own: its presence means an install to migrate.
OLD_USER=halfday
# python3-lgpio comes from the distribution (the venv sees it through --system-site-packages): gpiozero's lgpio pin
# factory talks to /dev/gpiochip*, the only GPIO interface on a Pi 5 and on current kernels. python3-wheel, with
# the venv's setuptools, builds the locked sdists (pyDes) without pip fetching a build backend unchecked.
# fonts-dejavu-core: the font the PDFs (the funders' report, receipts) are written in, accents and € included.
PACKAGES=(python3-venv python3-wheel python3-lgpio libusb-1.0-0 mosquitto fonts-dejavu-core)
APPLIANCE_UNITS=(halfday-bus halfday-door halfday-kiosk halfday-sync halfday-mail halfday-backup halfday-homeassistant)
if [ "$SCREEN" = 1 ]; then
    PACKAGES+=(cage "$CHROMIUM_PACKAGE")
    APPLIANCE_UNITS+=(halfday-screen)
fi

# A target path as this run sees it: under --root DIR, /etc/x is DIR/etc/x.
t() {
    printf '%s%s' "$ROOT" "$1"
}

# ------------------------------------------------------------------------------------------- checks

[ -f "$SOURCE/pyproject.toml" ] && [ -d "$SOURCE/systemd" ] || die "$SOURCE n'est pas un dépôt halfday (--source)"
SOURCE="$(cd "$SOURCE" && pwd)"
# A lock made for other dependencies than pyproject.toml's would install something nobody tested.
"$PYTHON" "$SOURCE/install/lockfile.py" --root "$SOURCE" check ||
    die "$LOCK ne correspond pas à pyproject.toml : refaites-le (make lock) avant d'installer"
if [ -n "$ROOT" ]; then
    [ -d "$ROOT" ] || die "--root $ROOT n'est pas un dossier"
    ROOT="$(cd "$ROOT" && pwd)"
    [ "$ROOT" != / ] || ROOT=""
    case "$ROOT" in *'|'* | *' '*) die "--root : pas d'espace ni de | dans le chemin" ;; esac
fi
[[ "$DEVICE_ID" =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] || die "--device-id : minuscules, chiffres et tirets (ex. door-2)"
# The hub's files are copied after the `cd /` below: a path given relative to where the installer was started must
# keep pointing there.
absolute() {
    case "$1" in "" | /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac
}
HUB_PASSWORD_FILE="$(absolute "$HUB_PASSWORD_FILE")"
HUB_CA="$(absolute "$HUB_CA")"
HUB_CERT="$(absolute "$HUB_CERT")"
HUB_KEY="$(absolute "$HUB_KEY")"
MAIL_PASSWORD_FILE="$(absolute "$MAIL_PASSWORD_FILE")"
if [ -n "$MAIL_PASSWORD_FILE" ]; then
    [ -r "$MAIL_PASSWORD_FILE" ] && [ -s "$MAIL_PASSWORD_FILE" ] ||
        die "--mail-password-file : $MAIL_PASSWORD_FILE ne peut pas être lu ou est vide"
fi
HA_PASSWORD_FILE="$(absolute "${HA_PASSWORD_FILE:-}")"
if [ -n "$HA_PASSWORD_FILE" ]; then
    [ -r "$HA_PASSWORD_FILE" ] && [ -s "$HA_PASSWORD_FILE" ] ||
        die "--homeassistant-password-file : $HA_PASSWORD_FILE ne peut pas être lu ou est vide"
fi
if [ -n "$HUB_URL" ]; then
    case "$HUB_URL" in mqtts://?*) ;; *) die "--hub-url doit commencer par mqtts:// (le lien avec le hub est chiffré)" ;; esac
    [ -n "$HUB_PUBLIC_KEY" ] || die "--hub-url demande --hub-public-key"
    [ -z "$HUB_PASSWORD_FILE" ] || [ -n "$HUB_USERNAME" ] || die "--hub-password-file demande --hub-username"
    if [ "${HUB_CERT:+x}" != "${HUB_KEY:+x}" ]; then
        die "--hub-cert et --hub-key vont ensemble"
    fi
    for file in "$HUB_PASSWORD_FILE" "$HUB_CA" "$HUB_CERT" "$HUB_KEY"; do
        [ -z "$file" ] || [ -r "$file" ] || die "$file ne peut pas être lu"
    done
elif [ -n "$HUB_PUBLIC_KEY$HUB_USERNAME$HUB_PASSWORD_FILE$HUB_CA$HUB_CERT$HUB_KEY" ]; then
    die "les options --hub-* demandent --hub-url"
fi
if [ "$DRY" = 0 ]; then
    if [ -z "$ROOT" ]; then
        [ "$(id -u)" = 0 ] || die "à lancer en root (sudo), ou avec --dry-run"
    else
        # Under --root the files land in DIR, but apt-get and chown would still act on this machine: refuse the
        # system's own (the tests put recording stand-ins first on PATH).
        for tool in apt-get chown; do
            case "$(command -v "$tool" || true)" in
                "" | /usr/* | /bin/* | /sbin/*) die "--root : $tool doit être fourni par l'appelant (il agirait sur cette machine)" ;;
            esac
        done
    fi
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# The CLI runs from a neutral directory: `python -c` would otherwise import packages from the current one.
cd /

ROOT_OPT=()
if [ -n "$ROOT" ]; then
    ROOT_OPT=(--root "$ROOT")
fi

# ------------------------------------------------------------------------------------------ actions

# Print an action; run it unless --dry-run.
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    if [ "$DRY" = 0 ]; then
        "$@"
    fi
}

# Print an action described in words; true when it should be carried out.
announce() {
    printf '+ %s\n' "$*"
    [ "$DRY" = 0 ]
}

# Whether PATH's owner is other than OWNER (user:group). Under --root the users exist only in DIR/etc/passwd,
# not on this machine, so ownership cannot be read back: it is set whenever a file is written, and everywhere one
# of halfday's accounts should own something when FORCE_OWNER is 1 (a migration, or files the CLI made as root).
FORCE_OWNER=0
owner_differs() {
    [ -e "$1" ] || return 1
    if [ -n "$ROOT" ]; then
        case "$2" in
            *halfday*) [ "$FORCE_OWNER" = 1 ] ;;
            *) return 1 ;;
        esac
        return
    fi
    local current
    current="$(stat -c %U:%G "$1")"
    case "$2" in
        :*) [ "${current#*:}" != "${2#:}" ] ;; # :GROUP, whoever the user
        *) [ "$current" != "$2" ] ;;
    esac
}

# Give the target file or folder PATH the mode and owner, if it has not got them.
fix_mode_owner() {
    local path mode
    path="$(t "$1")"
    mode="$2"
    if [ -e "$path" ] && [ "$(stat -c %a "$path")" != "${mode#0}" ]; then
        run chmod "$mode" "$path"
    fi
    if owner_differs "$path" "$3"; then
        run chown "$3" "$path"
    fi
}

# ensure_dir DIR MODE OWNER
ensure_dir() {
    if [ ! -d "$(t "$1")" ]; then
        run install -d -m "$2" "$(t "$1")"
        if [ "$3" != root:root ]; then
            run chown "$3" "$(t "$1")"
        fi
    else
        fix_mode_owner "$1" "$2" "$3"
    fi
}

# place SRC DEST MODE OWNER [SHOWN]: install the file SRC as the target DEST unless it is already there, same
# bytes. SHOWN names SRC in the printed action.
# Sets CHANGED=1 when it wrote the file.
CHANGED=0
place() {
    local dest
    dest="$(t "$2")"
    CHANGED=0
    if [ -f "$dest" ] && cmp -s "$1" "$dest"; then
        fix_mode_owner "$2" "$3" "$4"
        return 0
    fi
    if announce "install -m $3 ${5:-$1} $dest"; then
        install -m "$3" "$1" "$dest"
    fi
    if [ "$4" != root:root ]; then
        run chown "$4" "$dest"
    fi
    CHANGED=1
}

# place_text DEST MODE OWNER < text
place_text() {
    local tmp
    tmp="$(mktemp -p "$WORK")"
    cat >"$tmp"
    place "$tmp" "$1" "$2" "$3" "(texte généré)"
}

# secret DEST OWNER: a random password in a new 0600 file; an existing one is kept (the broker knows it).
secret() {
    CHANGED=0
    if [ -f "$(t "$1")" ]; then
        fix_mode_owner "$1" 0600 "$2"
        return 0
    fi
    local tmp
    tmp="$(mktemp -p "$WORK")"
    "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$tmp"
    if announce "écrire un mot de passe aléatoire dans $1 (0600 $2)"; then
        install -m 0600 "$tmp" "$(t "$1")"
    fi
    if [ "$2" != root:root ]; then
        run chown "$2" "$(t "$1")"
    fi
    CHANGED=1
}

has_user() {
    if [ -n "$ROOT" ]; then
        grep -q "^$1:" "$ROOT/etc/passwd" 2>/dev/null
    else
        getent passwd "$1" >/dev/null
    fi
}

has_group() {
    if [ -n "$ROOT" ]; then
        grep -q "^$1:" "$ROOT/etc/group" 2>/dev/null
    else
        getent group "$1" >/dev/null
    fi
}

pkg_installed() {
    local admindir=()
    if [ -n "$ROOT" ]; then
        admindir=(--admindir="$ROOT/var/lib/dpkg")
    fi
    dpkg-query "${admindir[@]}" -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

unit_state() {
    systemctl "${ROOT_OPT[@]}" is-enabled "$1" 2>/dev/null || true
}

# The project's files that make the installed package and its lock: what the venv's stamp is computed from and pip
# is given.
source_paths() {
    local path
    for path in pyproject.toml "$LOCK" README.md access common halfday hardware kiosk sync bench; do
        if [ -e "$SOURCE/$path" ]; then
            printf '%s\n' "$path"
        fi
    done
}

source_digest() {
    local paths
    mapfile -t paths < <(source_paths)
    (cd "$SOURCE" && find "${paths[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 |
        sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

# The configuration as the CLI of this run must read it: under --root, a copy whose database path is under DIR.
cli_config() {
    if [ -z "$ROOT" ]; then
        printf '%s' "$CONFIG"
    else
        sed "s|sqlite:////|sqlite:///$ROOT/|" "$(t "$CONFIG")" >"$WORK/halfday.toml"
        printf '%s' "$WORK/halfday.toml"
    fi
}

HALFDAY="$(t "$VENV")/bin/halfday"
VPYTHON="$(t "$VENV")/bin/python"

# ---------------------------------------------------------------------------------------------- packages

echo "halfday : paquets"
missing=()
for package in "${PACKAGES[@]}"; do
    if ! pkg_installed "$package"; then
        missing+=("$package")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    run apt-get update
    run apt-get install -y --no-install-recommends "${missing[@]}"
fi

# ---------------------------------------------------------------------------------------------- accounts

echo "halfday : comptes"
# halfday-door, halfday-kiosk and halfday-sync, each with the group halfday as its own: a kiosk taken over cannot
# read the door's or sync's bus password, nor the hub's key. Only the door's unit adds the device groups (gpio,
# halfday-reader). halfday-screen runs the browser and can read nothing of halfday's.
for group in gpio halfday-reader "$GROUP"; do
    if ! has_group "$group"; then
        run groupadd "${ROOT_OPT[@]}" --system "$group"
    fi
done
for service in "${SERVICES[@]}"; do
    if ! has_user "halfday-$service"; then
        run useradd "${ROOT_OPT[@]}" --system --gid "$GROUP" --home-dir "$STATE" --no-create-home \
            --shell /usr/sbin/nologin --comment "halfday $service" "halfday-$service"
    fi
done
# Before, the three ran as one user, halfday (with the group halfday, kept as the shared group): every file it owns
# goes to its new owner below, the services restart as their own users, then the old user is removed.
MIGRATE=0
if has_user "$OLD_USER"; then
    MIGRATE=1
    FORCE_OWNER=1
    note "installation à un seul compte ($OLD_USER) : la porte, la borne et la synchro passent chacune sous le sien"
fi
# The mail worker's user exists on every appliance, [mail] or not: adding the section later needs only it and a run
# of this script. It is not one of the bus's: the worker reads and writes the ledger, and talks to no other process.
if ! has_user halfday-mail; then
    run useradd "${ROOT_OPT[@]}" --system --gid "$GROUP" --home-dir "$STATE" --no-create-home \
        --shell /usr/sbin/nologin --comment "halfday mail" halfday-mail
fi
# The nightly backup's user: it reads the ledger and writes the backups folder beside it, nothing else.
if ! has_user halfday-backup; then
    run useradd "${ROOT_OPT[@]}" --system --gid "$GROUP" --home-dir "$STATE" --no-create-home \
        --shell /usr/sbin/nologin --comment "halfday backup" halfday-backup
fi
if [ "$SCREEN" = 1 ] && ! has_user halfday-screen; then
    run useradd "${ROOT_OPT[@]}" --system --user-group --home-dir /var/lib/halfday-screen --no-create-home \
        --shell /usr/sbin/nologin --comment "halfday touchscreen" halfday-screen
fi

# ---------------------------------------------------------------------------------------------- folders

ensure_dir /etc 0755 root:root
ensure_dir $ETC 0755 root:root
ensure_dir $BUS_DIR 0750 root:$GROUP
ensure_dir /var/lib 0755 root:root
# Shared by the three: group-writable so that each may create the ledger's -wal and -shm, setgid so that whatever
# is created here belongs to the group. Owned by root, so that no service may open it to others.
ensure_dir $STATE 2770 root:$GROUP
# The nightly backups (halfday-backup) and the admin's "back up now" (the kiosk) both write here.
ensure_dir $STATE/backups 2770 root:$GROUP
ensure_dir /opt 0755 root:root
ensure_dir $OPT 0755 root:root
ensure_dir $OPT/bin 0755 root:root
ensure_dir /etc/systemd 0755 root:root
ensure_dir $UNIT_DIR 0755 root:root
ensure_dir /etc/udev 0755 root:root
ensure_dir /etc/udev/rules.d 0755 root:root
ensure_dir /etc/modprobe.d 0755 root:root

# ----------------------------------------------------------------------------------------- the software

echo "halfday : logiciel ($VENV)"
UPGRADED=0
if [ ! -x "$VPYTHON" ]; then
    run "$PYTHON" -m venv --system-site-packages "$(t "$VENV")"
fi
digest="$(source_digest)"
if [ "$(cat "$(t "$VENV")/.halfday-source" 2>/dev/null || true)" != "$digest" ]; then
    # pip builds from a copy: building in place would leave build/ and *.egg-info in the sources.
    mkdir -p "$WORK/src"
    mapfile -t paths < <(source_paths)
    tar -C "$SOURCE" --exclude=__pycache__ --exclude='*.pyc' -cf - "${paths[@]}" | tar -C "$WORK/src" -xf -
    # The dependencies exactly as locked: pip refuses any file whose sha256 is not in the lock, whatever an index
    # or a mirror serves. No build isolation: it would fetch setuptools and wheel unchecked to build an sdist
    # (pyDes); the distribution's build it.
    # shellcheck disable=SC2086 # HALFDAY_PIP_ARGS is a list of options
    run "$VPYTHON" -m pip install --quiet --disable-pip-version-check --require-hashes --no-build-isolation $PIP_ARGS \
        -r "$WORK/src/$LOCK"
    # Then halfday alone, built with the locked setuptools. --force-reinstall: the same version number with new
    # code would otherwise be kept.
    # shellcheck disable=SC2086
    run "$VPYTHON" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
        --force-reinstall $PIP_ARGS "$WORK/src"
    printf '%s\n' "$digest" | place_text "$VENV/.halfday-source" 0644 root:root
    UPGRADED=1
fi

# ------------------------------------------------------------------------------------- configuration

echo "halfday : configuration ($CONFIG)"
CONFIG_CHANGED=0
STATE_CHANGED=0
if [ ! -e "$(t "$CONFIG")" ]; then
    # Written once by `halfday init` and never overwritten: the manager owns it from then on. Created with a
    # private umask; the database stays 0600 and the configuration is made readable below (it holds no secret).
    ( umask 077 && run "$HALFDAY" --config "$(t "$CONFIG")" init --site-id "$SITE_ID" --name "$SITE_NAME" \
        --database "$(t "$DATABASE")" --pin-factory lgpio --reader usb )
    if [ -n "$ROOT" ]; then
        run sed -i "s|sqlite:///$ROOT/|sqlite:////|" "$(t "$CONFIG")"
    fi
    if [ "$DEVICE_ID" != door-1 ]; then
        # `halfday init` writes the default device id; this door is known by another (at the hub, in its events).
        run sed -i "s|^device = \"door-1\"|device = \"$DEVICE_ID\"|" "$(t "$CONFIG")"
    fi
    CONFIG_CHANGED=1
    STATE_CHANGED=1
elif [ "$UPGRADED" = 1 ] || [ ! -e "$(t "$DATABASE")" ]; then
    ( umask 077 && run "$HALFDAY" --config "$(cli_config)" migrate )
    STATE_CHANGED=1
fi
fix_mode_owner "$CONFIG" 0644 root:root

has_hub_section() {
    [ -f "$(t "$CONFIG")" ] && grep -q '^\[hub\]' "$(t "$CONFIG")"
}

toml_string() {
    "$PYTHON" -c 'import json, sys; print(json.dumps(sys.argv[1], ensure_ascii=False))' "$1"
}

# A new password (the hub reset it) or new TLS files: sync reads them at start only.
HUB_FILES_CHANGED=0
if [ -n "$HUB_URL" ]; then
    echo "halfday : lien avec le hub ($HUB_URL)"
    if [ "$SITE_ID_GIVEN$DEVICE_ID_GIVEN" != 00 ] && [ -f "$(t "$CONFIG")" ] && [ -x "$VPYTHON" ]; then
        # The hub's account for this door names a site and a device: a configuration that says otherwise would
        # have every message refused by the hub's broker. Its ids are not changed here: its events carry them.
        ids="$("$VPYTHON" -c \
            'import sys; from access.config import load_config; s = load_config(sys.argv[1]).site; print(s.id, s.device)' \
            "$(cli_config)")" || die "$CONFIG ne passe pas la validation : corrigez-la avant de rejoindre le hub"
        read -r have_site have_device <<<"$ids"
        if [ "$SITE_ID_GIVEN" = 1 ] && [ "$have_site" != "$SITE_ID" ]; then
            die "$CONFIG est celle du site « $have_site », pas « $SITE_ID » : enregistrez la porte au hub sous ce site"
        fi
        if [ "$DEVICE_ID_GIVEN" = 1 ] && [ "$have_device" != "$DEVICE_ID" ]; then
            die "ce boîtier est « $have_device » dans $CONFIG, pas « $DEVICE_ID » : enregistrez la porte au hub sous ce nom"
        fi
    fi
    ensure_dir $HUB_DIR 0750 root:$GROUP
    # The CA and the client certificate are public; the key and the password are sync's alone.
    hub_keys=()
    if [ -n "$HUB_CA" ]; then
        place "$HUB_CA" $HUB_DIR/ca.pem 0644 root:root
        HUB_FILES_CHANGED=$((HUB_FILES_CHANGED | CHANGED))
        hub_keys+=("ca_file = \"$HUB_DIR/ca.pem\"")
    fi
    if [ -n "$HUB_CERT" ]; then
        place "$HUB_CERT" $HUB_DIR/client.pem 0644 root:root
        HUB_FILES_CHANGED=$((HUB_FILES_CHANGED | CHANGED))
        place "$HUB_KEY" $HUB_DIR/client.key 0600 halfday-sync:$GROUP
        HUB_FILES_CHANGED=$((HUB_FILES_CHANGED | CHANGED))
        hub_keys+=("cert_file = \"$HUB_DIR/client.pem\"" "key_file = \"$HUB_DIR/client.key\"")
    fi
    if [ -n "$HUB_PASSWORD_FILE" ]; then
        place "$HUB_PASSWORD_FILE" $HUB_DIR/password 0600 halfday-sync:$GROUP
        HUB_FILES_CHANGED=$((HUB_FILES_CHANGED | CHANGED))
        hub_keys+=("password_file = \"$HUB_DIR/password\"")
    fi
    if has_hub_section; then
        note "[hub] figure déjà dans $CONFIG : laissé tel quel"
    else
        {
            printf '\n[hub]                             # added by install-pi.sh\n'
            printf 'url = %s\n' "$(toml_string "$HUB_URL")"
            printf 'public_key = %s\n' "$(toml_string "$HUB_PUBLIC_KEY")"
            if [ -n "$HUB_USERNAME" ]; then
                printf 'username = %s\n' "$(toml_string "$HUB_USERNAME")"
            fi
            if [ "${#hub_keys[@]}" -gt 0 ]; then
                printf '%s\n' "${hub_keys[@]}"
            fi
        } >"$WORK/hub.toml"
        if [ -f "$(t "$CONFIG")" ] && [ -x "$VPYTHON" ]; then
            # Check the section with halfday's own validation before it goes into the file.
            cat "$(cli_config)" "$WORK/hub.toml" >"$WORK/candidate.toml"
            "$VPYTHON" -c 'import sys; from access.config import load_config; load_config(sys.argv[1])' \
                "$WORK/candidate.toml" || die "la section [hub] ne passe pas la validation : rien n'a changé"
        fi
        if announce "ajouter la section [hub] à $CONFIG"; then
            cat "$WORK/hub.toml" >>"$(t "$CONFIG")"
        fi
        CONFIG_CHANGED=1
    fi
fi
if [ -z "$HUB_URL" ] && [ -d "$(t $HUB_DIR)" ]; then
    # Whatever this run's options, the hub's private files are sync's (an install migrated without --hub-* too).
    ensure_dir $HUB_DIR 0750 root:$GROUP
    for file in $HUB_DIR/client.key $HUB_DIR/password; do
        fix_mode_owner "$file" 0600 "halfday-sync:$GROUP"
    done
fi
NETWORKED=0
if has_hub_section || { [ "$DRY" = 1 ] && [ -n "$HUB_URL" ]; }; then
    NETWORKED=1
fi

# ------------------------------------------------------------------------------------------------ e-mail

# The manager writes [mail] (the association's server, see README.md); this script gives the worker its password,
# and runs it only while the section is there. Four lines: whether [mail] is there, whether it has a user, its
# password_file, and a digest of the table, kept below so that a change to it restarts the worker.
mail_info="$(
    "$PYTHON" - "$(t "$CONFIG")" <<'PY'
import hashlib
import json
import sys
import tomllib

try:
    with open(sys.argv[1], "rb") as f:
        mail = tomllib.load(f).get("mail")
except FileNotFoundError:
    mail = None  # --dry-run before the configuration exists
except tomllib.TOMLDecodeError as exc:
    sys.exit(f"install-pi : {sys.argv[1]} : {exc}")
if isinstance(mail, dict):
    digest = hashlib.sha256(json.dumps(mail, sort_keys=True, default=str).encode()).hexdigest()
    print(1, int(mail.get("user") is not None), str(mail.get("password_file", "")), digest, sep="\n")
else:
    print(0, 0, "", "", sep="\n")
PY
)" || die "$CONFIG n'est pas un TOML lisible : corrigez-le avant d'installer"
mapfile -t mail_fields <<<"$mail_info"
MAIL=${mail_fields[0]}
echo "halfday : e-mails ($([ "$MAIL" = 1 ] && echo "[mail] présent" || echo "pas de section [mail]"))"
if [ "$MAIL" = 1 ]; then
    # Checked before anything is placed: the worker could read no other file (ProtectHome=, and 0600 to it alone).
    if [ -n "${mail_fields[2]}" ] && [ "${mail_fields[2]}" != "$MAIL_PASSWORD" ]; then
        die "[mail] password_file = « ${mail_fields[2]} » dans $CONFIG : écrivez password_file = \"$MAIL_PASSWORD\", le fichier que ce script place (--mail-password-file), lisible du seul service d'envoi"
    fi
    if [ "${mail_fields[1]}" = 1 ] && [ ! -f "$(t $MAIL_PASSWORD)" ] && [ -z "$MAIL_PASSWORD_FILE" ]; then
        die "[mail] a un user mais $MAIL_PASSWORD n'existe pas : relancez avec --mail-password-file FICHIER"
    fi
fi
# A new password or a new [mail]: the worker reads both at its start only.
MAIL_FILES_CHANGED=0
if [ -n "$MAIL_PASSWORD_FILE" ]; then
    place "$MAIL_PASSWORD_FILE" $MAIL_PASSWORD 0600 halfday-mail:$GROUP
    MAIL_FILES_CHANGED=$CHANGED
else
    # Whatever this run's options: the password the worker reads must stay its alone (read_private_file).
    fix_mode_owner $MAIL_PASSWORD 0600 halfday-mail:$GROUP
fi
if [ "$MAIL" = 1 ]; then
    if [ -x "$VPYTHON" ] && [ "$DRY" = 0 ]; then
        # The door and the kiosk read the whole configuration too: a wrong [mail] would stop them at their start.
        "$VPYTHON" -c 'import sys; from access.config import load_config; load_config(sys.argv[1])' "$(cli_config)" ||
            die "$CONFIG ne passe pas la validation : corrigez [mail] (le service d'envoi n'est pas activé)"
    fi
    printf '%s\n' "${mail_fields[3]}" | place_text $MAIL_STAMP 0644 root:root
    MAIL_FILES_CHANGED=$((MAIL_FILES_CHANGED | CHANGED))
elif [ -n "$MAIL_PASSWORD_FILE" ]; then
    note "pas de section [mail] dans $CONFIG : le mot de passe est en place ; ajoutez-la puis relancez ce script"
fi

# ------------------------------------------------------------------------------------------ Home Assistant

# The manager writes [homeassistant] (the site's own broker, see README.md); this script gives the bridge its
# password and runs it only while the section is there. Three lines: whether the section is there, whether it has a
# username, its password_file.
ha_info="$(
    "$PYTHON" - "$(t "$CONFIG")" <<'PY'
import sys
import tomllib

try:
    with open(sys.argv[1], "rb") as f:
        section = tomllib.load(f).get("homeassistant")
except FileNotFoundError:
    section = None  # --dry-run before the configuration exists
except tomllib.TOMLDecodeError as exc:
    sys.exit(f"install-pi : {sys.argv[1]} : {exc}")
if isinstance(section, dict):
    print(1, int(section.get("username") is not None), str(section.get("password_file", "")), sep="\n")
else:
    print(0, 0, "", sep="\n")
PY
)" || die "$CONFIG n'est pas un TOML lisible : corrigez-le avant d'installer"
mapfile -t ha_fields <<<"$ha_info"
HA=${ha_fields[0]}
echo "halfday : Home Assistant ($([ "$HA" = 1 ] && echo "[homeassistant] présent" || echo "pas de section [homeassistant]"))"
if [ "$HA" = 1 ]; then
    if [ -n "${ha_fields[2]}" ] && [ "${ha_fields[2]}" != "$HA_PASSWORD" ]; then
        die "[homeassistant] password_file = « ${ha_fields[2]} » dans $CONFIG : écrivez password_file = \"$HA_PASSWORD\", le fichier que ce script place (--homeassistant-password-file), lisible du seul pont"
    fi
    if [ "${ha_fields[1]}" = 1 ] && [ ! -f "$(t $HA_PASSWORD)" ] && [ -z "$HA_PASSWORD_FILE" ]; then
        die "[homeassistant] a un username mais $HA_PASSWORD n'existe pas : relancez avec --homeassistant-password-file FICHIER"
    fi
fi
HA_FILES_CHANGED=0
if [ -n "$HA_PASSWORD_FILE" ]; then
    place "$HA_PASSWORD_FILE" $HA_PASSWORD 0600 halfday-homeassistant:$GROUP
    HA_FILES_CHANGED=$CHANGED
else
    fix_mode_owner $HA_PASSWORD 0600 halfday-homeassistant:$GROUP
fi
if [ "$HA" = 1 ] && [ -x "$VPYTHON" ] && [ "$DRY" = 0 ]; then
    # The door and the kiosk read the whole configuration too: a wrong [homeassistant] would stop them at start.
    "$VPYTHON" -c 'import sys; from access.config import load_config; load_config(sys.argv[1])' "$(cli_config)" ||
        die "$CONFIG ne passe pas la validation : corrigez [homeassistant] (le pont n'est pas activé)"
fi

# ------------------------------------------------------------------------------------------ manager password

password_set() {
    [ -x "$VPYTHON" ] && [ -f "$(t "$CONFIG")" ] || return 1
    "$VPYTHON" - "$(cli_config)" <<'PY'
import sys

from access.config import load_config
from access.db import Database
from access.store import get_meta
from kiosk.auth import PASSWORD_META

database = Database(load_config(sys.argv[1]).database_url)
try:
    with database.read() as session:
        sys.exit(0 if get_meta(session, PASSWORD_META) else 1)
finally:
    database.dispose()
PY
}

if ! password_set 2>/dev/null; then
    if [ -n "${HALFDAY_MANAGER_PASSWORD:-}" ]; then
        if announce "halfday kiosk password (mot de passe de l'accueil, depuis HALFDAY_MANAGER_PASSWORD)"; then
            ( umask 077 && printf '%s\n' "$HALFDAY_MANAGER_PASSWORD" | "$HALFDAY" kiosk --config "$(cli_config)" password )
        fi
        STATE_CHANGED=1
    elif [ -t 0 ] && [ "$DRY" = 0 ]; then
        echo "Choisissez le mot de passe de l'accueil (8 caractères au moins) :"
        ( umask 077 && run "$HALFDAY" kiosk --config "$(cli_config)" password )
        STATE_CHANGED=1
    else
        note "pas encore de mot de passe de l'accueil : lancez « sudo $VENV/bin/halfday kiosk password »"
    fi
fi

# ------------------------------------------------------------------------------------------ HTTPS certificate

# The site's network reaches the admin and the wall display over HTTPS only, under a certificate made here, once
# (kiosk/tls.py): the manager compares its fingerprint, shown on the wall display, with the browser's.
certificate_made() {
    [ -x "$VPYTHON" ] && [ -f "$(t "$CONFIG")" ] || return 1
    "$VPYTHON" - "$(cli_config)" <<'PY'
import sys

from access.config import load_config
from kiosk.tls import certificate_files

config = load_config(sys.argv[1])
files = certificate_files(config)
sys.exit(0 if not config.kiosk.lan_host or (files.certificate.is_file() and files.key.is_file()) else 1)
PY
}

if ! certificate_made 2>/dev/null; then
    if announce "halfday kiosk certificate (certificat HTTPS de l'accueil ; son empreinte s'affiche au tableau mural)"; then
        ( umask 077 && "$HALFDAY" kiosk --config "$(cli_config)" certificate )
    fi
    STATE_CHANGED=1
fi

# Who owns each file of the state folder, and its mode, as OWNER MODE (OWNER :GROUP: whoever the user). The ledger
# is the three services': SQLite gives its -wal and -shm the database's mode and they belong to whichever service
# opened it first. The kiosk's secrets and sync's own state are theirs alone. The names are the code's
# (kiosk/auth.py, kiosk/vouchers.py, sync/agent/__init__.py); other files are left to whoever made them.
state_file_owner() {
    local ledger="${DATABASE##*/}"
    case "$1" in
        "$ledger") echo "root:$GROUP 0660" ;;
        "$ledger"-wal | "$ledger"-shm | "$ledger"-journal) echo ":$GROUP 0660" ;;
        kiosk-secret.key | voucher.key | kiosk-tls.key) echo "halfday-kiosk:$GROUP 0600" ;;
        kiosk-tls.crt) echo "halfday-kiosk:$GROUP 0644" ;;
        door-snapshot.json | door-rescue.jsonl) echo "halfday-door:$GROUP 0600" ;;
        sync-state.sqlite | sync-state.sqlite-wal | sync-state.sqlite-shm | sync-state.sqlite-journal)
            echo "halfday-sync:$GROUP 0600" ;;
        *) return 1 ;;
    esac
}

if [ "$MIGRATE" = 1 ]; then
    echo "halfday : fichiers de l'ancien compte $OLD_USER"
    if [ -z "$ROOT" ]; then
        # Until the new units start, at the end: an old one restarting now would take the folder back for the old
        # user (its StateDirectory=), and its process could not read its password any more.
        for service in "${SERVICES[@]}"; do
            if systemctl is-active --quiet "halfday-$service.service"; then
                run systemctl stop "halfday-$service.service"
            fi
        done
        ensure_dir $STATE 2770 root:$GROUP
        # Everything of the old user's goes to root, in the group; the files below then go to their owners.
        if [ -n "$(find "$STATE" -user "$OLD_USER" -print -quit)" ]; then
            run find "$STATE" -user "$OLD_USER" -exec chown "root:$GROUP" '{}' +
        fi
    else
        run chown -R "root:$GROUP" "$(t "$STATE")"
    fi
fi
# The CLI ran as root (the ledger it made is 0600 root): under --root, give every file its owner again.
if [ "$STATE_CHANGED" = 1 ]; then
    FORCE_OWNER=1
fi
for path in "$(t "$STATE")"/* "$(t "$STATE")"/.[!.]*; do
    if [ -f "$path" ] && [ ! -L "$path" ] && spec="$(state_file_owner "${path##*/}")"; then
        fix_mode_owner "$STATE/${path##*/}" "${spec#* }" "${spec% *}"
    fi
done
FORCE_OWNER=$MIGRATE
if [ "$DRY" = 1 ] && [ ! -e "$(t "$DATABASE")" ]; then
    # What `halfday init` would have made, had this not been a dry run.
    run chown "root:$GROUP" "$(t "$DATABASE")"
    run chmod 0660 "$(t "$DATABASE")"
fi

# ------------------------------------------------------------------------------------------------ local bus

echo "halfday : bus local (Mosquitto sur 127.0.0.1)"
BUS_DIRTY=0
NEW_BUS_USERS=0
# Each password readable by its own service's user alone: the kiosk cannot connect as the door, nor as sync.
for service in "${SERVICES[@]}"; do
    secret "$BUS_DIR/$service.password" "halfday-$service:$GROUP"
    NEW_BUS_USERS=$((NEW_BUS_USERS + CHANGED))
done
passwd_users="$(cut -d: -f1 "$(t "$ETC/mosquitto.passwd")" 2>/dev/null | sort | tr '\n' ' ' || true)"
bus_users="$(printf '%s\n' "${SERVICES[@]}" | sort | tr '\n' ' ')"
if [ "$NEW_BUS_USERS" -gt 0 ] || [ "$passwd_users" != "$bus_users" ]; then
    # The broker's file holds only salted hashes (mosquitto_passwd -U hashes a file of user:password in place).
    if [ "$DRY" = 0 ]; then
        : >"$WORK/mosquitto.passwd"
        for service in "${SERVICES[@]}"; do
            printf '%s:%s\n' "$service" "$(cat "$(t "$BUS_DIR/$service.password")")" >>"$WORK/mosquitto.passwd"
        done
        mosquitto_passwd -U "$WORK/mosquitto.passwd"
    fi
    if announce "mosquitto_passwd -U : les empreintes de ${SERVICES[*]} dans $ETC/mosquitto.passwd (0600 mosquitto)"; then
        install -m 0600 "$WORK/mosquitto.passwd" "$(t "$ETC/mosquitto.passwd")"
    fi
    run chown mosquitto:mosquitto "$(t "$ETC/mosquitto.passwd")"
    BUS_DIRTY=1
else
    fix_mode_owner "$ETC/mosquitto.passwd" 0600 mosquitto:mosquitto
fi
place "$SOURCE/systemd/halfday-bus.conf" $ETC/mosquitto.conf 0644 root:root
BUS_DIRTY=$((BUS_DIRTY | CHANGED))
place "$SOURCE/systemd/halfday-bus.acl" $ETC/mosquitto.acl 0644 root:root
BUS_DIRTY=$((BUS_DIRTY | CHANGED))

# ------------------------------------------------------------------------------------------ devices

echo "halfday : lecteur NFC et GPIO"
place "$SOURCE/systemd/60-halfday.rules" /etc/udev/rules.d/60-halfday.rules 0644 root:root
UDEV_CHANGED=$CHANGED
place "$SOURCE/install/halfday-nfc.conf" /etc/modprobe.d/halfday-nfc.conf 0644 root:root

# ------------------------------------------------------------------------------------------ touchscreen

SCREEN_DIRTY=0
if [ "$SCREEN" = 1 ]; then
    echo "halfday : écran tactile"
    read -r kiosk_host kiosk_port < <(
        "$PYTHON" - "$(t "$CONFIG")" <<'PY'
import sys
import tomllib

try:
    with open(sys.argv[1], "rb") as f:
        kiosk = tomllib.load(f).get("kiosk", {})
except FileNotFoundError:
    kiosk = {}  # --dry-run before the configuration exists: init's defaults
print(kiosk.get("host", "127.0.0.1"), kiosk.get("port", 8080))
PY
    )
    [ -n "${kiosk_port:-}" ] || die "$CONFIG : [kiosk] illisible"
    case "$kiosk_host" in
        0.0.0.0 | "" | :: | localhost) kiosk_host=127.0.0.1 ;;
        127.*) ;;
        *) note "[kiosk] host = $kiosk_host : l'écran n'atteint que 127.0.0.1 (IPAddressAllow de halfday-screen)" ;;
    esac
    origin="http://$kiosk_host:$kiosk_port"
    printf '# Written by install/install-pi.sh from [kiosk] in %s: run it again after changing the port.\nHALFDAY_SCREEN_URL=%s/\n' \
        "$CONFIG" "$origin" | place_text $ETC/screen.env 0644 root:root
    SCREEN_DIRTY=$((SCREEN_DIRTY | CHANGED))
    place "$SOURCE/systemd/halfday-screen-session" $OPT/bin/halfday-screen-session 0755 root:root
    SCREEN_DIRTY=$((SCREEN_DIRTY | CHANGED))
    # Chromium's managed policy: the kiosk's address and nothing else, no developer tools, no downloads, sounds
    # without a tap first (the door's chimes).
    ensure_dir /etc/chromium 0755 root:root
    ensure_dir /etc/chromium/policies 0755 root:root
    ensure_dir /etc/chromium/policies/managed 0755 root:root
    sed "s|@KIOSK_ORIGIN@|$origin|" "$SOURCE/install/chromium-policy.json" |
        place_text /etc/chromium/policies/managed/halfday.json 0644 root:root
    SCREEN_DIRTY=$((SCREEN_DIRTY | CHANGED))
fi

# ---------------------------------------------------------------------------------------------- services

echo "halfday : services"
UNITS_CHANGED=0
declare -A DIRTY=()
for unit in "${APPLIANCE_UNITS[@]}"; do
    place "$SOURCE/systemd/$unit.service" "$UNIT_DIR/$unit.service" 0644 root:root
    UNITS_CHANGED=$((UNITS_CHANGED | CHANGED))
    DIRTY[$unit]=$CHANGED
done
# The retention of personal data (PRIVACY.md): a service run once a night by its timer, on every appliance.
for file in halfday-privacy.service halfday-privacy.timer; do
    place "$SOURCE/systemd/$file" "$UNIT_DIR/$file" 0644 root:root
    UNITS_CHANGED=$((UNITS_CHANGED | CHANGED))
done
# The backup is a oneshot started by its timer: the timer is what is enabled and started.
place "$SOURCE/systemd/halfday-backup.timer" "$UNIT_DIR/halfday-backup.timer" 0644 root:root
UNITS_CHANGED=$((UNITS_CHANGED | CHANGED))
# New code, a new configuration or a new bus password: the daemons must start again to use them.
for unit in halfday-door halfday-kiosk halfday-sync halfday-homeassistant; do
    DIRTY[$unit]=$((DIRTY[$unit] | UPGRADED | CONFIG_CHANGED | NEW_BUS_USERS > 0))
done
DIRTY[halfday-homeassistant]=$((DIRTY[halfday-homeassistant] | HA_FILES_CHANGED))
DIRTY[halfday-sync]=$((DIRTY[halfday-sync] | HUB_FILES_CHANGED))
# The mail worker does not use the bus: its own files, the code and the configuration.
DIRTY[halfday-mail]=$((DIRTY[halfday-mail] | UPGRADED | CONFIG_CHANGED | MAIL_FILES_CHANGED))
DIRTY[halfday-bus]=$((DIRTY[halfday-bus] | BUS_DIRTY))
if [ "$SCREEN" = 1 ]; then
    DIRTY[halfday-screen]=$((DIRTY[halfday-screen] | SCREEN_DIRTY))
fi

# Debian's own broker would take port 1883 (and listen with its own rules): halfday-bus replaces it.
if [ "$(unit_state mosquitto.service)" != masked ]; then
    if [ -n "$ROOT" ]; then
        run systemctl "${ROOT_OPT[@]}" mask mosquitto.service
    else
        run systemctl mask --now mosquitto.service
    fi
fi

WANTED=(halfday-bus halfday-door halfday-kiosk)
if [ "$NETWORKED" = 1 ]; then
    WANTED+=(halfday-sync)
elif [ "$(unit_state halfday-sync.service)" = enabled ]; then
    # Without [hub] the agent has nothing to do and would only fail and restart.
    run systemctl "${ROOT_OPT[@]}" disable halfday-sync.service
    if [ -z "$ROOT" ]; then
        run systemctl stop halfday-sync.service
    fi
fi
if [ "$MAIL" = 1 ]; then
    WANTED+=(halfday-mail)
elif [ "$(unit_state halfday-mail.service)" = enabled ]; then
    # [mail] removed: no notice is written any more, and the worker would only fail to read its configuration.
    run systemctl "${ROOT_OPT[@]}" disable halfday-mail.service
    if [ -z "$ROOT" ]; then
        run systemctl stop halfday-mail.service
    fi
fi
if [ "$HA" = 1 ]; then
    WANTED+=(halfday-homeassistant)
elif [ "$(unit_state halfday-homeassistant.service)" = enabled ]; then
    # [homeassistant] removed: the bridge would only fail to read its configuration.
    run systemctl "${ROOT_OPT[@]}" disable halfday-homeassistant.service
    if [ -z "$ROOT" ]; then
        run systemctl stop halfday-homeassistant.service
    fi
fi
if [ "$SCREEN" = 1 ]; then
    WANTED+=(halfday-screen)
elif [ "$(unit_state halfday-screen.service)" = enabled ]; then
    run systemctl "${ROOT_OPT[@]}" disable halfday-screen.service
fi
for unit in "${WANTED[@]}"; do
    if [ "$(unit_state "$unit.service")" != enabled ]; then
        run systemctl "${ROOT_OPT[@]}" enable "$unit.service"
    fi
done
if [ "$(unit_state halfday-privacy.timer)" != enabled ]; then
    run systemctl "${ROOT_OPT[@]}" enable halfday-privacy.timer
fi
if [ "$(unit_state halfday-backup.timer)" != enabled ]; then
    run systemctl "${ROOT_OPT[@]}" enable halfday-backup.timer
fi

if [ -n "$ROOT" ]; then
    note "--root : ni udevadm, ni modprobe, ni démarrage des services (rien ne tourne dans $ROOT)"
else
    if [ "$UDEV_CHANGED" = 1 ]; then
        run udevadm control --reload
        run udevadm trigger --action=change --subsystem-match=usb --subsystem-match=gpio
    fi
    for module in pn533_usb port100; do
        if [ -d "/sys/module/$module" ] && ! run modprobe -r "$module"; then
            note "le module $module est occupé : redémarrez pour libérer le lecteur"
        fi
    done
    if [ "$UNITS_CHANGED" = 1 ]; then
        run systemctl daemon-reload
    fi
    if ! systemctl is-active --quiet halfday-backup.timer; then
        run systemctl start halfday-backup.timer
    fi
    for unit in "${WANTED[@]}"; do
        if [ "${DIRTY[$unit]}" = 1 ]; then
            run systemctl restart "$unit.service"
        elif ! systemctl is-active --quiet "$unit.service"; then
            run systemctl start "$unit.service"
        fi
    done
    if ! systemctl is-active --quiet halfday-privacy.timer; then
        run systemctl start halfday-privacy.timer
    fi
fi

if [ "$MIGRATE" = 1 ]; then
    # Nothing runs as the old user any more, and it owns nothing: its group stays, the three's. userdel says so.
    if ! run userdel "${ROOT_OPT[@]}" "$OLD_USER"; then
        note "le compte $OLD_USER n'a pas pu être supprimé (un processus l'utilise encore ?) : relancez ce script"
    fi
fi

echo "halfday : installé."
if [ "$NETWORKED" = 0 ]; then
    note "site autonome : pour rejoindre un hub, relancez avec --hub-url, --hub-public-key et les fichiers TLS"
fi
