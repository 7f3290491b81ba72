"""Typed rules and findings: what the YAML packs become after validation, and what matching produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Capability(str, Enum):
    """Art. 23 deep-synthesis capabilities plus the two supporting categories (DESIGN.md)."""

    TEXT_GENERATION = "text_generation"
    SPEECH_SYNTHESIS = "speech_synthesis"
    VOICE_CONVERSION = "voice_conversion"
    AUDIO_GENERATION = "audio_generation"
    FACE_MANIPULATION = "face_manipulation"
    IMAGE_GENERATION = "image_generation"
    VIRTUAL_SCENE = "virtual_scene"
    ML_RUNTIME = "ml_runtime"
    BIOMETRIC_RECOGNITION = "biometric_recognition"

    @property
    def is_deep_synthesis(self) -> bool:
        """Supporting categories are evidence, never a deep-synthesis capability by themselves."""
        return self not in (Capability.ML_RUNTIME, Capability.BIOMETRIC_RECOGNITION)


#: Art. 23 clause for each deep-synthesis capability (reviewer-facing).
ART23 = {
    Capability.TEXT_GENERATION: "Art. 23 (一) 篇章生成、文本风格转换、问答对话",
    Capability.SPEECH_SYNTHESIS: "Art. 23 (二) 文本转语音",
    Capability.VOICE_CONVERSION: "Art. 23 (二) 语音转换、语音属性编辑",
    Capability.AUDIO_GENERATION: "Art. 23 (三) 音乐生成、场景声编辑",
    Capability.FACE_MANIPULATION: "Art. 23 (四) 人脸生成、替换、属性编辑、操控, 姿态操控",
    Capability.IMAGE_GENERATION: "Art. 23 (五) 图像生成、增强、修复",
    Capability.VIRTUAL_SCENE: "Art. 23 (六) 三维重建、数字仿真、数字人",
}


class Duty(str, Enum):
    """Provider duties a reviewer checks beyond filings (DESIGN.md "Compliance duties")."""

    MODERATION = "moderation"
    REAL_NAME = "real_name"
    REPORT_ENTRY = "report_entry"
    CONSENT = "consent"
    EXPLICIT_LABEL = "explicit_label"
    IMPLICIT_LABEL = "implicit_label"
    FILING_DISPLAY = "filing_display"


class SignalKind(str, Enum):
    """What a signal looks at in the Inventory."""

    CLASS_PREFIX = "class_prefix"  # package prefix on a dotted boundary (defined classes)
    CLASS = "class"  # exact defined class name
    NATIVE_LIB = "native_lib"  # exact .so file name
    NATIVE_LIB_REGEX = "native_lib_regex"  # full-match regex on the .so file name (LibChecker style)
    ELF_SYMBOL = "elf_symbol"  # exported symbol; trailing '*' = prefix
    ASSET_GLOB = "asset_glob"  # glob on an entry path inside the package ("**/x.bundle")
    MODEL_FORMAT = "model_format"  # a detected model format (tflite, gguf, …)
    HOST = "host"  # host name; leading '.' = any subdomain
    URL = "url"  # substring of a URL found in the package
    STRING = "string"  # exact string literal (DEX / resources / native)
    STRING_CONTAINS = "string_contains"  # substring of a string literal
    PERMISSION = "permission"  # exact manifest permission
    COMPONENT = "component"  # manifest component (activity/service/receiver/provider); trailing '*' = prefix
    META_DATA = "meta_data"  # manifest <meta-data> name
    MP_PLUGIN = "mp_plugin"  # mini-program plugin provider appid
    MP_API = "mp_api"  # mini-program API identifier (wx.cloud.extend.AI.createModel); trailing '*' = prefix
    JS_LIBRARY = "js_library"  # bundled JS library id (tfjs, onnxruntime-web…)


class Confidence(str, Enum):
    """How sure a finding is."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Ordering: high > medium > low."""
        return {"high": 3, "medium": 2, "low": 1}[self.value]


@dataclass(frozen=True)
class Signal:
    """One thing to look for, with its weight; ``supporting`` signals count only beside a non-supporting hit."""

    kind: SignalKind
    value: str
    weight: int
    supporting: bool = False
    note: str = ""


@dataclass(frozen=True)
class Thresholds:
    """Score thresholds for each confidence level."""

    high: int = 80
    medium: int = 50
    low: int = 25


@dataclass(frozen=True)
class Rule:
    """One SDK or service (or compliance evidence source), as loaded from one YAML file."""

    id: str
    name: str
    vendor: str
    description: str
    references: tuple[str, ...]
    signals: tuple[Signal, ...]
    capability: Capability | None = None
    duty: Duty | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    require_any: tuple[SignalKind, ...] = ()
    ambiguous_with: tuple[str, ...] = ()  # rule ids whose presence makes this finding ambiguous
    ambiguous_note: str = ""
    source: str = ""  # file the rule came from
    fixtures: dict[str, dict[str, object]] = field(default_factory=dict, compare=False, hash=False)

    @property
    def category(self) -> str:
        """The capability or duty id this rule reports under."""
        if self.capability is not None:
            return self.capability.value
        return self.duty.value if self.duty is not None else ""


@dataclass(frozen=True)
class Evidence:
    """Where a signal fired: kind, locator (``app.apk!lib/arm64-v8a/libX.so``) and the matched value."""

    kind: str
    locator: str
    value: str


@dataclass(frozen=True)
class Finding:
    """A rule that fired on an Inventory."""

    rule_id: str
    capability: str
    sdk: str
    vendor: str
    confidence: Confidence
    score: int
    evidence: tuple[Evidence, ...]
    ambiguous: bool = False
    notes: tuple[str, ...] = ()
    duty: str | None = None


@dataclass(frozen=True)
class RulePack:
    """All rules of a load, with the pack's content hash (stamped into every report, APKiD-style)."""

    rules: tuple[Rule, ...]
    sha256: str
    version: str = "1"

    def get(self, rule_id: str) -> Rule | None:
        """Look a rule up by id."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        return None
