"""The commented configuration that `halfday init` writes."""

from __future__ import annotations

import json

TEMPLATE = """\
# halfday : configuration du site. Relisez chaque section, puis lancez « halfday migrate ».
# halfday: this site's configuration. Every key is checked at start; a wrong one is named in the error.

[site]
id = "{site_id}"                  # short id: lowercase letters, digits, dashes
name = {site_name}
timezone = "Europe/Paris"         # the half-day slots are counted in this time zone
device = "door-1"                 # this appliance's id within the site
capacity = 20                     # people at once, for the wall display
monthly_target = 200              # half-day uses a month asked by the town or the funders

[slots]                           # local times; morning = [morning_start, noon), afternoon = [noon, afternoon_end);
                                  # an end at "23:59" (here, in plans' and the counter's hours) means up to midnight
morning_start = "08:00"
noon = "13:00"
afternoon_end = "20:00"

[database]
url = "sqlite:///{database_path}"

[bus]                             # the local MQTT bus between the door and the kiosk (loopback only)
url = "mqtt://127.0.0.1:1883"
# username = "door"
# password_file = "/etc/halfday/bus-password"

# [hub]                           # uncomment to join a network; without it the site stands alone
# url = "mqtts://hub.example.org:8883"
# public_key = "base64 Ed25519 key of the hub"
# username = "{site_id}-door-1"
# password_file = "/etc/halfday/hub-password"
# ca_file = "/etc/halfday/hub-ca.pem"

[door]
unlock_s = 5.0                    # how long the lock stays open after a granted badge
held_open_s = 60.0                # alarm when the door stays open longer than this
clock_unsure = "members"          # without a trusted clock: "members" (no end date) | "everyone" | "nobody"
trust_clock = false               # true only if the clock is kept right without NTP (or for the demo)
staffed = []                      # door left open while staffed, e.g. ["mon 09:00-12:00", "tue 14:00-18:00"]
# resource = "Salle du conseil"   # a room's own door: only its bookings and staff come in (README: bookings)

[kiosk]
host = "127.0.0.1"                # the touchscreen's browser, on the Pi itself: plain HTTP, never beyond loopback
port = 8080
lan_host = "0.0.0.0"              # the site's network gets the admin and the wall display here, over HTTPS only
lan_port = 8443                   # ("" as lan_host: no access from the network)
hostnames = []                    # names the site uses for the Pi besides its own, e.g. ["accueil.local"]
touchscreen_from = ["127.0.0.1", "::1"]  # addresses allowed the touchscreen's pages (buying, codes, passes)
# tls_certificate_file = "/etc/halfday/kiosk.crt"  # default: made at install, next to the database
# tls_key_file = "/etc/halfday/kiosk.key"
language = "fr"                   # "fr" | "en"
show_names = true                 # first names of recent arrivals on the wall display
price_halfday_cents = 800
price_day_cents = 1400
price_week_cents = 5000
price_month_cents = 15000
passes = ["pass_halfday", "pass_day", "pass_week", "pass_month"]  # the passes on sale at the touchscreen
late_minutes = 60                 # bought with less left of a half-day: the rest is free, the pass starts after
payment = ["counter", "voucher"]
counter_hours = ["mon-fri 08:00-20:00"]  # passes paid "at the counter" are sold only when someone can be paid
counter_unpaid_per_slot = 5       # and at most this many stay unpaid per half-day (each one opens the door)
counter_passes = ["pass_halfday", "pass_day"]  # passes payable at the counter; the others with a voucher, ahead

[rooms]                           # rooms and offices booked by the half-day
cancel = "day_before"             # a member may cancel their booking "day_before" (until the day before) | "never"

[privacy]                         # personal data (PRIVACY.md): how long it is kept, whom people ask
access_log_months = 3             # who came in when, with names and badges; then only the half-days counted
walk_in_months = 12               # walk-ins' names and e-mails on their sales, passes and bookings
sent_notices_days = 30            # e-mails sent to members, then deleted
# contact = "bureau@example.org"  # whom to ask for one's data or its erasure (default: the desk)

[backup]                          # `halfday backup`, every night and before an upgrade, into backups/ beside the base
keep_days = 14                    # copies older than this are removed (the newest one always stays)
# usb_folder = "/media/sauvegardes"  # a second copy on a USB stick mounted there (refused if it is not mounted)

# [mail]                          # e-mail notices through the association's own mail server; without this section
#                                 # no notice is written or sent (the admin says mail is off)
# host = "smtp.example.org"
# port = 587                      # default: 587 for "starttls", 465 for "tls", 25 for "none"
# security = "starttls"           # "starttls" | "tls" | "none" (none: only to a server on this machine)
# user = "accueil@example.org"
# password_file = "/etc/halfday/mail-password"  # readable by the mail worker's account only (chmod 600)
# ca_file = "/etc/halfday/mail-ca.pem"  # only if the server's certificate is not signed by a known authority
# from = "Mon tiers-lieu <accueil@example.org>"
# low_carnet_threshold = 2        # tell a member when an entry takes their carnet down to this many half-days
# plan_ending_days = 3            # tell a member this many days before their plan ends
# monthly_statements = true       # a statement of last month's half-days, on the 1st, to members who asked

# [books]                         # receipts and the accounting journal (docs/books.md); every key has a default
# series = "CAH-A"                # this door's receipt series (default: the device id in capitals); one per door
# vat_rate = 0                    # a percentage: 20 splits every amount into HT and TVA on receipts and journal
# vat_mention = "TVA non applicable, art. 293 B du CGI"  # printed on receipts when no rate is set
# [books.accounts]                # the chart's numbers the journal uses
# revenue = "706"
# advances = "4191"               # prepaid vouchers not yet spent
# customers = "411"
# vat = "44571"
# cash = "530"
# bank = "512"                    # card payments and transfers
# cheques = "5112"

# [alarms]                        # door forced, held open, reader gone, clock, roster, backlog, disk, backup
# mail_to = ["gerante@example.org"]  # told by e-mail (needs [mail]), at most once per alarm and hour
# language = "fr"                 # "fr" | "en"
# backlog_max_age_h = 4           # entries waiting longer than this for the hub raise "backlog"
# disk_min_free_percent = 10      # less free space than this on the ledger's disk raises "disk"
# backup_max_age_h = 26           # no good backup for this long (once `halfday backup` ran) raises "backup"
# expect_backups = false          # true: raise "backup" even before the first backup

# [homeassistant]                 # the site's own Home Assistant (MQTT discovery), never halfday's local bus
# url = "mqtt://192.168.1.10:1883"  # the site's broker; mqtts:// when allow_unlock is true
# username = "halfday"
# password_file = "/etc/halfday/homeassistant-password"  # readable by the bridge's account only (chmod 600)
# discovery_prefix = "homeassistant"
# language = "fr"                 # the entities' names, "fr" or "en" (default: the kiosk's language)
# allow_unlock = false            # true: Home Assistant gets a button that opens the door (logged as an unlock)

# [lab]                           # for a test bench only: each key accepts the danger it names
# plaintext_hub = true            # a hub reached by plain mqtt:// over the network
# plaintext_kiosk = true          # the kiosk's plain HTTP listener beyond loopback
# simulated_reader_with_real_pins = true  # the simulated reader (udp) driving a real lock

[hardware]
pin_factory = "{pin_factory}"     # "mock" simulates the pins; "lgpio" on a Raspberry Pi

[hardware.lock]
pin = 17
active_high = true
wiring = "fail-secure"            # "fail-secure": powered = open (strike); "fail-safe": powered = locked (maglock)

[hardware.door_sensor]
pin = 27
closed_when = "low"

[hardware.exit_button]
pin = 22

[hardware.indicator]
green_pin = 5
red_pin = 6
buzzer_pin = 13

[hardware.reader]
path = "{reader_path}"            # "usb", "tty:AMA0:pn532", or "udp:127.0.0.1:PORT" for the virtual card
targets = ["106A"]
debounce_s = 2.0
"""


def render(
    site_id: str,
    site_name: str,
    database_path: str,
    pin_factory: str = "mock",
    reader_path: str = "udp:127.0.0.1:54321",
) -> str:
    return TEMPLATE.format(
        site_id=site_id,
        site_name=json.dumps(site_name, ensure_ascii=False),
        database_path=database_path,
        pin_factory=pin_factory,
        reader_path=reader_path,
    )
