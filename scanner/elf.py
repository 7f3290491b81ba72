"""Native libraries through lief, each parsed exactly once: soname, DT_NEEDED, exported symbols, ABI."""

from __future__ import annotations

import hashlib
import posixpath
import struct
import warnings
from collections.abc import Callable

import lief

from scanner.errors import ReadError
from scanner.model import NativeLib
from scanner.strings import binary_strings

lief.logging.disable()

#: Parse only what the Inventory keeps (dynamic section and dynamic symbols): relocations, static symbols,
#: notes and version tables are most of lief's time on big engines.
_CONFIG = lief.ELF.ParserConfig()
_CONFIG.parse_relocations = False
_CONFIG.parse_symtab_symbols = False
_CONFIG.parse_notes = False
_CONFIG.parse_symbol_versions = False
_CONFIG.parse_overlay = False
#: The same without dynamic symbols: exports are then read from .dynsym by scanner._speedups.elf_exports, which
#: measured 3-4x faster than lief building a Symbol object per entry (librime.so, 8,030 symbols: 22 -> 6 ms).
_CONFIG_NOSYM = lief.ELF.ParserConfig()
for _k in ("parse_relocations", "parse_symtab_symbols", "parse_notes", "parse_symbol_versions", "parse_overlay",
           "parse_dyn_symbols"):
    setattr(_CONFIG_NOSYM, _k, False)

try:  # compiled .dynsym reader (scanner/_speedups.c); lief's symbols are the specification
    from scanner._speedups import elf_exports as _c_elf_exports
    from scanner._speedups import elf_hash_count as _c_elf_hash_count
except ImportError:  # pragma: no cover - built by `pip install`; absent only without a C compiler
    _c_elf_exports = None
    _c_elf_hash_count = None

_ABI_BY_MACHINE = {
    "AARCH64": "arm64-v8a",
    "ARM": "armeabi-v7a",
    "X86_64": "x86_64",
    "I386": "x86",
    "MIPS": "mips",
    "RISCV": "riscv64",
}
_MACHINE_NAMES = {183: "AARCH64", 40: "ARM", 62: "X86_64", 3: "I386", 8: "MIPS", 243: "RISCV"}  # ELF e_machine
_APK_ABIS = ("arm64-v8a", "armeabi-v7a", "armeabi", "x86_64", "x86", "mips", "mips64", "riscv64")
#: Cap on exported names kept per library (big engines export 100k+ C++ symbols; rules need JNI and C APIs).
MAX_EXPORTS = 20_000


class ElfFormatError(ReadError):
    """lief could not make sense of an ELF file."""


def abi_from_path(path: str) -> str | None:
    """``lib/arm64-v8a/libX.so`` → ``arm64-v8a`` (also inside nested archives and AAB modules)."""
    parts = path.replace("\\", "/").split("/")
    for i, part in enumerate(parts[:-1]):
        if part == "lib" and i + 1 < len(parts) - 1 and parts[i + 1] in _APK_ABIS:
            return parts[i + 1]
    return None


def check_tables(data: bytes, locator: str = "") -> int:
    """Raise :class:`ElfFormatError` when the header's class, encoding, or program/section header tables are
    outside the file — lief shrugs such tables off, but Android's linker refuses the library (tampering).
    Returns ``e_machine`` (read here: lief's enum warns on values it does not know)."""
    if len(data) < 52 or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ElfFormatError("ELF header is truncated or names no valid class/byte order", locator, "elf")
    end = "<" if data[5] == 1 else ">"
    if data[4] == 2:
        if len(data) < 64:
            raise ElfFormatError("ELF64 header is truncated", locator, "elf")
        phoff, shoff = struct.unpack_from(end + "QQ", data, 0x20)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(end + "HHHHH", data, 0x36)
        ph_size, sh_size = 56, 64
    else:
        phoff, shoff = struct.unpack_from(end + "II", data, 0x1C)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(end + "HHHHH", data, 0x2A)
        ph_size, sh_size = 32, 40
    n = len(data)
    if phnum and (phentsize != ph_size or phoff + phnum * phentsize > n):
        raise ElfFormatError(f"program header table ({phnum} x {phentsize} bytes at {phoff:#x}) does not fit the "
                             f"{n}-byte file", locator, "elf")
    if shoff and (shentsize != sh_size or shoff + max(1, shnum) * shentsize > n):
        raise ElfFormatError(f"section header table ({shnum} x {shentsize} bytes at {shoff:#x}) does not fit the "
                             f"{n}-byte file", locator, "elf")
    if shoff and shnum and shstrndx >= shnum and shstrndx != 0xFFFF:
        raise ElfFormatError(f"section name table index {shstrndx} is not one of the {shnum} sections", locator, "elf")
    return int(struct.unpack_from(end + "H", data, 18)[0])


