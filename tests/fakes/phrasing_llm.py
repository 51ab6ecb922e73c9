"""A fake LLM's side of phrasing generation, for ``server.respond(...)`` on the fake LLM servers.

``PhrasingResponder`` reads the numbered articles of a phrasing request (``[n] 第一条（目的）``)
from the last user turn of an Anthropic or OpenAI-compatible body and answers the JSON object
bot/phrasing_author.py asks for: two lines per article, naming its label, so a test can tell
which article got which lines. A request that mentions ``malformed_when`` gets prose instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_ARTICLE = re.compile(r"^\[(\d+)\] (\S+)", re.MULTILINE)


def request_text(body: Any) -> str:
    """The last user turn of a recorded Messages / chat-completions body."""
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content)


def requested_labels(body: Any) -> list[str]:
    """``第一条（目的）`` for every article a phrasing request numbers, in order."""
    return [label for _, label in _ARTICLE.findall(request_text(body))]


@dataclass
class PhrasingResponder:
    malformed_when: str | None = None
    fenced: bool = False  # wrap the JSON in a ```json fence, as models often do
    asked: list[list[str]] = field(default_factory=list)  # the labels of every request

    def __call__(self, body: Any) -> str:
        text = request_text(body)
        self.asked.append(requested_labels(body))
        if self.malformed_when is not None and self.malformed_when in text:
            return "承知しました。以下が職員の言い方です: 研修の計画、研修はいつ？"
        reply = {
            n: {
                "lines": [f"{label}の言い方", f"{label}について聞きたい？"],
                "words": f"{label}の日常の言葉・具体例",
            }
            for n, label in _ARTICLE.findall(text)
        }
        body_text = json.dumps(reply, ensure_ascii=False)
        return f"```json\n{body_text}\n```" if self.fenced else body_text
