// Helpers shared by the web page and the dashboard: plain DOM, no build step.
"use strict";

const $ = (id) => document.getElementById(id);

class ApiError extends Error {}

// The API key is entered once and kept for this browser tab only (sessionStorage).
const KEY_STORE = "liverec.apiKey";

function apiKey() {
  return sessionStorage.getItem(KEY_STORE) || "";
}

async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (apiKey()) init.headers.Authorization = `Bearer ${apiKey()}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError("could not reach the server; is it running?");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    // a body that is not JSON is reported by status below
  }
  if (!response.ok) {
    const message = data && data.message ? data.message : `${response.status} ${response.statusText}`;
    const err = new ApiError(message);
    err.status = response.status;
    if (response.status === 401) askForKey(message);
    throw err;
  }
  return data;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function setStatus(message) {
  $("status").textContent = message;
}

async function guarded(fn) {
  clearError();
  try {
    await fn();
  } catch (err) {
    showError(err instanceof ApiError ? err.message : `unexpected problem: ${err.message || err}`);
  }
}

function askForKey(why) {
  $("key-form").hidden = false;
  $("key-why").textContent = `${why}: enter an API key (liverec keys create --scope write)`;
  $("key-input").focus();
}

function useKey(form) {
  const key = $("key-input").value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY_STORE, key);
  $("key-input").value = "";
  form.hidden = true;
  clearError();
  setStatus("API key saved for this tab");
}

function wireKeyForm() {
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    useKey(e.target);
  });
}
