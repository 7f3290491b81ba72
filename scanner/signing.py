"""Signing certificates: v1 (JAR PKCS#7) and v2/v3/v3.1 (APK Signing Block), parsed with asn1crypto.

The APK Signing Block walk is hand-written (a few length-prefixed sequences) so it runs on the memory map
and the central-directory offset this package already found, instead of androguard's ``APK`` object, which
would load and re-parse the whole zip. Certificate names are rendered with androguard's
``get_certificate_name_string``; nothing here verifies signatures (a store re-signs nothing; the subject is
evidence for the 主体名称 check).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import replace
from collections.abc import Iterator

from asn1crypto import cms, x509
from androguard.util import get_certificate_name_string

from scanner.model import Certificate

_SIG_MAGIC = b"APK Sig Block 42"
_BLOCK_IDS = {0x7109871A: "v2", 0xF05368C0: "v3", 0x1B93AD61: "v3.1"}


def _cert(der: bytes, scheme: str, memo: dict[bytes, Certificate | None] | None = None) -> Certificate | None:
    """One certificate; ``memo`` (per artifact) parses a DER once when v1, v2 and v3 carry the same one."""
    if memo is not None:
        key = bytes(der)
        if key not in memo:
            memo[key] = _cert(key, scheme)
        c = memo[key]
        return replace(c, scheme=scheme) if c is not None and c.scheme != scheme else c
    fast = _cert_fast(der, scheme)
    if fast is not None:
        return fast
    return _cert_asn1crypto(der, scheme)


# OID -> (asn1crypto's attribute name, androguard's short label): the names ``get_certificate_name_string``
# knows. A certificate naming anything else, or built unusually, takes the asn1crypto path.
_OIDS = {
    "2.5.4.15": ("business_category", "businessCategory"), "2.5.4.5": ("serial_number", "serialNumber"),
    "2.5.4.6": ("country_name", "C"), "2.5.4.17": ("postal_code", "postalCode"),
    "2.5.4.8": ("state_or_province_name", "ST"), "2.5.4.7": ("locality_name", "L"),
    "2.5.4.9": ("street_address", "street"), "2.5.4.10": ("organization_name", "O"),
    "2.5.4.11": ("organizational_unit_name", "OU"), "2.5.4.12": ("title", "title"),
    "2.5.4.3": ("common_name", "CN"), "2.5.4.43": ("initials", "initials"),
    "2.5.4.44": ("generation_qualifier", "generationQualifier"), "2.5.4.4": ("surname", "SN"),
    "2.5.4.42": ("given_name", "GN"), "2.5.4.41": ("name", "name"), "2.5.4.65": ("pseudonym", "pseudonym"),
    "2.5.4.46": ("dn_qualifier", "dnQualifier"), "2.5.4.20": ("telephone_number", "telephoneNumber"),
    "1.2.840.113549.1.9.1": ("email_address", "E"), "0.9.2342.19200300.100.1.25": ("domain_component", "DC"),
    "2.5.4.97": ("organization_identifier", "organizationIdentifier"),
}


def _name_fast(name) -> tuple[str, dict[str, str]] | None:  # type: ignore[no-untyped-def]
    """androguard's short DN string and asn1crypto's ``native`` dict, or None when not a plain name."""
    from cryptography.x509.name import _ASN1Type

    plain = (_ASN1Type.UTF8String, _ASN1Type.PrintableString, _ASN1Type.IA5String)
    native: dict[str, str] = {}
    parts: list[str] = []
    for rdn in name.rdns:
        attrs = list(rdn)
        if len(attrs) != 1:
            return None
        a = attrs[0]
        known = _OIDS.get(a.oid.dotted_string)
        if known is None or a._type not in plain or known[0] in native or not isinstance(a.value, str):
            return None
        native[known[0]] = a.value
        parts.append(f"{known[1]}={a.value}")
    return ", ".join(parts), native


def _cert_fast(der: bytes, scheme: str) -> Certificate | None:
    """The common case through ``cryptography`` (about 6x faster than asn1crypto's name rendering); None
    when the certificate is anything but plain (the caller then takes the asn1crypto path)."""
    try:
        import warnings

        from cryptography import x509 as cx509

        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. a negative serial: let asn1crypto render it
            c = cx509.load_der_x509_certificate(bytes(der))
            subject = _name_fast(c.subject)
            issuer = _name_fast(c.issuer)
            serial = c.serial_number
    except Exception:  # noqa: BLE001 - anything odd goes the asn1crypto way
        return None
    if subject is None or issuer is None or serial < 0:
        return None
    return Certificate(
        scheme=scheme,
        subject=subject[0],
        issuer=issuer[0],
        sha256=hashlib.sha256(der).hexdigest(),
        serial=format(serial, "x"),
        organization=subject[1].get("organization_name"),
    )


def _cert_asn1crypto(der: bytes, scheme: str) -> Certificate | None:
    try:
        c = x509.Certificate.load(der)
        subject = get_certificate_name_string(c.subject, short=True)
        issuer = get_certificate_name_string(c.issuer, short=True)
        org = c.subject.native.get("organization_name")
        if isinstance(org, list):
            org = org[0] if org else None
        return Certificate(
            scheme=scheme,
            subject=subject,
            issuer=issuer,
            sha256=hashlib.sha256(der).hexdigest(),
            serial=format(c.serial_number, "x"),
            organization=org,
        )
    except Exception:  # hostile DER: asn1crypto raises many types lazily
        return None


def v1_certificates(pkcs7: bytes, memo: dict[bytes, Certificate | None] | None = None) -> list[Certificate]:
    """Certificates in a ``META-INF/*.RSA|DSA|EC`` PKCS#7 SignedData blob."""
    out: list[Certificate] = []
    try:
        content = cms.ContentInfo.load(pkcs7)["content"]
        for cert in content["certificates"]:
            c = _cert(cert.chosen.dump(), "v1", memo)
            if c:
                out.append(c)
    except Exception:
        return out
    return out


def _lp(buf: bytes, pos: int, end: int) -> tuple[bytes, int]:
    """A uint32-length-prefixed value at ``pos``; raises ValueError when it overruns ``end``."""
    if pos + 4 > end:
        raise ValueError("truncated length prefix")
    (n,) = struct.unpack_from("<I", buf, pos)
    if pos + 4 + n > end:
        raise ValueError("length prefix overruns its container")
    return buf[pos + 4 : pos + 4 + n], pos + 4 + n


def _seq(buf: bytes) -> Iterator[bytes]:
    pos = 0
    while pos < len(buf):
        item, pos = _lp(buf, pos, len(buf))
        yield item


def signing_block_certificates(
    buf: bytes, cd_offset: int, memo: dict[bytes, Certificate | None] | None = None
) -> tuple[list[Certificate], list[str]]:
    """Certificates from the APK Signing Block that ends at ``cd_offset``; also returns problems found."""
    problems: list[str] = []
    if cd_offset < 32 or cd_offset > len(buf):
        return [], problems
    footer = buf[cd_offset - 24 : cd_offset]
    if footer[8:] != _SIG_MAGIC:
        return [], problems
    (size,) = struct.unpack_from("<Q", footer, 0)
    start = cd_offset - size - 8
    if size < 24 or start < 0:
        return [], ["APK Signing Block size is out of range"]
    block = buf[start:cd_offset]
    (size2,) = struct.unpack_from("<Q", block, 0)
    if size2 != size:
        problems.append("APK Signing Block sizes disagree")
        return [], problems
    pos, end = 8, len(block) - 24
    certs: list[Certificate] = []
    seen: set[tuple[str, str]] = set()
    while pos + 12 <= end:
        (length, bid) = struct.unpack_from("<QI", block, pos)
        if length < 4 or pos + 8 + length > end:
            problems.append("APK Signing Block pair overruns the block")
            break
        value = block[pos + 12 : pos + 8 + length]
        pos += 8 + length
        scheme = _BLOCK_IDS.get(bid)
        if not scheme:
            continue
        try:
            signers, _ = _lp(value, 0, len(value))
            for signer in _seq(signers):
                signed_data, _ = _lp(signer, 0, len(signer))
                digests, p = _lp(signed_data, 0, len(signed_data))
                cert_seq, _ = _lp(signed_data, p, len(signed_data))
                for der in _seq(cert_seq):
                    c = _cert(der, scheme, memo)
                    if c and (scheme, c.sha256) not in seen:
                        seen.add((scheme, c.sha256))
                        certs.append(c)
        except ValueError as exc:
            problems.append(f"{scheme} signature block malformed: {exc}")
    return certs, problems
