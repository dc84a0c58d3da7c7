// Treasury dashboard: sign-in, live panels and the few actions. No framework, no build step.
// The token lives in sessionStorage only and travels as a bearer header; it is never written
// into the page, a URL or a log.
(() => {
  "use strict";
  const KEY = "treasury.token";
  const byId = (id) => document.getElementById(id);
  const refreshMs = Number(document.body.dataset.refreshMs) || 3000;
  const state = { token: sessionStorage.getItem(KEY), role: null, timer: null, last: {}, busy: false };

  function notice(text, kind) {
    const el = byId("notice");
    el.textContent = text || "";
    el.className = "notice" + (kind ? " " + kind : "");
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method, headers, cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      return { ok: false, status: 0, data: { error: "the service cannot be reached" } };
    }
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    return { ok: response.ok, status: response.status, data };
  }

  function message(result) {
    return (result.data && result.data.error) || "HTTP " + result.status;
  }

  function showSignedIn(who) {
    state.role = who.role;
    byId("role-badge").textContent = who.role + " · " + who.fingerprint;
    byId("role-badge").className = "badge " + who.role;
    byId("session").hidden = false;
    byId("sign-in").hidden = true;
    byId("main").hidden = false;
  }

  function signOut(reason) {
    sessionStorage.removeItem(KEY);
    Object.assign(state, { token: null, role: null, last: {} });
    clearTimeout(state.timer);
    byId("session").hidden = true;
    byId("main").hidden = true;
    byId("sign-in").hidden = false;
    byId("sign-in-error").textContent = reason || "";
    notice("");
    byId("token").focus();
  }

  async function signIn(token) {
    state.token = token;
    const who = await api("GET", "/auth/whoami");
    if (!who.ok) {
      state.token = null;
      byId("sign-in-error").textContent =
        who.status === 401 ? "That token is not valid." : "Sign-in failed: " + message(who);
      return;
    }
    sessionStorage.setItem(KEY, token);
    byId("token").value = "";
    showSignedIn(who.data);
    refresh();
  }

  async function refresh() {
    clearTimeout(state.timer);
    if (!state.token) return;
    const range = byId("time-range").value;
    const result = await api("GET", "/dashboard/panels?time_range=" + encodeURIComponent(range));
    if (result.status === 401) { signOut("Your token is no longer accepted; sign in again."); return; }
    if (result.ok && result.data && result.data.panels) {
      for (const [name, html] of Object.entries(result.data.panels)) {
        const el = byId("panel-" + name);
        if (el && state.last[name] !== html) {
          el.innerHTML = html;  // server-rendered, auto-escaped by the template engine
          state.last[name] = html;
        }
        if (el) el.removeAttribute("aria-busy");
      }
      byId("updated").textContent = "updated " + new Date().toLocaleTimeString();
      if (byId("notice").classList.contains("offline")) notice("");
    } else {
      notice("Live updates paused: " + message(result) + ". Retrying…", "offline");
    }
    schedule();
  }

  function schedule() {
    clearTimeout(state.timer);
    if (state.token && !document.hidden) state.timer = setTimeout(refresh, refreshMs);
  }

  // Approve or reject: a confirmation dialog with a notes field, then the API call.
  let pendingAction = null;
  function openDecision(kind, id) {
    pendingAction = { kind, id };
    byId("decision-title").textContent = (kind === "approve" ? "Approve " : "Reject ") + id + "?";
    byId("decision-summary").textContent = kind === "approve"
      ? "The plan will be executed on chain right after you confirm."
      : "The decision will be closed and its plan never executed.";
    byId("decision-confirm").textContent = kind === "approve" ? "Confirm approval" : "Confirm rejection";
    byId("decision-confirm").className = kind === "approve" ? "action" : "danger";
    byId("decision-notes").value = "";
    byId("decision-error").textContent = "";
    byId("decision-dialog").showModal();
    byId("decision-notes").focus();
  }

  async function confirmDecision(event) {
    event.preventDefault();
    if (!pendingAction) return;
    const { kind, id } = pendingAction;
    const notes = byId("decision-notes").value.trim();
    const result = await api("POST", "/decisions/" + encodeURIComponent(id) + "/approve",
      { approved: kind === "approve", notes: notes || null });
    if (!result.ok) { byId("decision-error").textContent = message(result); return; }
    byId("decision-dialog").close();
    pendingAction = null;
    notice((kind === "approve" ? "Approved " : "Rejected ") + id + ".", "ok");
    refresh();
  }

  // Emergency stop and resume: a confirmation dialog with a required reason.
  let stopKind = null;
  function openStop(kind) {
    stopKind = kind;
    byId("stop-title").textContent = kind === "stop" ? "Emergency stop" : "Resume trading";
    byId("stop-summary").textContent = kind === "stop"
      ? "Every automatic and approved transaction stops until an approver resumes."
      : "Decision cycles and approved plans will run again.";
    byId("stop-confirm").textContent = kind === "stop" ? "Stop everything" : "Resume";
    byId("stop-confirm").className = kind === "stop" ? "danger" : "action";
    byId("stop-reason").value = "";
    byId("stop-error").textContent = "";
    byId("stop-dialog").showModal();
    byId("stop-reason").focus();
  }

  async function confirmStop(event) {
    event.preventDefault();
    const reason = byId("stop-reason").value.trim();
    if (!reason) { byId("stop-error").textContent = "A reason is required."; return; }
    const path = stopKind === "stop" ? "/emergency-stop" : "/resume";
    const result = await api("POST", path, { reason });
    if (!result.ok) { byId("stop-error").textContent = message(result); return; }
    byId("stop-dialog").close();
    notice(stopKind === "stop" ? "Emergency stop is active." : "Trading resumed.", "ok");
    refresh();
  }

  // Under Safe custody: an owner's signature over the revocation of the agent's role, pasted
  // from the owner's wallet. The form is re-rendered with the banner, so it is found by id.
  async function submitRevocationSignature(event) {
    event.preventDefault();
    const error = byId("revocation-error");
    const signature = byId("revocation-signature").value.trim();
    if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) {
      error.textContent = "A signature is 0x followed by 130 hex digits (65 bytes: r, s, v).";
      return;
    }
    const body = { signature };
    const signer = byId("revocation-signer").value;
    if (signer) body.signer = signer;
    byId("revocation-submit").disabled = true;
    const result = await api("POST", "/emergency-stop/revocation/signatures", body);
    byId("revocation-submit").disabled = false;
    if (!result.ok) { error.textContent = message(result); return; }
    showRevocationOutcome(result.data);
  }

  // Paper mode only: the server signs with a paper owner's key (the key stays on the server).
  async function signAsPaperOwner(button) {
    button.disabled = true;
    const result = await api("POST", "/paper/emergency-stop/revocation/sign-as-owner",
      { owner: Number(button.dataset.owner) });
    if (!result.ok) {
      button.disabled = false;
      byId("revocation-error").textContent = message(result);
      return;
    }
    showRevocationOutcome(result.data);
  }

  function showRevocationOutcome(out) {
    if (out.executed) {
      notice("The agent's role is revoked (transaction " + out.tx_hash + ").", "ok");
    } else if (out.error) {
      notice("Signatures complete but the revocation did not run: " + out.error, "offline");
    } else {
      notice("Signature of " + out.signer + " kept: " + out.signatures.length + " of " +
        out.threshold + " owners have signed.", "ok");
    }
    refresh();
  }

  document.addEventListener("submit", (event) => {
    if (event.target && event.target.id === "revocation-form") submitRevocationSignature(event);
  });

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button || button.disabled) return;
    const action = button.dataset.action;
    if (action === "approve" || action === "reject") openDecision(action, button.dataset.decisionId);
    if (action === "stop" || action === "resume") openStop(action);
    if (action === "paper-sign") signAsPaperOwner(button);
  });

  document.addEventListener("DOMContentLoaded", () => {
    byId("sign-in-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = byId("token").value.trim();
      if (token.length < 16) { byId("sign-in-error").textContent = "Tokens are at least 16 characters."; return; }
      signIn(token);
    });
    byId("sign-out").addEventListener("click", () => signOut(""));
    byId("decision-form").addEventListener("submit", confirmDecision);
    byId("decision-cancel").addEventListener("click", () => byId("decision-dialog").close());
    byId("stop-form").addEventListener("submit", confirmStop);
    byId("stop-cancel").addEventListener("click", () => byId("stop-dialog").close());
    byId("time-range").addEventListener("change", () => { state.last.performance = null; refresh(); });
    document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
    if (state.token) signIn(state.token); else byId("token").focus();
  });
})();
