"""Load the admin manifest from YAML, reporting every problem as ``file:line:column: path: message``.

ruamel.yaml's round-trip loader keeps the position of every key and list item,
so each pydantic error location is mapped back to the line that caused it (for
a missing key: the line of the mapping that should contain it).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from manifest.schema import Loc, Manifest
from manifest.secrets import required_env


@dataclass(frozen=True)
class ManifestIssue:
    file: str
    line: int  # 1-based
    column: int  # 1-based
    path: str  # dotted location such as tenants[0].channels[1].collections; "" for the whole file
    message: str

    def __str__(self) -> str:
        where = f" {self.path}:" if self.path else ""
        return f"{self.file}:{self.line}:{self.column}:{where} {self.message}"


class ManifestError(ValueError):
    """The manifest is invalid; ``errors`` lists every problem found, in file order."""

    def __init__(self, errors: list[ManifestIssue]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.line, e.column))
        super().__init__("\n".join(str(e) for e in self.errors))


def load_manifest(path: Path, *, environ: Mapping[str, str] | None = None) -> Manifest:
    """Read and validate a manifest file; relative paths in it are resolved against its directory.

    With ``environ``, every environment variable the configured features need must be set in it.
    """
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ManifestError([ManifestIssue(str(path), line, 1, "", "the manifest must be UTF-8")]) from exc
    return load_manifest_text(text, str(path), base_dir=Path(path).absolute().parent, environ=environ)


def load_manifest_text(
    text: str, source: str, *, base_dir: Path | None = None, environ: Mapping[str, str] | None = None
) -> Manifest:
    """Validate manifest YAML ``text``; ``source`` names it in messages, ``base_dir`` defaults to cwd."""
    try:
        root = YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        if isinstance(exc, MarkedYAMLError):
            message = ", ".join(p for p in (exc.context, exc.problem) if p) or str(exc)
        else:
            message = str(exc)
        raise ManifestError([ManifestIssue(source, line, col, "", f"YAML syntax: {message}")]) from exc
    if root is None:
        root = {}
    if not isinstance(root, dict):
        raise ManifestError([ManifestIssue(source, 1, 1, "", "the manifest must be a mapping of keys "
                                           f"({', '.join(Manifest.model_fields)}), got {_kind(root)}")])
    context = {"base_dir": base_dir if base_dir is not None else Path.cwd()}
    try:
        manifest = Manifest.model_validate(_plain(root), context=context)
    except ValidationError as exc:
        raise ManifestError([_issue(source, root, err) for err in exc.errors()]) from exc
    if environ is not None:
        missing = [
            _issue(source, root, _env_error(loc, name))
            for loc, name in required_env(manifest)
            if not environ.get(name, "").strip()
        ]
        if missing:
            raise ManifestError(missing)
    return manifest


def _env_error(loc: Loc, name: str) -> dict[str, Any]:
    return {"type": "env", "loc": loc, "msg": f"environment variable {name} is not set"}


def default_manifest(base_dir: Path | None = None) -> Manifest:
    """The built-in configuration used when there is no manifest file: one local console tenant."""
    data = {
        "tenants": [{
            "id": "local",
            "name": "ローカル",
            "collections": ["laws"],
            "channels": [{"platform": "console", "id": "console", "name": "ブラウザのコンソール"}],
        }]
    }
    base = base_dir if base_dir is not None else Path.cwd()
    return Manifest.model_validate(data, context={"base_dir": base})


def _plain(node: Any) -> Any:
    """ruamel's round-trip containers and scalar subclasses → plain dict / list / str / int …"""
    if isinstance(node, dict):
        return {_plain(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, ScalarBoolean):
        return bool(node)
    for tp in (bool, int, float, str):
        if isinstance(node, tp):
            return tp(node)
    return node


def _issue(source: str, root: Any, err: Mapping[str, Any]) -> ManifestIssue:
    loc: Loc = tuple(err["loc"])
    line, col = _position(root, loc)
    return ManifestIssue(source, line, col, _dotted(loc), _message(err))


def _position(root: Any, loc: Loc) -> tuple[int, int]:
    """1-based line/column of the deepest part of ``loc`` present in the YAML tree."""
    node, (line, col) = root, (0, 0)
    for part in loc:
        # keys merged in with "<<: *anchor" have no position of their own: stop at their mapping
        pos = node.lc.data.get(part) if isinstance(node, (dict, list)) and hasattr(node, "lc") else None
        if pos is None:
            break
        line, col = pos[0], pos[1]
        node = node[part]
    return line + 1, col + 1


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _message(err: Mapping[str, Any]) -> str:
    kind, loc, msg = err["type"], tuple(err["loc"]), str(err["msg"])
    if kind == "extra_forbidden":
        key = str(loc[-1])
        close = difflib.get_close_matches(key, _fields_at(loc[:-1]), n=1, cutoff=0.6)
        return f"unknown key {key!r}" + (f"; did you mean {close[0]!r}?" if close else "")
    if kind == "missing":
        return f"missing required key {loc[-1]!r}"
    if msg.startswith("Input should be "):
        return f"expected {msg.removeprefix('Input should be ')}, got {_kind(err.get('input'))}"
    return msg


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "nothing (null)" if value is None else repr(value)


def _fields_at(loc: Loc) -> list[str]:
    """Field names of the model found at ``loc`` (for did-you-mean suggestions)."""
    tp: Any = Manifest
    for part in loc:
        if isinstance(part, int):
            continue
        model = _model_in(tp)
        if model is None or part not in model.model_fields:
            return []
        tp = model.model_fields[part].annotation
    model = _model_in(tp)
    return list(model.model_fields) if model else []


def _model_in(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in get_args(tp):
        if (model := _model_in(arg)) is not None:
            return model
    return None
