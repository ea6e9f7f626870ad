"""What people are told about their data, where they give it (the short notice) and on the fuller page the kiosk
and the hub both serve: one text, so that the touchscreen, the admin and the hub never say different things.
PRIVACY.md is the association's register; this is what a member or a walk-in reads."""

from __future__ import annotations

from dataclasses import dataclass

from common.i18n import _, ngettext
from common.privacy import PrivacyConfig


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: tuple[str, ...]


def whom_to_ask(config: PrivacyConfig, association: str) -> str:
    """Whom to ask: the contact the association set, or its desk."""
    if config.contact:
        return _("%(association)s : %(contact)s", association=association, contact=config.contact)
    return _("l'accueil de %(association)s", association=association)


def months(n: int) -> str:
    return ngettext("%(num)d mois", "%(num)d mois", n)


def walk_in_notice(config: PrivacyConfig, association: str) -> str:
    """The few lines under the touchscreen's pass form."""
    return _(
        "Votre nom sert au pass, votre e-mail seulement au reçu. Passages gardés %(log)s, nom et e-mail "
        "%(walk_in)s. Pour les voir ou les effacer : %(whom)s.",
        log=months(config.access_log_months),
        walk_in=months(config.walk_in_months),
        whom=whom_to_ask(config, association),
    )


def member_notice(config: PrivacyConfig, association: str) -> str:
    """The few lines beside a member form (the admin's, the hub's)."""
    return _(
        "Pour la porte et la facturation, seuls le prénom et le badge sont nécessaires ; le nom et l'e-mail "
        "sont facultatifs (l'e-mail sert aux avis et relevés). Les passages sont gardés %(log)s, puis réduits "
        "aux demi-journées comptées. La personne peut obtenir ses données ou leur effacement : %(whom)s.",
        log=months(config.access_log_months),
        whom=whom_to_ask(config, association),
    )


def privacy_page(config: PrivacyConfig, association: str) -> tuple[Section, ...]:
    """The fuller page: what is kept, why, for how long, people's rights, whom to ask."""
    whom = whom_to_ask(config, association)
    return (
        Section(
            _("Qui est responsable"),
            (
                _(
                    "%(association)s gère ce lieu et ses données. Il les garde sur l'appareil de l'entrée et, si "
                    "le lieu fait partie d'un réseau, sur le serveur du réseau. Elles ne sont ni vendues ni "
                    "données à d'autres.",
                    association=association,
                ),
            ),
        ),
        Section(
            _("Ce que nous gardons et pourquoi"),
            (
                _(
                    "Membres : prénom, nom et e-mail s'ils sont donnés, badge, formule, solde, demi-journées "
                    "venues. Ils servent à ouvrir la porte, à décompter le carnet et à envoyer les avis demandés."
                ),
                _(
                    "Visiteurs de passage : le nom, pour le pass et la caisse ; l'e-mail seulement pour recevoir le "
                    "reçu par e-mail. Il n'est jamais obligatoire."
                ),
                _(
                    "Passages à la porte : qui, quand, avec quel badge. Ils servent à la sécurité du lieu et à "
                    "compter les demi-journées que les financeurs du lieu demandent."
                ),
            ),
        ),
        Section(
            _("Combien de temps"),
            (
                _(
                    "Passages avec nom et badge : %(log)s, puis il ne reste que les demi-journées comptées, sans "
                    "nom ni heure.",
                    log=months(config.access_log_months),
                ),
                _(
                    "Nom et e-mail des visiteurs sur les ventes et réservations : %(walk_in)s ; la vente reste "
                    "ensuite, sans nom, dans les comptes.",
                    walk_in=months(config.walk_in_months),
                ),
                ngettext(
                    "E-mails envoyés : %(num)d jour.",
                    "E-mails envoyés : %(num)d jours.",
                    config.sent_notices_days,
                ),
                _("Membres : tant qu'ils sont membres, ou jusqu'à leur demande d'effacement."),
            ),
        ),
        Section(
            _("Vos droits"),
            (
                _(
                    "Vous pouvez obtenir toutes vos données (fichier JSON et tableur), les faire corriger, ou les "
                    "faire effacer : votre nom, votre e-mail et votre badge disparaissent partout, à chaque porte ; "
                    "seules restent, sans vous nommer, les demi-journées comptées et les ventes, que la loi demande "
                    "de garder."
                ),
                _(
                    "Vous pouvez aussi vous opposer à un usage, ou saisir la CNIL (cnil.fr) si une demande reste "
                    "sans réponse."
                ),
            ),
        ),
        Section(_("À qui demander"), (whom,)),
    )
