"""Reading gettext catalogues into labelled text: what is kept, what is cleaned, what is dropped."""

from __future__ import annotations

from ops.nlp.gettext_corpus import build_corpus, clean, parse_po

CATALOGUE_DE = r'''
# Header entry: no source text, never kept.
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"

#: forms.py:10
msgid "Enter a valid value."
msgstr "Bitte einen gültigen Wert eingeben."

#, fuzzy
msgid "Guessed translation"
msgstr "Geratene Übersetzung"

msgid ""
"This field is "
"required."
msgstr ""
"Dieses Feld ist "
"zwingend erforderlich."

msgctxt "month name"
msgid "May"
msgstr "Mai"

msgid "%(count)d item"
msgid_plural "%(count)d items"
msgstr[0] "%(count)d Eintrag"
msgstr[1] "%(count)d Einträge"

msgid "Email"
msgstr "Email"

msgid "Say \"hi\""
msgstr "Sag \"hallo\""

msgid "Not translated yet"
msgstr ""

#~ msgid "Obsolete"
#~ msgstr "Veraltet"
'''

CATALOGUE_NL = r'''
msgid "May"
msgstr "Mei"

msgid "Email"
msgstr "E-mail"

msgid "Name"
msgstr "Naam"
'''


def test_parse_po_keeps_translated_singular_messages():
    pairs = dict(parse_po(CATALOGUE_DE))
    assert pairs["Enter a valid value."] == "Bitte einen gültigen Wert eingeben."
    assert pairs["This field is required."] == "Dieses Feld ist zwingend erforderlich."  # continued lines
    assert pairs["May"] == "Mai"
    assert pairs["%(count)d item"] == "%(count)d Eintrag"  # the singular form of a plural
    assert pairs['Say "hi"'] == 'Sag "hallo"'  # escapes undone
    assert "Guessed translation" not in pairs and "Not translated yet" not in pairs and "Obsolete" not in pairs
    assert "" not in pairs


def test_clean_drops_placeholders_and_markup():
    assert clean("%(count)d Eintrag") == "Eintrag"
    assert clean("Hallo {name}, <b>willkommen</b>  %s!") == "Hallo , willkommen !"


def test_build_corpus_labels_and_drops_what_would_mislabel():
    corpus = dict(build_corpus({"de": [CATALOGUE_DE], "nl": [CATALOGUE_NL]}))
    assert corpus["Dieses Feld ist zwingend erforderlich."] == "de"
    assert corpus["Mei"] == "nl" and corpus["Mai"] == "de"
    assert corpus["This field is required."] == "en"  # English from the source strings
    # "Email" is untranslated in de (dropped there) and the English source: it stays English only.
    assert corpus["Email"] == "en"
    assert corpus["Eintrag"] == "de"
    # "Name" is the English source and nothing else claims it; "Naam" is Dutch.
    assert corpus["Name"] == "en" and corpus["Naam"] == "nl"


def test_build_corpus_drops_text_claimed_by_two_languages():
    fr = 'msgid "Document"\nmsgstr "Dossier"\n'
    nl = 'msgid "Folder"\nmsgstr "Dossier"\n'
    corpus = dict(build_corpus({"fr": [fr], "nl": [nl]}))
    assert "Dossier" not in corpus and corpus["Document"] == "en"
