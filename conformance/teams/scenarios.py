"""What is asked of the Playground, and what is checked in the activities it exchanged with kairan:
a channel @mention, a thread follow-up, a personal streamed answer with citations, a feedback
vote, a digest; then every activity exchanged."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.teams.client import BOT_NAME, GENERAL, ME, PERSONAL, Exchange, Playground
from tests.fakes.teams_connector import first_null  # the Playground's rule, as the mock connector applies it

REPO = Path(__file__).resolve().parents[2]
NTA_FEED = REPO / "tests" / "fixtures" / "feeds" / "nta_news_shift_jis.rdf"
SUBSCRIPTION = "nta-news-teams"
QUESTION = "行政財産である庁舎の空きスペースを民間のカフェに貸すことはできますか？"
FOLLOW_UP = "床面積に余裕がある部分なら、民間の事業者に貸し付けられるということですか？"
Q_PRINCIPLE = (
    "これを貸し付け、交換し、売り払い、譲与し、出資の目的とし、"
    "若しくは信託し、又はこれに私権を設定することができない"
)
Q_SURPLUS = "当該余裕がある部分を貸し付けるとき"
SOURCE = re.compile(r'<source n="(\d+)"[^>]*>(.*?)</source>', re.S)
MESSAGE_ENTITY = "https://schema.org/Message"

Run = Callable[..., Awaitable[tuple[int, str]]]


# --- the fake LLM's answers -------------------------------------------------------------------


def llm_answer(body: Any) -> str:
    """Cite whichever numbered source quotes 地方自治法第238条の4 (so the citation verifies); a
    request without sources (the query rewrite) gets its question back."""
    messages = body.get("messages") if isinstance(body, dict) else None
    user = str(messages[-1].get("content", "")) if messages else ""
    sources = dict((int(n), text) for n, text in SOURCE.findall(user))
    if not sources:
        question = re.search(r"<question>\s*(.*?)\s*</question>", user, re.S)
        return question.group(1) if question else user.strip()
    cited = [n for n, text in sorted(sources.items()) if Q_PRINCIPLE in text or Q_SURPLUS in text]
    if not cited:
        return "根拠となる資料が見つかりませんでした。"
    n = cited[0]
    return (
        f"行政財産である庁舎は、原則として「{Q_PRINCIPLE}」とされています[{n}]。\n"
        f"ただし、床面積に余裕がある場合には「{Q_SURPLUS}」は貸し付けることができます[{n}]。"
    )


# --- checks -----------------------------------------------------------------------------------


@dataclass
class Checks:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str, detail: Any = "") -> bool:
        (self.passed if ok else self.failed).append(what if ok else f"{what}: {detail}")
        print(f"  {'✓' if ok else '✗'} {what}" + ("" if ok else f"  — {detail}"), flush=True)
        return ok


def entity(activity: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for e in activity.get("entities") or []:
        if isinstance(e, dict) and e.get("type") == kind:
            return e
    return None


def stream_type(activity: dict[str, Any]) -> str | None:
    info = entity(activity, "streaminfo")
    return None if info is None else str(info.get("streamType"))


def check_cited_answer(checks: Checks, activity: dict[str, Any], where: str, *, law: bool = True) -> None:
    """An answer (or digest) with Teams citations: Claim / DigitalDocument entities numbered 1..n,
    each [n] in the text, and (for an LLM answer) the AI label and the feedback buttons."""
    message = entity(activity, MESSAGE_ENTITY) or {}
    claims = message.get("citation") or []
    text = str(activity.get("text") or "")
    checks.check(bool(claims), f"{where}: citations (schema.org Claim entities)", activity.get("entities"))
    checks.check(
        [c.get("position") for c in claims] == list(range(1, len(claims) + 1))
        and all(c.get("@type") == "Claim" for c in claims)
        and all((c.get("appearance") or {}).get("@type") == "DigitalDocument" for c in claims)
        and all(f"[{c.get('position')}]" in text for c in claims),
        f"{where}: each citation is a DigitalDocument whose [n] is in the text",
        claims,
    )
    if law:
        names = [str((c.get("appearance") or {}).get("name")) for c in claims]
        urls = [str((c.get("appearance") or {}).get("url")) for c in claims]
        checks.check(
            "地方自治法 第二百三十八条の四" in names
            and all(u.startswith("https://laws.e-gov.go.jp/law/322AC0000000067#Mp-At_") for u in urls),
            f"{where}: cites 地方自治法 第二百三十八条の四 with its e-Gov deep link",
            list(zip(names, urls, strict=True)),
        )
        checks.check(message.get("additionalType") == ["AIGeneratedContent"], f"{where}: AI label", message)
        channel_data = activity.get("channelData") or {}
        checks.check(
            channel_data.get("feedbackLoopEnabled") is True, f"{where}: feedback buttons", channel_data
        )


# --- the scenarios ----------------------------------------------------------------------------


def to_bot(name: str, conversation: str | None = None) -> Callable[[Exchange], bool]:
    """An activity the Playground sent kairan (``name``: the activity's name, else its type)."""
    return lambda e: e.direction == "to bot" and (e.activity.get("name") or e.name) == name and (
        conversation is None or e.conversation == conversation
    )


def from_bot(name: str, conversation: str) -> Callable[[Exchange], bool]:
    """An activity kairan sent into ``conversation``."""
    return lambda e: e.direction == "from bot" and e.name == name and e.conversation == conversation


async def install(pg: Playground, checks: Checks) -> None:
    print("installing the app in the team", flush=True)
    start = len(pg.exchanges)
    await pg.custom(await pg.template(GENERAL, "install"))
    event = await pg.exchange("the installation event", lambda e: e.direction == "to bot", start)
    checks.check(event.ok and event.name == "installationUpdate", "kairan took the installation event",
                 (event.name, event.status))


async def channel_mention(pg: Playground, checks: Checks) -> str:
    """An @mention in the General channel; returns the post's thread (its conversation id)."""
    print("channel @mention", flush=True)
    start = len(pg.exchanges)
    thread = str((await pg.say(GENERAL, QUESTION, mention=True))["postConversationId"])
    question = await pg.exchange("the @mention reaching kairan", to_bot("message", thread), start)
    reply = await pg.exchange("kairan's answer in the thread", from_bot("message", thread), start)
    checks.check(question.status == 202, "kairan acknowledged the @mention at once (202)", question.status)
    checks.check(reply.ok, "the Playground took the answer (2xx)", (reply.status, reply.response))
    checks.check(
        reply.activity.get("replyToId") == question.activity.get("id")
        and (reply.activity.get("conversation") or {}).get("id") == thread,
        "the answer is a reply in the post's thread",
        (reply.activity.get("replyToId"), reply.activity.get("conversation")),
    )
    names = [e.name for e in pg.exchanges[start:] if e.direction == "from bot"]
    checks.check(names[:1] == ["typing"], "a typing indicator came before the answer", names)
    text = str(reply.activity.get("text"))
    checks.check(text.startswith("行政財産である庁舎は") and f"<at>{BOT_NAME}</at>" not in text,
                 "the answer is the LLM's, to the question without the mention", text[:80])
    check_cited_answer(checks, reply.activity, "channel answer")
    return thread


async def thread_follow_up(
    pg: Playground, checks: Checks, thread: str, asked: Callable[[], list[Any]]
) -> None:
    print("thread follow-up", flush=True)
    start = len(pg.exchanges)
    await pg.say(thread, FOLLOW_UP, mention=True)
    question = await pg.exchange("the follow-up reaching kairan", to_bot("message", thread), start)
    reply = await pg.exchange("kairan's answer to the follow-up", from_bot("message", thread), start)
    checks.check(reply.ok and reply.activity.get("replyToId") == question.activity.get("id"),
                 "the follow-up is answered in the same thread",
                 (reply.status, reply.activity.get("replyToId")))
    check_cited_answer(checks, reply.activity, "follow-up answer")
    # kairan hands the LLM the question NFKC-normalised: compare words, not punctuation.
    prompts = [json.dumps(body, ensure_ascii=False) for body in asked()]
    follow = [p for p in prompts if "民間の事業者に貸し付けられる" in p and "<source" in p]
    checks.check(bool(follow) and "民間のカフェに貸すことはできますか" in follow[-1],
                 "the LLM saw the thread's earlier question with the follow-up", len(follow))


async def personal_stream(pg: Playground, checks: Checks) -> str:
    """A question in the personal chat, answered streamed; returns the stream's (the answer's) id."""
    print("personal chat, streamed", flush=True)
    start = len(pg.exchanges)
    await pg.say(PERSONAL, QUESTION, mention=False)
    final = await pg.exchange("the streamed answer's final message", from_bot("message", PERSONAL), start)
    sent = [e for e in pg.exchanges[start:] if e.direction == "from bot" and e.conversation == PERSONAL]
    kinds = [stream_type(e.activity) for e in sent]
    streamed = [k for k in kinds if k is not None]
    checks.check(streamed[:1] == ["informative"] and "streaming" in streamed and streamed[-1] == "final",
                 "informative update, streamed chunks, final message", kinds)
    chunks = [str(e.activity.get("text")) for e in sent if stream_type(e.activity) == "streaming"]
    checks.check(all(later.startswith(earlier) for earlier, later in itertools.pairwise(chunks)),
                 "the chunks are cumulative", chunks)
    checks.check(all(e.ok for e in sent), "the Playground took every streaming update (2xx)",
                 [(e.name, e.status, e.response) for e in sent if not e.ok])
    informative = next(e for e in sent if stream_type(e.activity) == "informative")
    stream_id = str((informative.response or {}).get("id"))
    info = entity(final.activity, "streaminfo") or {}
    checks.check(info.get("streamId") == stream_id, "the final message ends the stream it started", info)
    check_cited_answer(checks, final.activity, "streamed answer")
    pane = [s for s in pg.shown if s.get("actionConversationId") == PERSONAL
            and s.get("action") in ("createMessage", "updateMessage")]
    last = (pane[-1].get("message") or {}) if pane else {}
    checks.check(
        bool((last.get("aiEntity") or {}).get("citation")) and last.get("feedbackLoopEnabled") is True,
        "the chat pane shows the answer with its citations and feedback buttons",
        {k: last.get(k) for k in ("aiEntity", "feedbackLoopEnabled", "streamEntity")},
    )
    return stream_id


async def feedback_vote(pg: Playground, checks: Checks, answer_id: str, state_url: str) -> None:
    """👎 with a comment, as the Playground's button sends it (without the rated message's id: 400)
    and as Teams sends it (with ``replyToId``: stored against the answer's audit record)."""
    print("feedback vote", flush=True)
    start = len(pg.exchanges)
    comment = json.dumps({"feedbackText": "第二項も示してほしい"}, ensure_ascii=False)
    value = {"actionName": "feedback", "actionValue": {"reaction": "dislike", "feedback": comment}}
    click = {"name": "message/submitAction", "from": {"id": ME}, "conversation": {"id": PERSONAL},
             "value": value}
    await pg.post("/_conversation/v1/invoke", click)  # the Playground tells its page the vote failed
    clicked = await pg.exchange("the 👎 click reaching kairan", to_bot("message/submitAction"), start)
    checks.check("replyToId" not in clicked.activity and clicked.status == 400,
                 "the Playground's vote (it sends no replyToId) is answered 400, not 501",
                 (clicked.status, clicked.activity.get("replyToId")))
    start = len(pg.exchanges)
    as_teams_sends_it = {k: v for k, v in clicked.activity.items() if k != "id"} | {"replyToId": answer_id}
    await pg.custom(as_teams_sends_it)
    vote = await pg.exchange("the vote with replyToId reaching kairan", to_bot("message/submitAction"), start)
    checks.check(vote.status == 200, "a vote naming the answer is taken (200)", (vote.status, vote.response))
    stored = stored_votes(state_url)
    checks.check(stored == [("not_helpful", "第二項も示してほしい")],
                 "the vote is stored against the streamed answer's audit record", stored)


def stored_votes(state_url: str) -> list[tuple[str, str | None]]:
    """(value, comment) of every vote on the personal chat's answers, from kairan's state database."""
    from bot.state.audit import AuditLog
    from bot.state.db import open_database
    from bot.state.feedback import FeedbackStore

    db = open_database(state_url)
    try:
        audit = AuditLog(db)
        store = FeedbackStore(db, key=audit.key, anchor_file=audit.anchor_file)
        answers = [r for r in audit.records() if r.channel == PERSONAL]
        return [(v.value, v.comment) for r in answers for v in store.for_answer(r.id)]
    finally:
        db.close()


async def digest(pg: Playground, checks: Checks, kairan: Run, feed: Any) -> None:
    """``kairan digest run`` (a process of its own, beside serve) posts two new circulars."""
    print("digest", flush=True)
    start = len(pg.exchanges)
    await kairan("digest", "run", SUBSCRIPTION, "--dry-run")  # first look: the feed's items so far are old
    feed.put("/news.rdf", NTA_FEED.read_bytes())  # two circulars published since
    code, out = await kairan("digest", "run", SUBSCRIPTION, must=False)
    if not checks.check(code == 0, "kairan digest run posted the digest", out.strip().splitlines()[-3:]):
        return
    post = await pg.exchange("the digest in the General channel", from_bot("message", GENERAL), start)
    checks.check(post.ok, "the Playground took the digest, posted proactively (2xx)",
                 (post.status, post.response))
    checks.check("replyToId" not in post.activity, "the digest is a new post, not a reply", post.activity)
    text = str(post.activity.get("text"))
    checks.check("新着の通知（2件）" in text and "消費税法基本通達の一部改正について" in text,
                 "the digest lists the two new circulars", text[:200])
    check_cited_answer(checks, post.activity, "digest", law=False)


def check_everything(pg: Playground, checks: Checks) -> None:
    print("every exchanged activity", flush=True)
    sent = [e for e in pg.exchanges if e.direction == "from bot"]
    checks.check(bool(sent) and all(e.ok for e in sent), "the Playground refused nothing kairan sent",
                 [(e.name, e.status, e.response) for e in sent if not e.ok])
    nulls = [(e.name, where) for e in sent if (where := first_null(e.activity))]
    checks.check(not nulls, "no activity kairan sent carries a null", nulls)
    # The one refusal expected: the Playground's own vote, which does not name the rated message.
    expected = to_bot("message/submitAction")
    refused = [(e.name, e.status) for e in pg.exchanges if e.direction == "to bot" and not e.ok
               and not (expected(e) and "replyToId" not in e.activity and e.status == 400)]
    checks.check(not refused, "kairan took every other activity the Playground sent", refused)
    leaked = [e.name for e in sent if re.search(r"Traceback|Exception|Error:", str(e.activity.get("text")))]
    checks.check(not leaked, "no error text reached the chat", leaked)


async def everything(
    pg: Playground, checks: Checks, *, kairan: Run, feed: Any, llm: Any, state_url: str
) -> None:
    """Every scenario in order (the stream's answer is the one voted on), then every exchange."""
    await install(pg, checks)
    thread = await channel_mention(pg, checks)
    await thread_follow_up(pg, checks, thread, lambda: [r.body for r in llm.requests])
    answer_id = await personal_stream(pg, checks)
    await feedback_vote(pg, checks, answer_id, state_url)
    await digest(pg, checks, kairan, feed)
    check_everything(pg, checks)
