// Staff quick entry: pick journey, behaviour and failure mode, optionally a customer and a
// note, and log the slip. Each entry carries its own Idempotency-Key, so a double tap or a
// resend logs it once. Entries that cannot be sent (no network, server error) wait in
// localStorage and are resent with backoff and whenever the browser comes back online.
(() => {
  "use strict";

  const root = document.getElementById("staff");
  const form = document.getElementById("slip-form");
  const dataBlock = document.getElementById("choices-data");
  if (!root || !form || !dataBlock) return;

  const journeys = JSON.parse(dataBlock.textContent || "[]");
  const clockOffset = Number(root.dataset.serverNow || Date.now()) - Date.now();
  const OUTBOX_KEY = "slipguard.staff.outbox." + (root.dataset.user || "anonymous");
  const UNDO_MS = 8000;
  const SEARCH_DELAY_MS = 250;
  const SEARCH_MIN_CHARS = 2;
  const RETRY_FIRST_MS = 2000;
  const RETRY_MAX_MS = 60000;

  const $ = (id) => document.getElementById(id);
  const behaviourGroup = $("behaviour-group");
  const behaviourChoices = $("behaviour-choices");
  const modeGroup = $("mode-group");
  const modeChoices = $("mode-choices");
  const search = $("customer-search");
  const finder = $("customer-finder");
  const results = $("customer-results");
  const chosen = $("customer-chosen");
  const chosenText = $("customer-chosen-text");
  const hint = $("customer-hint");
  const note = $("note");
  const complaint = $("complaint");
  const announce = $("announce");
  const undoButton = $("undo");
  const outboxStatus = $("outbox");
  const formError = $("form-error");
  const submit = $("submit");

  // --- helpers ------------------------------------------------------------------------------

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)slipguard_csrf=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : root.dataset.csrf || "";
  }

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // Pages served over plain http on a LAN address have no randomUUID.
    const b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    const parts = [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)];
    return parts.join("-");
  }

  function say(region, text) {
    // Clear first so the same message is announced again.
    region.textContent = "";
    window.setTimeout(() => {
      region.textContent = text;
    }, 50);
  }

  function checked(name) {
    const input = form.querySelector(`input[name="${name}"]:checked`);
    return input ? input.value : null;
  }

  function choice(name, value, title) {
    const label = document.createElement("label");
    label.className = "choice";
    const input = document.createElement("input");
    input.type = "radio";
    input.name = name;
    input.value = value;
    const text = document.createElement("span");
    text.textContent = title;
    label.append(input, text);
    return label;
  }

  const journeyOf = (key) => journeys.find((j) => j.key === key);
  const behaviourOf = (j, key) => (j ? j.behaviours.find((b) => b.key === key) : undefined);

  // --- choices ------------------------------------------------------------------------------

  function showBehaviours() {
    const journey = journeyOf(checked("journey"));
    behaviourChoices.replaceChildren(
      ...(journey ? journey.behaviours.map((b) => choice("behaviour", b.key, b.title)) : []),
    );
    behaviourGroup.hidden = !journey;
    showModes();
  }

  function showModes() {
    const behaviour = behaviourOf(journeyOf(checked("journey")), checked("behaviour"));
    const modes = behaviour ? behaviour.failure_modes : [];
    const options = modes.map((m) => choice("failure_mode", m.key, m.title));
    if (options.length) {
      const unsure = choice("failure_mode", "", "Not sure");
      unsure.querySelector("input").checked = true;
      options.push(unsure);
    }
    modeChoices.replaceChildren(...options);
    modeGroup.hidden = !options.length;
  }

  form.addEventListener("change", (event) => {
    const name = event.target.name;
    if (name === "journey") showBehaviours();
    else if (name === "behaviour") showModes();
    clearError(name);
  });

  // --- customer search ----------------------------------------------------------------------

  let customer = null;
  let searchTimer = 0;
  let searchAbort = null;

  function showResults(items) {
    results.replaceChildren(
      ...items.map((c) => {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "result";
        const details = [c.external_ref, c.phone].filter(Boolean).join(" · ");
        button.textContent = details ? `${c.name || "(no name)"} · ${details}` : c.name;
        button.addEventListener("click", () => pickCustomer(c, button.textContent));
        item.append(button);
        return item;
      }),
    );
    results.hidden = !items.length;
  }

  async function runSearch() {
    const q = search.value.trim();
    if (searchAbort) searchAbort.abort();
    if (q.length < SEARCH_MIN_CHARS) {
      showResults([]);
      hint.textContent = "";
      return;
    }
    searchAbort = new AbortController();
    try {
      const response = await fetch(`/staff/customers?q=${encodeURIComponent(q)}`, {
        headers: { accept: "application/json" },
        credentials: "same-origin",
        redirect: "manual",
        signal: searchAbort.signal,
      });
      if (!response.ok) throw new Error(String(response.status));
      const body = await response.json();
      showResults(body.items);
      hint.textContent = body.items.length
        ? `${body.items.length} matching customer${body.items.length === 1 ? "" : "s"}`
        : "No customer matches; you can log the slip without one.";
    } catch (error) {
      if (error && error.name === "AbortError") return;
      showResults([]);
      hint.textContent = "Customer search is not available right now; log the slip without one.";
    }
  }

  function pickCustomer(c, text) {
    customer = c;
    chosenText.textContent = text;
    finder.hidden = true;
    chosen.hidden = false;
    hint.classList.add("sr-only"); // the chip shows it; screen readers still hear it
    hint.textContent = `Customer chosen: ${c.name || text}`;
    clearError("customer_id");
    $("customer-clear").focus();
  }

  function clearCustomer(focus) {
    customer = null;
    chosen.hidden = true;
    finder.hidden = false;
    search.value = "";
    showResults([]);
    hint.classList.remove("sr-only");
    hint.textContent = "";
    if (focus) search.focus();
  }

  search.addEventListener("input", () => {
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(runSearch, SEARCH_DELAY_MS);
  });
  search.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" && !results.hidden) {
      event.preventDefault();
      results.querySelector("button").focus();
    } else if (event.key === "Enter") {
      event.preventDefault(); // Enter in the search box must not log the slip
      window.clearTimeout(searchTimer);
      runSearch();
    }
  });
  results.addEventListener("keydown", (event) => {
    const buttons = Array.from(results.querySelectorAll("button"));
    const at = buttons.indexOf(document.activeElement);
    if (event.key === "ArrowDown" && at < buttons.length - 1) buttons[at + 1].focus();
    else if (event.key === "ArrowUp") (at > 0 ? buttons[at - 1] : search).focus();
    else if (event.key === "Escape") search.focus();
    else return;
    event.preventDefault();
  });
  $("customer-clear").addEventListener("click", () => clearCustomer(true));

  // --- errors -------------------------------------------------------------------------------

  const FIELD_ERRORS = {
    journey: "journey-error",
    behaviour: "behaviour-error",
    failure_mode: "failure_mode-error",
    customer_id: "customer_id-error",
    customer_ref: "customer_id-error",
    note: "note-error",
    kind: "kind-error",
  };

  function clearError(field) {
    const id = FIELD_ERRORS[field];
    if (id) $(id).textContent = "";
  }

  function clearErrors() {
    for (const id of new Set(Object.values(FIELD_ERRORS))) $(id).textContent = "";
    formError.textContent = "";
  }

  function showProblem(problem) {
    const errors = problem && Array.isArray(problem.errors) ? problem.errors : [];
    const general = [];
    let first = null;
    for (const e of errors) {
      const id = FIELD_ERRORS[e.field];
      if (id) {
        $(id).textContent = e.message;
        first = first || $(id).closest("[data-field]");
      } else {
        general.push(e.field ? `${e.field}: ${e.message}` : e.message);
      }
    }
    if (!errors.length) {
      general.push((problem && (problem.detail || problem.title)) || "Not logged.");
    }
    if (!general.length) general.push("Not logged: see the marked choice.");
    formError.textContent = general.join(" ");
    const target = first && first.querySelector("input:not([hidden]), textarea");
    if (target && target.offsetParent !== null) target.focus();
  }

  async function readProblem(response) {
    try {
      return await response.json();
    } catch (_) {
      return { detail: `The server answered ${response.status}.` };
    }
  }

  // --- sending ------------------------------------------------------------------------------

  // The entry on the form: reused (same key, same body) while the form does not change, so
  // a second tap or a retry is the same request and the server replays the first answer.
  let pending = null;

  function readForm() {
    clearErrors();
    const journey = journeyOf(checked("journey"));
    const behaviour = behaviourOf(journey, checked("behaviour"));
    if (!journey) $("journey-error").textContent = "Choose a journey.";
    else if (!behaviour) $("behaviour-error").textContent = "Choose what the customer did not do.";
    if (!journey || !behaviour) {
      const group = journey ? behaviourGroup : $("journey-group");
      const first = group.querySelector("input");
      if (first) first.focus();
      return null;
    }
    const modeKey = checked("failure_mode") || null;
    const mode = modeKey ? behaviour.failure_modes.find((m) => m.key === modeKey) : undefined;
    const fields = { journey: journey.key, behaviour: behaviour.key };
    if (modeKey) fields.failure_mode = modeKey;
    if (customer) fields.customer_id = customer.id;
    const text = note.value.trim();
    if (text) fields.note = text;
    if (complaint.checked) fields.kind = "complaint";
    const signature = JSON.stringify(fields);
    if (pending && pending.signature === signature) return pending;
    const occurred = new Date(Date.now() + clockOffset).toISOString();
    pending = {
      key: newKey(),
      signature,
      body: JSON.stringify({ ...fields, occurred_at: occurred }),
      label: mode ? `${behaviour.title} — ${mode.title}` : behaviour.title,
    };
    return pending;
  }

  function resetForm() {
    pending = null;
    for (const input of form.querySelectorAll('input[name="behaviour"]')) input.checked = false;
    showModes();
    clearCustomer(false);
    note.value = "";
    complaint.checked = false;
  }

  // Outcome of one POST: "ok" (201, fresh or replayed), "retry" (network, 5xx), "login"
  // (the session or CSRF token is gone: keep the entry) or "invalid" (4xx: show it).
  async function send(entry) {
    let response;
    try {
      response = await fetch("/staff/slips", {
        method: "POST",
        credentials: "same-origin",
        redirect: "manual",
        headers: {
          accept: "application/json",
          "content-type": "application/json",
          "idempotency-key": entry.key,
          "x-csrftoken": csrfToken(),
        },
        body: entry.body,
      });
    } catch (_) {
      return { kind: "retry" };
    }
    if (response.status === 201) {
      try {
        return { kind: "ok", slip: await response.json() };
      } catch (_) {
        return { kind: "retry" };
      }
    }
    if (response.type === "opaqueredirect" || response.status === 401 || response.status === 403) {
      return { kind: "login" };
    }
    if (response.status >= 500 || response.status === 408 || response.status === 429) {
      return { kind: "retry" };
    }
    return { kind: "invalid", problem: await readProblem(response) };
  }

  // --- confirmation and undo ----------------------------------------------------------------

  let undoTimer = 0;
  let undoSlip = null;
  let lastLogged = null;

  function hideUndo() {
    window.clearTimeout(undoTimer);
    const hadFocus = document.activeElement === undoButton;
    undoButton.hidden = true;
    undoSlip = null;
    if (hadFocus) submit.focus();
  }

  function startUndoTimer() {
    window.clearTimeout(undoTimer);
    undoTimer = window.setTimeout(hideUndo, UNDO_MS);
  }

  function logged(entry, slip) {
    if (lastLogged === slip.id) return; // a replay of what was just confirmed
    lastLogged = slip.id;
    say(announce, `Logged: ${entry.label}`);
    undoSlip = { id: slip.id, label: entry.label };
    undoButton.hidden = false;
    startUndoTimer();
  }

  // Keep Undo while someone is on it: eight seconds is short with a screen reader.
  undoButton.addEventListener("focus", () => window.clearTimeout(undoTimer));
  undoButton.addEventListener("mouseenter", () => window.clearTimeout(undoTimer));
  undoButton.addEventListener("blur", () => undoSlip && startUndoTimer());
  undoButton.addEventListener("mouseleave", () => undoSlip && startUndoTimer());

  undoButton.addEventListener("click", async () => {
    const target = undoSlip;
    if (!target) return;
    undoButton.disabled = true;
    let message;
    try {
      const response = await fetch(`/staff/slips/${target.id}/undo`, {
        method: "POST",
        credentials: "same-origin",
        redirect: "manual",
        headers: { accept: "application/json", "x-csrftoken": csrfToken() },
      });
      if (response.ok) {
        message = `Undone: ${target.label}`;
      } else {
        const problem = await readProblem(response);
        message = `Could not undo: ${problem.detail || response.status}`;
      }
    } catch (_) {
      message = "Could not undo: no connection. Try again in a moment.";
    }
    undoButton.disabled = false;
    if (message.startsWith("Undone")) hideUndo();
    say(announce, message);
  });

  // --- the outbox ---------------------------------------------------------------------------

  let retryTimer = 0;
  let retryDelay = RETRY_FIRST_MS;
  let flushing = false;
  let needsLogin = false;

  function loadOutbox() {
    try {
      const saved = JSON.parse(window.localStorage.getItem(OUTBOX_KEY) || "[]");
      return Array.isArray(saved) ? saved : [];
    } catch (_) {
      return [];
    }
  }

  function saveOutbox(entries) {
    if (entries.length) window.localStorage.setItem(OUTBOX_KEY, JSON.stringify(entries));
    else window.localStorage.removeItem(OUTBOX_KEY);
    showOutbox();
  }

  function keep(entry) {
    const entries = loadOutbox();
    if (!entries.some((e) => e.key === entry.key)) {
      entries.push({ key: entry.key, body: entry.body, label: entry.label });
    }
    try {
      saveOutbox(entries);
      return true;
    } catch (_) {
      return false; // storage full or switched off
    }
  }

  function drop(key) {
    saveOutbox(loadOutbox().filter((e) => e.key !== key));
  }

  function showOutbox() {
    const waiting = loadOutbox().length;
    let text = "";
    if (waiting && needsLogin) {
      text = `Saved on this phone — log in again to send it (${waiting} waiting). `;
    } else if (waiting) {
      text = `Saved on this phone — will send when the connection is back (${waiting} waiting)`;
    }
    if (outboxStatus.dataset.shown === text) return;
    outboxStatus.dataset.shown = text;
    outboxStatus.textContent = text;
    if (waiting && needsLogin) {
      const link = document.createElement("a");
      link.href = `/login?next=${encodeURIComponent(window.location.pathname)}`;
      link.textContent = "Log in";
      outboxStatus.append(link);
    }
  }

  function scheduleRetry() {
    window.clearTimeout(retryTimer);
    if (!loadOutbox().length) return;
    const jitter = Math.random() * 0.3 * retryDelay;
    retryTimer = window.setTimeout(flush, retryDelay + jitter);
    retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
  }

  async function flush() {
    if (flushing) return;
    flushing = true;
    window.clearTimeout(retryTimer);
    let stalled = false;
    try {
      for (const entry of loadOutbox()) {
        const outcome = await send(entry);
        if (outcome.kind === "ok") {
          drop(entry.key);
          needsLogin = false;
          retryDelay = RETRY_FIRST_MS;
          logged(entry, outcome.slip);
        } else if (outcome.kind === "invalid") {
          drop(entry.key);
          say(announce, `Not logged: ${entry.label}. ${outcome.problem.detail || ""}`.trim());
        } else {
          needsLogin = outcome.kind === "login";
          stalled = true;
          break;
        }
      }
    } finally {
      flushing = false;
      showOutbox();
      if (stalled) scheduleRetry();
    }
  }

  window.addEventListener("online", () => {
    retryDelay = RETRY_FIRST_MS;
    flush();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && loadOutbox().length) flush();
  });
  window.addEventListener("storage", (event) => {
    if (event.key === OUTBOX_KEY) showOutbox();
  });

  // --- submit -------------------------------------------------------------------------------

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const entry = readForm();
    if (!entry) return;
    submit.disabled = true;
    submit.textContent = "Sending…";
    try {
      const outcome = await send(entry);
      if (outcome.kind === "ok") {
        if (pending === entry) resetForm();
        logged(entry, outcome.slip);
      } else if (outcome.kind === "invalid") {
        showProblem(outcome.problem);
      } else {
        // Keep it on the phone (same key, same body) and send it later.
        needsLogin = outcome.kind === "login";
        hideUndo();
        if (keep(entry)) {
          if (pending === entry) resetForm();
          say(announce, `Not sent yet: ${entry.label}`);
          scheduleRetry();
        } else {
          formError.textContent =
            "Not logged: no connection, and this phone cannot keep it. Try again.";
        }
      }
    } finally {
      submit.disabled = false;
      submit.textContent = "Log slip";
    }
  });

  showBehaviours();
  showOutbox();
  if (loadOutbox().length) flush();
})();
