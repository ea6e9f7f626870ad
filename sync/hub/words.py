"""The hub pages speak French first; these are their English words (message ids are the French texts)."""

from __future__ import annotations

from flask import request, session

LANGUAGES = ("fr", "en")

ENGLISH = {
    "Réseau halfday": "halfday network",
    "Portes": "Doors",
    "Membres": "Members",
    "Usage du mois": "Month's usage",
    "Ventes": "Sales",
    "Dépassements": "Overdrafts",
    "Site": "Site",
    "Porte": "Door",
    "En ligne": "Online",
    "Hors ligne": "Offline",
    "Vu pour la dernière fois": "Last seen",
    "En attente sur la porte": "Waiting at the door",
    "Événements reçus": "Events received",
    "Aucune porte pour l'instant.": "No door yet.",
    "Nom": "Name",
    "Courriel": "Email",
    "Badges": "Badges",
    "Formules": "Plans",
    "Solde": "Balance",
    "Actif": "Active",
    "Révoquer": "Revoke",
    "Ajouter un membre": "Add a member",
    "Prénom": "First name",
    "Ajouter": "Add",
    "Membre ajouté.": "Member added.",
    "Badge révoqué : les portes le refusent dès le prochain registre.": (
        "Badge revoked: doors refuse it from the next roster."
    ),
    "Ce badge n'était pas actif.": "This badge was not active.",
    "Le prénom est obligatoire.": "The first name is required.",
    "Mois": "Month",
    "Voir": "Show",
    "Par membre": "Per member",
    "Par site": "Per site",
    "Demi-journées": "Half-days",
    "Membres (demi-journées)": "Members (half-days)",
    "Passes": "Passes",
    "Total": "Total",
    "Exporter en CSV": "Export as CSV",
    "Date": "Date",
    "Formule": "Plan",
    "Montant": "Amount",
    "Paiement": "Payment",
    "Payé": "Paid",
    "oui": "yes",
    "non": "no",
    "Acheteur": "Buyer",
    "Crédités": "Credited",
    "Utilisés": "Used",
    "Utilisés par site": "Used per site",
    "Aucun carnet en dépassement.": "No carnet overdrawn.",
    "Des sites hors ligne peuvent utiliser le même carnet en même temps : le hub le constate ici.": (
        "Offline sites may spend the same carnet at once: the hub shows it here."
    ),
    "Mot de passe": "Password",
    "Entrer": "Sign in",
    "Mot de passe incorrect.": "Wrong password.",
    "Session expirée, recommencez.": "Session expired, please try again.",
    "Mois invalide (AAAA-MM).": "Invalid month (YYYY-MM).",
}


def language() -> str:
    """`?lang=en` switches this browser to English (remembered); French otherwise."""
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        session["lang"] = chosen
    return "en" if session.get("lang") == "en" else "fr"


def translate(text: str) -> str:
    return ENGLISH.get(text, text) if language() == "en" else text
