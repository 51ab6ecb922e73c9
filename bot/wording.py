"""What kairan says to staff about itself, on every platform: apologies, notices, progress, feedback.

One wording per message, in natural Japanese; the renderers only lay it out in their platform's
idiom. What kairan says about the law (answers, abstentions, 照会 drafts, notes on the sources) is
written by ``bot.answer_text`` and ``bot.verify``.
"""

from __future__ import annotations

# A question could not be answered (the details go to the log, never into the chat).
APOLOGY = "申し訳ありません。回答の作成中にエラーが発生しました。時間をおいてもう一度お試しください。"
# A question whose answer was interrupted too often (its bot stopped while answering, again and again).
INTERRUPTED = (
    "申し訳ありません。回答の作成中に処理が中断されたため、お答えできませんでした。"
    "お手数ですが、もう一度お尋ねください。"
)
# A conversation the manifest gives nothing to search (see manifest.scope).
NOT_CONFIGURED = (
    "この会話は kairan の利用先として設定されていないため、お答えできません。管理者にお問い合わせください。"
)
# A mention without a question.
EMPTY_QUESTION = "法令や通知についてのご質問を、メンションに続けて書いてください。"
# Shown while a question is being answered (Slack's assistant status, Teams' informative update).
WORKING = "調べています…"
# The answer to a 👍/👎 click.
FEEDBACK_THANKS = "ご意見ありがとうございました。今後の改善に活用します。"
FEEDBACK_FAILED = "申し訳ありません。ご意見を記録できませんでした。"
# The opening of a new assistant thread, with prompts to start from (title, question).
GREETING = "法令・通知についてご質問ください。回答には根拠となる条文へのリンクを付けます。"
SUGGESTED_PROMPTS = (
    ("審査基準とは", "行政手続法の審査基準について教えて"),
    ("標準処理期間", "申請に対する処分の標準処理期間は？"),
)
