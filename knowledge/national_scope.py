"""Laws that bind only the national government's own organs, and questions about a municipality's own
handling of what they govern.

情報公開法 is the disclosure law of the national 行政機関 (its 2条); a city's own disclosure requests are
decided under the city's 情報公開条例, which 25条 asks local governments to make. 「うちの市の開示決定の
期限は？」 answered with 情報公開法10条 (30 days) is a wrong citation, however well the words match. The laws
and the one article each gives local governments are data (``knowledge/data/national_scope.yaml``); the
question is about the asker's own body when it places the request or the records there (うちの市,
市の公文書, 町に開示請求) and names neither the national side (国の機関, 省庁) nor the law itself
(「公文書管理法は市町村にも適用される？」 asks about the law, and its 34条 answers). Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from knowledge.citations import load_abbreviations
from knowledge.documents import ParseError
from knowledge.law_names import law_names
from knowledge.tokenize import normalize
from knowledge.yaml_files import entries_of

DEFAULT_SCOPES = Path(__file__).resolve().parent / "data" / "national_scope.yaml"

_BODY = "市|町|村|区"
# The asker's own municipality: うちの市, 本市, 当町; the request or the records placed at a municipality
# (市の公文書, 町に開示請求, 役場で情報公開); or the municipality's own rules named.
_OWN_BODY = re.compile(
    rf"(?:うちの|本|当|わが|我が)(?:{_BODY})(?!民|長|議)"
    rf"|(?:{_BODY}|市役所|役場|役所)(?:の|で|に|へ|が)(?:情報公開|公文書|行政文書|文書|開示)"
    r"|情報公開条例|公文書公開条例|文書管理規程|文書管理規則|公文書管理条例"
)
# The national side named: then the question is about the national organs the law binds.
_NATIONAL = re.compile(r"国の|国に|国へ|国が|国は|省庁|各省|府省|出先機関|独立行政法人|行政機関の長")


@dataclass(frozen=True)
class NationalOnlyLaw:
    law: str  # its title
    local_articles: frozenset[str]  # the articles it gives local governments ("25")


def load_scopes(path: Path = DEFAULT_SCOPES) -> dict[str, NationalOnlyLaw]:
    """Title → the law, from ``path``; a malformed file raises ParseError naming the file and entry."""
    found: dict[str, NationalOnlyLaw] = {}
    for where, item in entries_of(path, "the laws of national organs", ("law", "local_articles")):
        law, articles = item["law"], item["local_articles"]
        if not isinstance(law, str) or not law.strip():
            raise ParseError(f"{where}: 'law' is a law's title")
        if not isinstance(articles, list) or not all(isinstance(a, str) and a.strip() for a in articles):
            raise ParseError(f"{where}: 'local_articles' is a list of article ids (\"25\", \"34\")")
        found[law] = NationalOnlyLaw(law, frozenset(articles))
    return found


@cache
def packaged_scopes() -> dict[str, NationalOnlyLaw]:
    return load_scopes()


@cache
def _abbreviations() -> Mapping[str, str]:
    """Abbreviation → title (knowledge/data/law_abbreviations.yaml)."""
    return load_abbreviations()


def answered_locally(question: str, title: str, article: str, scopes: Mapping[str, NationalOnlyLaw]) -> bool:
    """Whether ``question``, best answered by ``article`` of the law ``title``, asks about the asker's own
    municipality where that law binds only national organs: then the municipality's own rules decide,
    not the article."""
    law = scopes.get(title)
    if law is None or article in law.local_articles:
        return False
    text = normalize(question)
    if _NATIONAL.search(text) or not _OWN_BODY.search(text):
        return False
    abbreviations = _abbreviations()
    return not any(name == title or abbreviations.get(name) == title for name in law_names(text))
