"""The one PDF writer: what it writes is text that pdftotext reads back, accents, euro sign and figures included."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from common.config import Association, ConfigError, Table, read_association
from common.pdf import Document, PdfError

LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 20" width="40" height="20">'
    '<rect width="40" height="20" fill="#1f4e79"/></svg>'
)


def text_of(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_a_document_reads_back_with_its_letterhead_table_and_chart(tmp_path: Path) -> None:
    logo = tmp_path / "logo.svg"
    logo.write_text(LOGO)
    doc = Document("Rapport de novembre 2026", Association("La Fabrique", ("2 rue Haute", "46000 Cahors"), str(logo)))
    doc.heading("Demi-journées utilisées")
    doc.paragraph("Objectif : 200 ; réalisé : 187 (93,5 %), pass à 12,50 €.")
    doc.table(["Usage", "Demi-journées"], [["Espace partagé", 120], ["Salle de réunion", 7]], numeric=[1])
    doc.svg('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 40"><text x="5" y="20">4242</text></svg>')
    text = text_of(doc.bytes(), tmp_path)
    for expected in ("La Fabrique", "46000 Cahors", "Rapport de novembre 2026", "12,50 €", "Salle de réunion", "4242"):
        assert expected in text
    assert [line.split()[-1] for line in text.splitlines() if "Espace partagé" in line] == ["120"]
    assert "La Fabrique — 1/1" in text


def test_a_long_table_repeats_on_each_page_with_page_numbers(tmp_path: Path) -> None:
    doc = Document("Journal", Association("La Fabrique"))
    doc.table(["N°", "Montant"], [[f"R-{n:05d}", n] for n in range(1, 201)], numeric=[1])
    text = text_of(doc.bytes(), tmp_path)
    assert "R-00001" in text and "R-00200" in text
    pages = text.count("\f") + (not text.endswith("\f"))
    assert pages > 2 and f"La Fabrique — {pages}/{pages}" in text
    assert text.count("Montant") == pages


def test_an_unreadable_logo_is_said_in_french(tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"not an image")
    with pytest.raises(PdfError, match=r"le logo .* ne peut pas être lu"):
        Document("Reçu", Association("La Fabrique", (), str(logo)))


def test_the_association_table_names_a_bad_key(tmp_path: Path) -> None:
    assert read_association(Table({}, "association"), "Le Local") == Association("Le Local")
    with pytest.raises(ConfigError, match=r"association\.logo"):
        read_association(Table({"logo": str(tmp_path / "absent.png")}, "association"), "Le Local")
    text = tmp_path / "logo.txt"
    text.write_text("x")
    with pytest.raises(ConfigError, match="PNG, JPEG ou SVG"):
        read_association(Table({"logo": str(text)}, "association"), "Le Local")
