"""How `parallel.tsv` was written: in-domain templates and fixed lines, authored for this project.

Run `python -m ops.nlp.corpus.generate` to rewrite the file (deterministic). Each row is one
sentence in English, German, Spanish and French; `split` marks the held-out rows the quality asset
scores (unseen combinations of seen templates), the others train the demo model.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE / "parallel.tsv"
LANGS = ("en", "de", "es", "fr")

TICKERS = ("BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "AVAX", "DOT", "LINK", "LTC")
NUMBERS = tuple(str(n) for n in (2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 25, 30))
TIMES = (
    ("today", "heute", "hoy", "aujourd'hui"),
    ("yesterday", "gestern", "ayer", "hier"),
    ("this week", "diese Woche", "esta semana", "cette semaine"),
    ("this morning", "heute Morgen", "esta mañana", "ce matin"),
    ("on Monday", "am Montag", "el lunes", "lundi"),
    ("on Friday", "am Freitag", "el viernes", "vendredi"),
    ("last night", "letzte Nacht", "anoche", "la nuit dernière"),
)

# {T} ticker, {N} number, {W} time expression (per language).
TEMPLATES = (
    ("{T} rose {N} percent {W}.", "{T} stieg {W} um {N} Prozent.", "{T} subió un {N} por ciento {W}.",
     "{T} a progressé de {N} pour cent {W}."),
    ("{T} fell {N} percent {W}.", "{T} fiel {W} um {N} Prozent.", "{T} cayó un {N} por ciento {W}.",
     "{T} a reculé de {N} pour cent {W}."),
    ("Trading volume of {T} was high {W}.", "Das Handelsvolumen von {T} war {W} hoch.",
     "El volumen de negociación de {T} fue alto {W}.", "Le volume d'échange de {T} était élevé {W}."),
    ("Trading volume of {T} was low {W}.", "Das Handelsvolumen von {T} war {W} niedrig.",
     "El volumen de negociación de {T} fue bajo {W}.", "Le volume d'échange de {T} était faible {W}."),
    ("{T} is trading above its moving average.", "{T} notiert über seinem gleitenden Durchschnitt.",
     "{T} cotiza por encima de su media móvil.", "{T} s'échange au-dessus de sa moyenne mobile."),
    ("{T} is trading below its moving average.", "{T} notiert unter seinem gleitenden Durchschnitt.",
     "{T} cotiza por debajo de su media móvil.", "{T} s'échange en dessous de sa moyenne mobile."),
    ("Volatility of {T} increased {W}.", "Die Volatilität von {T} ist {W} gestiegen.",
     "La volatilidad de {T} aumentó {W}.", "La volatilité de {T} a augmenté {W}."),
    ("Volatility of {T} decreased {W}.", "Die Volatilität von {T} ist {W} gesunken.",
     "La volatilidad de {T} disminuyó {W}.", "La volatilité de {T} a diminué {W}."),
    ("Analysts expect {T} to rise.", "Analysten erwarten, dass {T} steigt.", "Los analistas esperan que {T} suba.",
     "Les analystes s'attendent à ce que {T} monte."),
    ("Analysts expect {T} to fall.", "Analysten erwarten, dass {T} fällt.", "Los analistas esperan que {T} baje.",
     "Les analystes s'attendent à ce que {T} baisse."),
    ("Buy {N} {T} at the market price.", "Kaufe {N} {T} zum Marktpreis.", "Compra {N} {T} al precio de mercado.",
     "Achète {N} {T} au prix du marché."),
    ("Sell {N} {T} at the market price.", "Verkaufe {N} {T} zum Marktpreis.", "Vende {N} {T} al precio de mercado.",
     "Vends {N} {T} au prix du marché."),
    ("The exchange listed {T} {W}.", "Die Börse hat {T} {W} gelistet.", "La plataforma listó {T} {W}.",
     "La plateforme a listé {T} {W}."),
    ("Funding rates for {T} turned negative {W}.", "Die Finanzierungsraten für {T} wurden {W} negativ.",
     "Las tasas de financiación de {T} se volvieron negativas {W}.",
     "Les taux de financement de {T} sont devenus négatifs {W}."),
    ("Large holders moved {N} thousand {T} {W}.", "Große Anleger haben {W} {N} tausend {T} bewegt.",
     "Los grandes tenedores movieron {N} mil {T} {W}.", "Les gros détenteurs ont déplacé {N} mille {T} {W}."),
    ("The order book for {T} is thin.", "Das Orderbuch für {T} ist dünn.",
     "El libro de órdenes de {T} es poco profundo.", "Le carnet d'ordres de {T} est peu profond."),
    ("{T} reached a new high {W}.", "{T} erreichte {W} ein neues Hoch.", "{T} alcanzó un nuevo máximo {W}.",
     "{T} a atteint un nouveau sommet {W}."),
    ("{T} reached a new low {W}.", "{T} erreichte {W} ein neues Tief.", "{T} alcanzó un nuevo mínimo {W}.",
     "{T} a atteint un nouveau plus bas {W}."),
    ("The spread on {T} widened {W}.", "Der Spread bei {T} hat sich {W} ausgeweitet.",
     "El diferencial de {T} se amplió {W}.", "L'écart sur {T} s'est creusé {W}."),
    ("{T} lost {N} percent in one hour.", "{T} verlor in einer Stunde {N} Prozent.",
     "{T} perdió un {N} por ciento en una hora.", "{T} a perdu {N} pour cent en une heure."),
    ("{T} gained {N} percent in one day.", "{T} gewann an einem Tag {N} Prozent.",
     "{T} ganó un {N} por ciento en un día.", "{T} a gagné {N} pour cent en une journée."),
    ("Open interest in {T} futures grew {W}.", "Das offene Interesse an {T}-Futures ist {W} gewachsen.",
     "El interés abierto en futuros de {T} creció {W}.",
     "L'intérêt ouvert sur les contrats à terme {T} a grimpé {W}."),
    ("Set a stop loss {N} percent below the entry.", "Setze einen Stop-Loss {N} Prozent unter dem Einstieg.",
     "Coloca un stop loss un {N} por ciento por debajo de la entrada.",
     "Place un stop loss à {N} pour cent sous le point d'entrée."),
    ("The {T} wallet received {N} transfers {W}.", "Die {T}-Wallet hat {W} {N} Überweisungen erhalten.",
     "La billetera de {T} recibió {N} transferencias {W}.", "Le portefeuille {T} a reçu {N} transferts {W}."),
    ("Fees on the {T} network rose {W}.", "Die Gebühren im {T}-Netzwerk sind {W} gestiegen.",
     "Las comisiones de la red {T} subieron {W}.", "Les frais du réseau {T} ont augmenté {W}."),
)

FIXED = (
    ("The market is calm.", "Der Markt ist ruhig.", "El mercado está tranquilo.", "Le marché est calme."),
    ("The market is volatile.", "Der Markt ist volatil.", "El mercado es volátil.", "Le marché est volatil."),
    ("Prices are rising.", "Die Preise steigen.", "Los precios suben.", "Les prix montent."),
    ("Prices are falling.", "Die Preise fallen.", "Los precios bajan.", "Les prix baissent."),
    ("Liquidity is low on weekends.", "Am Wochenende ist die Liquidität gering.",
     "La liquidez es baja los fines de semana.", "La liquidité est faible le week-end."),
    ("Never share your private key.", "Teile niemals deinen privaten Schlüssel.", "Nunca compartas tu clave privada.",
     "Ne partage jamais ta clé privée."),
    ("This address is linked to a scam.", "Diese Adresse ist mit einem Betrug verbunden.",
     "Esta dirección está vinculada a una estafa.", "Cette adresse est liée à une arnaque."),
    ("The transaction was confirmed.", "Die Transaktion wurde bestätigt.", "La transacción fue confirmada.",
     "La transaction a été confirmée."),
    ("The transaction failed.", "Die Transaktion ist fehlgeschlagen.", "La transacción falló.",
     "La transaction a échoué."),
    ("The block was mined.", "Der Block wurde geschürft.", "El bloque fue minado.", "Le bloc a été miné."),
    ("Gas prices are high.", "Die Gaspreise sind hoch.", "Los precios del gas son altos.",
     "Les prix du gaz sont élevés."),
    ("Gas prices are low.", "Die Gaspreise sind niedrig.", "Los precios del gas son bajos.",
     "Les prix du gaz sont bas."),
    ("The pool has enough liquidity.", "Der Pool hat genug Liquidität.", "El pool tiene suficiente liquidez.",
     "Le pool a assez de liquidité."),
    ("A sandwich attack was detected.", "Ein Sandwich-Angriff wurde erkannt.", "Se detectó un ataque sándwich.",
     "Une attaque sandwich a été détectée."),
    ("The bot made an arbitrage trade.", "Der Bot hat einen Arbitragehandel gemacht.",
     "El bot hizo una operación de arbitraje.", "Le bot a fait une opération d'arbitrage."),
    ("The wallet belongs to an exchange.", "Die Wallet gehört einer Börse.",
     "La billetera pertenece a una plataforma de intercambio.",
     "Le portefeuille appartient à une plateforme d'échange."),
    ("Check the contract before you approve it.", "Prüfe den Vertrag, bevor du ihn genehmigst.",
     "Revisa el contrato antes de aprobarlo.", "Vérifie le contrat avant de l'approuver."),
    ("The token has no liquidity.", "Der Token hat keine Liquidität.", "El token no tiene liquidez.",
     "Le jeton n'a pas de liquidité."),
    ("The price chart shows a clear trend.", "Der Kursverlauf zeigt einen klaren Trend.",
     "El gráfico de precios muestra una tendencia clara.", "Le graphique des prix montre une tendance claire."),
    ("Markets opened higher.", "Die Märkte eröffneten höher.", "Los mercados abrieron al alza.",
     "Les marchés ont ouvert en hausse."),
    ("Markets closed lower.", "Die Märkte schlossen tiefer.", "Los mercados cerraron a la baja.",
     "Les marchés ont clôturé en baisse."),
    ("The risk score of this address is high.", "Der Risikowert dieser Adresse ist hoch.",
     "La puntuación de riesgo de esta dirección es alta.", "Le score de risque de cette adresse est élevé."),
    ("The model predicts a small gain.", "Das Modell sagt einen kleinen Gewinn voraus.",
     "El modelo predice una pequeña ganancia.", "Le modèle prévoit un petit gain."),
    ("The model predicts a small loss.", "Das Modell sagt einen kleinen Verlust voraus.",
     "El modelo predice una pequeña pérdida.", "Le modèle prévoit une petite perte."),
    ("Investors are cautious.", "Die Anleger sind vorsichtig.", "Los inversores son cautelosos.",
     "Les investisseurs sont prudents."),
    ("Investors are optimistic.", "Die Anleger sind optimistisch.", "Los inversores son optimistas.",
     "Les investisseurs sont optimistes."),
    ("The stablecoin lost its peg.", "Der Stablecoin hat seine Bindung verloren.", "La stablecoin perdió su paridad.",
     "Le stablecoin a perdu son ancrage."),
    ("Withdrawals are paused.", "Auszahlungen sind ausgesetzt.", "Los retiros están pausados.",
     "Les retraits sont suspendus."),
    ("Deposits are open again.", "Einzahlungen sind wieder möglich.", "Los depósitos están abiertos de nuevo.",
     "Les dépôts sont de nouveau ouverts."),
    ("The node is synchronized.", "Der Knoten ist synchronisiert.", "El nodo está sincronizado.",
     "Le nœud est synchronisé."),
    ("Please try again later.", "Bitte versuche es später erneut.", "Por favor, inténtalo más tarde.",
     "Merci de réessayer plus tard."),
    ("The report is ready.", "Der Bericht ist fertig.", "El informe está listo.", "Le rapport est prêt."),
    ("Your order was filled.", "Deine Order wurde ausgeführt.", "Tu orden fue ejecutada.", "Ton ordre a été exécuté."),
    ("Your order was cancelled.", "Deine Order wurde storniert.", "Tu orden fue cancelada.", "Ton ordre a été annulé."),
    ("The price is stable.", "Der Preis ist stabil.", "El precio es estable.", "Le prix est stable."),
    ("The trend is up.", "Der Trend zeigt nach oben.", "La tendencia es alcista.", "La tendance est haussière."),
    ("The trend is down.", "Der Trend zeigt nach unten.", "La tendencia es bajista.", "La tendance est baissière."),
)

PER_TEMPLATE = 16
HELD_OUT_EVERY = 8


def rows(seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    out: list[dict[str, str]] = []
    for t_index, template in enumerate(TEMPLATES):
        seen: set[tuple] = set()
        while len(seen) < PER_TEMPLATE:
            combo = (rng.choice(TICKERS), rng.choice(NUMBERS), rng.randrange(len(TIMES)))
            if combo in seen:
                continue
            seen.add(combo)
            ticker, number, when = combo
            texts = {
                lang: template[i].format(T=ticker, N=number, W=TIMES[when][i]) for i, lang in enumerate(LANGS)
            }
            split = "test" if len(seen) % HELD_OUT_EVERY == 0 else "train"
            out.append({"id": f"t{t_index:02d}-{len(seen):02d}", "split": split, **texts})
    for f_index, fixed in enumerate(FIXED):
        out.append({"id": f"f{f_index:02d}", "split": "train", **dict(zip(LANGS, fixed, strict=True))})
    return out


def main() -> None:
    with OUT.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "split", *LANGS], delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows())


if __name__ == "__main__":
    main()
