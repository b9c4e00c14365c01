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
