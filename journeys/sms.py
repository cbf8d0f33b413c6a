"""SMS length rules: GSM-7 vs UCS-2 encoding and how many segments a body costs."""

from __future__ import annotations

# GSM 03.38 basic set plus the extension table (extension characters cost two septets).
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€\f")


def is_gsm7(body: str) -> bool:
    """True when every character fits the GSM-7 alphabet (else the message goes as UCS-2)."""
    return all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in body)


def segments(body: str) -> int:
    """Segments the body is billed as: GSM-7 160/153 septets, UCS-2 70/67 code units."""
    if not body:
        return 1
    if is_gsm7(body):
        units = sum(2 if ch in GSM_EXTENDED else 1 for ch in body)
        single, multi = 160, 153
    else:
        # UCS-2 counts UTF-16 code units: characters outside the BMP (emoji) take two.
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if units <= single:
        return 1
    return -(-units // multi)