def read_elf(
    data: bytes, locator: str, path_in_archive: str = "", sha256: str | Callable[[], str] | None = None
) -> NativeLib:
    """Parse one ELF shared object; raise :class:`ElfFormatError` when lief cannot read a sane header."""
    if data[:4] != b"\x7fELF":
        raise ElfFormatError("not an ELF file", locator, "elf")
    e_machine = check_tables(data, locator)
    exports: list[str] | None = None
    try:
        if _c_elf_exports is not None:
            binary = lief.ELF.parse(data, _CONFIG_NOSYM)
            exports = fast_exports(binary, data) if binary is not None else None
        if exports is None:
            binary = lief.ELF.parse(data, _CONFIG)
    except Exception as exc:  # lief raises a variety of native errors on hostile input
        raise ElfFormatError(f"lief failed: {exc}", locator, "elf") from exc
    if binary is None or str(binary.header.identity_class).endswith(("NONE", "UNKNOWN")):
        raise ElfFormatError("ELF header is not readable", locator, "elf")
    abi = abi_from_path(path_in_archive) or _ABI_BY_MACHINE.get(_MACHINE_NAMES.get(e_machine, ""))
    soname_entry = binary.get(lief.ELF.DynamicEntry.TAG.SONAME)
    soname = _text(soname_entry.name) if soname_entry is not None else None
    needed = tuple(_text(x) for x in binary.libraries)
    if exports is None:
        exports = lief_exports(binary)
    return NativeLib(
        path=locator,
        abi=abi,
        soname=soname or None,
        size=len(data),
        sha256=sha256() if callable(sha256) else sha256 or hashlib.sha256(data).hexdigest(),
        needed=needed,
        exports=tuple(exports),
        strings=tuple(binary_strings(_string_sections(binary, data))),
    )


_SHT_STRTAB, _SHT_DYNSYM = 3, 11


def lief_exports(binary: lief.ELF.Binary) -> list[str]:
    """Exported dynamic symbol names as lief sees them: first occurrences in table order (the specification)."""
    exports: list[str] = []
    seen: set[str] = set()
    for sym in binary.dynamic_symbols:
        if len(exports) >= MAX_EXPORTS:
            break
        name = _text(sym.name)
        if name and sym.exported and name not in seen:
            seen.add(name)
            exports.append(name)
    return exports


def fast_exports(binary: lief.ELF.Binary, data: bytes) -> list[str] | None:
    """:func:`lief_exports` from the ``.dynsym``/``.dynstr`` sections; None (ask lief) unless the file is
    little-endian, the dynamic segment's DT_SYMTAB/DT_STRTAB point at exactly those sections and its hash table
    counts exactly the section's symbols (lief reads the symbols through the dynamic segment and counts them
    from the hash table: tampered files where the views disagree go to lief)."""
    if _c_elf_exports is None or data[5:6] != b"\x01":  # EI_DATA: little-endian only
        return None
    with warnings.catch_warnings():  # lief warns on section types outside its enum (tampered headers)
        warnings.simplefilter("ignore", RuntimeWarning)
        return _fast_exports(binary, data)


def _fast_exports(binary: lief.ELF.Binary, data: bytes) -> list[str] | None:
    try:
        dynsym = binary.get_section(".dynsym")
        if dynsym is None or int(dynsym.type) != _SHT_DYNSYM:
            return None
        secs = binary.sections
        link = dynsym.link
        if not 0 < link < len(secs) or int(secs[link].type) != _SHT_STRTAB:
            return None
        strtab = secs[link]
        symtab_dt = binary.get(lief.ELF.DynamicEntry.TAG.SYMTAB)
        strtab_dt = binary.get(lief.ELF.DynamicEntry.TAG.STRTAB)
        if (symtab_dt is None or strtab_dt is None or symtab_dt.value != dynsym.virtual_address
                or strtab_dt.value != strtab.virtual_address):
            return None
        args = (dynsym.offset, dynsym.size, dynsym.entry_size, strtab.offset, strtab.size)
        if any(not 0 <= v < 1 << 62 for v in args) or not args[2] or args[1] % args[2]:
            return None
        is64 = data[4:5] == b"\x02"
        hashes = [(binary.get(lief.ELF.DynamicEntry.TAG.GNU_HASH), True),
                  (binary.get(lief.ELF.DynamicEntry.TAG.HASH), False)]
        hashes = [(h, gnu) for h, gnu in hashes if h is not None]
        if not hashes:
            return None
        for h, gnu in hashes:
            off = binary.virtual_address_to_offset(h.value)
            off = off if isinstance(off, int) else getattr(off, "value", None)
            if not isinstance(off, int) or _c_elf_hash_count(data, off, gnu, is64) != args[1] // args[2]:
                return None
        return _c_elf_exports(data, args[0], args[1], args[2], is64, args[3], args[4],
                              MAX_EXPORTS)  # type: ignore[no-any-return]
    except (ValueError, OverflowError, TypeError):  # lief reports its own failures as values, not exceptions
        return None


def _string_sections(binary: lief.ELF.Binary, data: bytes) -> bytes:
    """The read-only data sections where string literals live (a fraction of a big library); the whole file
    when section headers are missing or stripped, so nothing is skipped on odd binaries."""
    parts = []
    for sec in binary.sections:
        if _text(sec.name).startswith((".rodata", ".data.rel.ro")) and sec.size and sec.offset + sec.size <= len(data):
            parts.append(data[sec.offset : sec.offset + sec.size])
    return b"\x00".join(parts) if parts else data


def _text(name: str | bytes) -> str:
    """lief hands back ``bytes`` for names that are not UTF-8 (tampered string tables): the Inventory holds text."""
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)


def library_name(path: str) -> str:
    """The file name of a library path or locator (the part rules match on)."""
    return posixpath.basename(path.rsplit("!", 1)[-1])
