// kairan console: asks /console/api/stream (server-sent events) and renders the cited answer.
"use strict";

(function () {
  const EGOV = "https://laws.e-gov.go.jp/";
  const form = document.getElementById("ask-form");
  const question = document.getElementById("question");
  const submit = document.getElementById("submit");
  const log = document.getElementById("log");
  const statusLine = document.getElementById("status");
  const tokenInput = document.getElementById("token");
  const template = document.getElementById("turn-template");
  let thread = newThreadId();
  let turns = 0;

  tokenInput.value = sessionStorage.getItem("kairan-token") || "";
  tokenInput.addEventListener("change", () => sessionStorage.setItem("kairan-token", tokenInput.value));

  function newThreadId() {
    if (window.crypto && crypto.randomUUID) return "console-" + crypto.randomUUID();
    return "console-" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function setStatus(text, isError) {
    statusLine.textContent = text;
    statusLine.className = isError ? "error" : "";
  }

  function headers() {
    const h = { "Content-Type": "application/json", "X-Kairan-Console": "1" };
    const token = tokenInput.value.trim();
    if (token) h.Authorization = "Bearer " + token;
    return h;
  }

  function safeUrl(url) {
    return typeof url === "string" && url.startsWith("https://") ? url : null;
  }

  // Answer text with each [n] turned into a link to citation n of this turn.
  function renderText(target, text, prefix, numbers) {
    target.textContent = "";
    const pattern = /\[(\d+)\]/g;
    let last = 0;
    let match;
    while ((match = pattern.exec(text)) !== null) {
      target.appendChild(document.createTextNode(text.slice(last, match.index)));
      if (numbers.has(Number(match[1]))) {
        const a = document.createElement("a");
        a.className = "ref";
        a.href = "#" + prefix + match[1];
        a.textContent = match[0];
        target.appendChild(a);
      } else {
        target.appendChild(document.createTextNode(match[0]));
      }
      last = pattern.lastIndex;
    }
    target.appendChild(document.createTextNode(text.slice(last)));
  }

  function renderAnswer(node, data) {
    const prefix = "cite-" + node.dataset.turn + "-";
    const numbers = new Set(data.citations.map((c) => c.n));
    renderText(node.querySelector(".answer-text"), data.answer, prefix, numbers);
    node.querySelector(".badge.extractive").hidden = !(data.extractive && !data.abstained);
    node.querySelector(".badge.abstained").hidden = !data.abstained;

    const warnings = node.querySelector(".warnings");
    warnings.textContent = "";
    for (const w of data.warnings) {
      const li = document.createElement("li");
      li.textContent = w;
      warnings.appendChild(li);
    }
    warnings.hidden = data.warnings.length === 0;

    const section = node.querySelector(".citations");
    const list = section.querySelector("ol");
    list.textContent = "";
    for (const c of data.citations) {
      const li = document.createElement("li");
      li.id = prefix + c.n;
      li.value = c.n;
      const mark = document.createElement("span");
      mark.className = "mark";
      mark.textContent = c.verified ? "✅" : "⚠️";
      mark.title = c.verified ? "引用を原文で確認済み" : "引用を原文で確認できませんでした";
      li.appendChild(mark);
      const url = safeUrl(c.url);
      const title = document.createElement(url ? "a" : "span");
      title.textContent = c.title;
      if (url) {
        title.href = url;
        title.target = "_blank";
        title.rel = "noopener noreferrer";
        if (url.startsWith(EGOV)) title.title = "e-Gov 法令検索で原文を開く";
      }
      li.appendChild(title);
      if (!c.verified) {
        const note = document.createElement("span");
        note.className = "unverified";
        note.textContent = "（未確認）";
        li.appendChild(note);
      }
      if (c.quote) {
        const quote = document.createElement("blockquote");
        quote.textContent = c.quote;
        li.appendChild(quote);
      }
      list.appendChild(li);
    }
    section.hidden = data.citations.length === 0;

    const inquiry = node.querySelector(".inquiry");
    inquiry.hidden = !(data.abstained && data.inquiry_draft);
    node.querySelector(".inquiry-text").textContent = data.inquiry_draft || "";
  }

  async function copyText(text, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = "コピーしました";
    setTimeout(() => { button.textContent = "照会文案をコピー"; }, 2000);
  }

  function newTurn(text) {
    turns += 1;
    const node = template.content.firstElementChild.cloneNode(true);
    node.dataset.turn = String(turns);
    node.querySelector(".question-text").textContent = text;
    node.querySelector(".answer-text").textContent = "回答を作成しています…";
    node.querySelector(".copy").addEventListener("click", (ev) =>
      copyText(node.querySelector(".inquiry-text").textContent, ev.currentTarget));
    log.appendChild(node);
    return node;
  }

  // Reads "event: x\ndata: {...}\n\n" blocks from a fetch body.
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        onEvent(event, data ? JSON.parse(data) : null);
      }
    }
  }

  async function ask(text) {
    const node = newTurn(text);
    const answerText = node.querySelector(".answer-text");
    let draft = "";
    let finished = false;
    const response = await fetch("/console/api/stream", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({ question: text, thread: thread }),
    });
    if (!response.ok) {
      let message = "エラーが発生しました（" + response.status + "）。";
      try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
      answerText.textContent = message;
      if (response.status === 403) document.getElementById("token-box").open = true;
      throw new Error(message);
    }
    await readEvents(response, (event, data) => {
      if (event === "delta") {
        draft += data.text;
        answerText.textContent = draft;
      } else if (event === "answer") {
        renderAnswer(node, data);
        finished = true;
      } else if (event === "error") {
        answerText.textContent = data.error;
        finished = true;
      }
    });
    if (!finished) answerText.textContent = "回答を受け取れませんでした。もう一度お試しください。";
    node.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = question.value.trim();
    if (!text) return;
    submit.disabled = true;
    setStatus("回答を作成しています…", false);
    try {
      await ask(text);
      question.value = "";
      setStatus("", false);
    } catch (e) {
      setStatus(e.message || "エラーが発生しました。", true);
    } finally {
      submit.disabled = false;
      question.focus();
    }
  });

  question.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) form.requestSubmit();
  });

  const digestBox = document.getElementById("digest-box");
  const digestSub = document.getElementById("digest-sub");
  const digestText = document.getElementById("digest-text");

  async function loadDigests() {
    try {
      const response = await fetch("/console/api/digests", { headers: headers() });
      if (!response.ok) return;
      const data = await response.json();
      for (const id of data.subscriptions) {
        const option = document.createElement("option");
        option.value = id;
        option.textContent = id;
        digestSub.appendChild(option);
      }
      digestBox.hidden = data.subscriptions.length === 0;
    } catch (err) {
      digestBox.hidden = true;
    }
  }

  document.getElementById("digest-preview").addEventListener("click", async () => {
    digestText.textContent = "取得しています…";
    const response = await fetch("/console/api/digest-preview", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({ subscription: digestSub.value }),
    });
    const data = await response.json();
    digestText.textContent = response.ok ? data.text : data.error || "プレビューを表示できませんでした。";
  });
  loadDigests();

  const inquiryBox = document.getElementById("inquiry-box");
  const inquiryRows = document.querySelector("#inquiry-table tbody");

  async function loadInquiries() {
    try {
      const response = await fetch("/console/api/inquiries", { headers: headers() });
      if (!response.ok) return;
      const data = await response.json();
      inquiryRows.textContent = "";
      for (const item of data.inquiries) {
        const tr = document.createElement("tr");
        tr.className = item.state;
        for (const value of [item.number, item.state_label, item.age, item.destination, item.question]) {
          const td = document.createElement("td");
          td.textContent = value;
          tr.appendChild(td);
        }
        inquiryRows.appendChild(tr);
      }
      inquiryBox.hidden = data.inquiries.length === 0;
    } catch (err) {
      inquiryBox.hidden = true;
    }
  }
  document.getElementById("inquiry-refresh").addEventListener("click", loadInquiries);
  loadInquiries();

  document.getElementById("new-thread").addEventListener("click", () => {
    thread = newThreadId();
    log.textContent = "";
    turns = 0;
    setStatus("新しい会話を始めました。", false);
    question.focus();
  });
})();
