// The create-subscription form: fields that show only when they apply, and moving or removing
// line item rows with buttons (dragging is app.js's). Each change of order fires the bubbling
// "reordered" event, on which the form refreshes its summary.

// An element with data-show-if="field:value|value;other:value" shows while any condition holds,
// data-hide-if hides while one holds. A field is the control with that data-field in the
// nearest [data-scope] around the element (a line item row, or the form).
function fieldValue(scope, name) {
  for (const control of scope.querySelectorAll(`[data-field="${name}"]`)) {
    if (control.type === "radio") { if (control.checked) return control.value; continue; }
    if (control.type === "checkbox") return control.checked ? "on" : "";
    return control.value;
  }
  return "";
}

function holds(element, spec) {
  const scope = element.parentElement.closest("[data-scope]") || document;
  return spec.split(";").some((condition) => {
    const [name, values] = condition.split(":");
    return values.split("|").includes(fieldValue(scope, name));
  });
}

function applyVisibility(root) {
  root.querySelectorAll("[data-show-if], [data-hide-if]").forEach((element) => {
    let show = element.dataset.showIf ? holds(element, element.dataset.showIf) : true;
    if (element.dataset.hideIf && holds(element, element.dataset.hideIf)) show = false;
    element.hidden = !show;
  });
}

document.addEventListener("DOMContentLoaded", () => applyVisibility(document));
document.addEventListener("change", () => applyVisibility(document));
document.addEventListener("htmx:afterSettle", () => applyVisibility(document));

document.addEventListener("click", (event) => {
  const mover = event.target.closest("[data-move]");
  if (mover) {
    const row = mover.closest("tr");
    const body = row.parentElement;
    if (mover.dataset.move === "up" && row.previousElementSibling) {
      body.insertBefore(row, row.previousElementSibling);
    } else if (mover.dataset.move === "down" && row.nextElementSibling) {
      body.insertBefore(row.nextElementSibling, row);
    } else {
      return;
    }
    mover.focus();  // moving the row took the focus away; keyboard users keep their place
    row.dispatchEvent(new Event("reordered", { bubbles: true }));
    return;
  }
  const remover = event.target.closest("[data-remove-line]");
  if (remover) {
    const row = remover.closest("tr");
    const body = row.parentElement;
    row.remove();
    body.dispatchEvent(new Event("reordered", { bubbles: true }));
  }
});

// The summary is replaced on every change: breakdowns the user opened stay open.
let openBreakdowns = [];
document.addEventListener("htmx:beforeSwap", (event) => {
  if (event.detail.target.id !== "summary") return;
  openBreakdowns = [...event.detail.target.querySelectorAll("details[open][data-testid]")]
    .map((details) => details.dataset.testid);
});
document.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail.target.id !== "summary") return;
  openBreakdowns.forEach((name) => {
    const details = event.detail.target.querySelector(`details[data-testid="${name}"]`);
    if (details) details.open = true;
  });
});

// Edits outside .no-summary fields refresh the summary: the form hears them as
// "summary-change" and "summary-input". The filtering lives here, not in an htmx trigger
// filter, because those are evaluated as code, which the Content-Security-Policy forbids.
for (const kind of ["change", "input"]) {
  document.addEventListener(kind, (event) => {
    const target = event.target;
    const form = target instanceof Element ? target.closest("#create-form") : null;
    if (form && !target.closest(".no-summary")) form.dispatchEvent(new Event(`summary-${kind}`));
  });
}

// Confirmation before creating (seed: "Klik in het dialoogvenster op Maken"): the create
// button's submit is held while the server describes what creating does (the dialog's content
// comes from the same summary the page shows); the dialog's own submit button sends the form.
// A form the server finds invalid (422) is sent at once, so its errors come back on the page.
// Without JavaScript none of this runs and the form submits as before.
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || form.id !== "create-form") return;
  const dialog = document.getElementById("confirm-create");
  if (!dialog || (event.submitter && event.submitter.closest("dialog"))) return;
  event.preventDefault();
  let answer;
  try {
    answer = await fetch("/subscriptions/new/confirm", { method: "POST", body: new FormData(form) });
  } catch {
    answer = null;  // no answer: the server decides on the form itself
  }
  if (!answer || answer.status !== 200) { form.submit(); return; }
  dialog.innerHTML = await answer.text();
  if (!dialog.open) dialog.showModal();
  dialog.querySelector("[data-confirm-create]")?.focus();
});

// "Edit columns": the optional columns of the line item table (seed: "Hvis kolonnerne Tax rate
// og Tax amount ikke vises, ... klik på Edit columns"). Hidden by default unless a line has a
// tax rate. The choice is a display preference of the user only, with no effect on what is
// created, so it is kept in this browser's localStorage under a key with the user's ID (see
// data-columns-key): it survives page loads and the form's own re-renders, without a setting
// stored on the server or a query parameter that each link to this page would have to carry.
const OPTIONAL_COLUMNS = ["tax-rate", "tax-amount"];

function storedColumns(table) {
  try { return JSON.parse(localStorage.getItem(table.dataset.columnsKey)) || {}; } catch { return {}; }
}

function applyColumns() {
  const table = document.querySelector("table[data-columns-key]");
  const editor = document.getElementById("column-editor");
  if (!table || !editor) return;
  editor.hidden = false;
  const stored = storedColumns(table);
  const taxed = [...table.querySelectorAll("select.tax-rate")].some((select) => select.value);
  for (const name of OPTIONAL_COLUMNS) {
    const shown = name in stored ? Boolean(stored[name]) : taxed;
    table.classList.toggle(`hide-${name}`, !shown);
    const box = editor.querySelector(`[data-column="${name}"]`);
    if (box) box.checked = shown;
  }
}

document.addEventListener("DOMContentLoaded", applyColumns);
document.addEventListener("htmx:afterSettle", applyColumns);
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || !box.dataset.column) return;
  const table = document.querySelector("table[data-columns-key]");
  if (!table) return;
  const choice = {};
  document.querySelectorAll("#column-editor [data-column]").forEach((each) => {
    choice[each.dataset.column] = each.checked;
  });
  localStorage.setItem(table.dataset.columnsKey, JSON.stringify(choice));
  applyColumns();
});

// Enter in an inline edit form (the billing contact or company) saves it, rather than
// submitting the whole create form.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || !(event.target instanceof HTMLInputElement)) return;
  const editor = event.target.closest("[data-inline-edit]");
  if (!editor) return;
  event.preventDefault();
  editor.querySelector("[data-inline-save]")?.click();
});
