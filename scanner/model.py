"""The Inventory: what a reader saw in an artifact, as pure data (no verdicts).

Every stage after the scanner reads only these frozen dataclasses, and the store keeps them, so a new rule
pack or registry batch re-evaluates a listed app without re-reading the artifact. Change a field and you
must bump ``EXTRACTOR_VERSION`` (stored inventories are tagged with it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

#: Bumped whenever readers start extracting something new or differently; stored inventories carry it.
EXTRACTOR_VERSION = "1"


class ArtifactKind(str, Enum):
    """What an artifact is, decided by its bytes (DESIGN.md "Artifact kinds")."""

    APK = "apk"
    APKS = "apks"
    AAB = "aab"
    WXAPKG = "wxapkg"
    TTPKG = "ttpkg"
    RPK = "rpk"
    HAP = "hap"
    AMR = "amr"
    MINIPROGRAM_SOURCE = "miniprogram_source"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Artifact:
    """The file under review and the identity it declares."""

    path: str
    sha256: str
    kind: ArtifactKind
    size: int
    app_id: str | None = None
    version: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ScanError:
    """Something the scanner could not read. Any error forces ``needs_review`` downstream."""

    stage: str
    locator: str
    message: str


@dataclass(frozen=True)
class ScanNote:
    """Something odd that did not stop reading (e.g. a zip trick Android tolerates); shown to reviewers."""

    stage: str
    locator: str
    message: str


@dataclass(frozen=True)
class MetaData:
    """A ``<meta-data>`` element of the manifest (application or component level)."""

    name: str
    value: str


@dataclass(frozen=True)
class Manifest:
    """The parts of AndroidManifest.xml (or a mini-program's app config) a reviewer and rules need."""

    package: str | None = None
    version_name: str | None = None
    version_code: str | None = None
    label: str | None = None
    min_sdk: str | None = None
    target_sdk: str | None = None
    permissions: tuple[str, ...] = ()  # <uses-permission>, named as androguard names them
    permissions_sdk23: tuple[str, ...] = ()  # <uses-permission-sdk-23>
    activities: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    receivers: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    meta_data: tuple[MetaData, ...] = ()


@dataclass(frozen=True)
class Certificate:
    """A signing certificate; ``subject``/``issuer`` are RFC 4514-like strings incl. ``O=`` (主体名称 checks)."""

    scheme: str  # "v1" | "v2" | "v3" | "v3.1"
    subject: str
    issuer: str
    sha256: str
    serial: str = ""
    organization: str | None = None


@dataclass(frozen=True)
class DexFile:
    """One DEX file's tables: defined classes, referenced types and the string table (all dotted names)."""

    locator: str
    size: int
    sha256: str
    version: str
    classes: tuple[str, ...] = ()
    referenced_types: tuple[str, ...] = ()
    strings: tuple[str, ...] = ()


@dataclass(frozen=True)
class NativeLib:
    """A shared library (``lib/<abi>/*.so`` or any ELF found), parsed once."""

    path: str  # locator
    abi: str | None
    soname: str | None
    size: int
    sha256: str
    needed: tuple[str, ...] = ()
    exports: tuple[str, ...] = ()
    strings: tuple[str, ...] = ()  # printable strings of interest from .rodata (hosts, SDK markers)


@dataclass(frozen=True)
class Entry:
    """Any archive member: where it is, how big, what its bytes say it is."""

    path: str  # locator
    size: int
    format: str  # e.g. "dex", "elf", "tflite", "zip", "text", "data"
    compressed_size: int = 0
    sha256: str | None = None  # only for entries read whole (code, models, config)
    entropy: float | None = None  # bits/byte over a sample, for model-like blobs


@dataclass(frozen=True)
class Located:
    """A string value and where it was found."""

    value: str
    locator: str


@dataclass(frozen=True)
class StringsOfInterest:
    """Strings a decision may rest on, extracted from code, resources and text assets."""

    urls: tuple[Located, ...] = ()
    hosts: tuple[Located, ...] = ()
    filings: tuple[Located, ...] = ()  # 网信算备…号, GenAI 备案/登记 ids, ICP/App 备案
    beian_links: tuple[Located, ...] = ()  # beian.cac.gov.cn and similar links (Art. 19 display)
    aigc_markers: tuple[Located, ...] = ()  # GB 45438 AIGC metadata keys, TC260 namespace, C2PA
    labels: tuple[Located, ...] = ()  # visible "AI生成"-style label texts


@dataclass(frozen=True)
class StringTable:
    """A table of strings from one place (resources.arsc's pool, a layout, a JS file's literals)."""

    locator: str
    strings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plugin:
    """A mini-program plugin declaration (``plugins`` in app.json or a ``plugin://`` reference)."""

    alias: str
    provider: str
    version: str | None = None
    locator: str = ""


@dataclass(frozen=True)
class MiniProgram:
    """Mini-program specifics: platform APIs used, plugins, pages, hosts."""

    platform: str  # wechat | douyin | alipay | quickapp | harmonyos | unknown
    appid: str | None = None
    name: str | None = None
    pages: tuple[str, ...] = ()
    plugins: tuple[Plugin, ...] = ()
    apis: tuple[Located, ...] = ()  # e.g. "wx.cloud.extend.AI.createModel"
    hosts: tuple[Located, ...] = ()
    js_libraries: tuple[Located, ...] = ()  # bundled libraries (tfjs, onnxruntime-web, …)
    encrypted: bool = False


@dataclass(frozen=True)
class Inventory:
    """Everything the rules see of one artifact."""

    artifact: Artifact
    extractor_version: str = EXTRACTOR_VERSION
    manifest: Manifest | None = None
    certificates: tuple[Certificate, ...] = ()
    dex: tuple[DexFile, ...] = ()
    native_libs: tuple[NativeLib, ...] = ()
    entries: tuple[Entry, ...] = ()
    strings: StringsOfInterest = field(default_factory=StringsOfInterest)
    resource_strings: tuple[StringTable, ...] = ()  # resources.arsc string pools (short UI texts), per locator
    miniprogram: MiniProgram | None = None
    notes: tuple[ScanNote, ...] = ()
    errors: tuple[ScanError, ...] = ()

    @property
    def classes(self) -> tuple[str, ...]:
        """Defined class names over all DEX files, sorted and unique (the DESIGN.md ``classes`` field)."""
        names: set[str] = set()
        for d in self.dex:
            names.update(d.classes)
        return tuple(sorted(names))
