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

# -- the 照会 loop (bot.inquiry): {number} is 照会#12, {destination} where it went (法務担当) ----------------
# The 「照会する」 button, and what LoGo asks for instead (it has no buttons).
INQUIRY_BUTTON = "照会する"
INQUIRY_HOW_TO_SEND = (
    "この内容で照会するときは「照会する」と返信してください。"
    "文案を直して照会するときは、「照会する」の次の行から直した文案を書いてください。"
)
INQUIRY_EDIT_TITLE = "照会の送信"  # the dialog (Slack modal, Teams card) to check and edit the draft
INQUIRY_EDIT_HINT = "送る前に、［　］の部分を埋め、内容を確認してください。"
INQUIRY_SEND = "送信"
# Told to the asker, in their thread.
INQUIRY_SENT = "{number}を{destination}に送りました。回答があれば、ここでお知らせします。"
INQUIRY_FAILED = "{number}を{destination}に送れませんでした。お手数ですが、管理者にお問い合わせください。"
INQUIRY_ANSWERED = "{number}に{destination}から回答がありました。"
INQUIRY_CORRECTED = "{number}の回答が訂正されました。"
INQUIRY_WITHDRAWN = "{number}の回答は取り下げられました。今後の質問への回答にも使われません。"
INQUIRY_ALREADY_SENT = "この照会は{number}として送ってあります。"
INQUIRY_NOT_ASKER = "照会を送れるのは、質問された方だけです。"
INQUIRY_EXPIRED = "この照会文案は古くなったため送れません。もう一度お尋ねください。"
INQUIRY_NOTHING_TO_SEND = "照会できる回答が見つかりません。先に質問してください。"
INQUIRY_PERSONAL_DATA = (
    "照会文に個人情報（氏名・住所・電話番号など）が含まれているため送れません。"
    "該当する部分を「〇〇」などに置き換えてから、もう一度お送りください。"
)
# Told to the responder, in the inquiry's thread.
INQUIRY_RECEIPT = (
    "{number}の回答として登録しました（第{revision}版）。質問者にお知らせし、"
    "今後の同じ質問にはこの回答を出典としてお示しします。"
)
INQUIRY_ANSWER_BLOCKED = (
    "回答に個人情報が含まれているため登録できませんでした。"
    "該当する部分を置き換えてから、もう一度返信してください。"
)
# How to answer, at the end of every posted 照会.
INQUIRY_HOW_TO_ANSWER = (
    "回答は、このスレッドに返信してください{mention}。質問者に届き、今後の同じ質問への回答にも出典として使われます"
    "（庁内の回答として示します）。訂正はメッセージの編集か新しい返信で、取り下げはメッセージの削除か"
    "「取り下げ」との返信でできます。"
)
INQUIRY_HOW_TO_ANSWER_UNTHREADED = (
    "回答は、このボットをメンションし、「{number}」に続けて書いてください"
    "（例: {number} 〇〇のとおり取り扱ってください）。"
    "質問者に届き、今後の同じ質問への回答にも出典として使われます（庁内の回答として示します）。"
    "訂正は同じように新しい回答を、取り下げは「{number} 取り下げ」と書いてください。"
)
# A source that is a 照会回答 or another Q&A, not a statute (said beside answers that cite one).
INTERNAL_ANSWER_NOTE = (
    "照会回答・Q&Aは庁内の回答であり、法令・通知ではありません。根拠の条文もあわせてご確認ください。"
)
# Before a 照会 is sent: answers to similar inquiries, cited (after the abstention).
INQUIRY_SIMILAR = (
    "照会を送る前に、似た照会への回答もご確認ください（庁内の回答であり、法令・通知ではありません）。"
)
