// Cadency web app behaviour that htmx does not cover. Small on purpose: no build step.
document.addEventListener("DOMContentLoaded", () => {
  if (window.htmx) {
    // Forms answered with 422 carry their own error messages: show them in place.
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "422", swap: true },
      { code: "[45]..", swap: false, error: true },
    ];
  }
});

// A <select data-submit-on-change> submits its form when changed (the language switch); a
// handler here rather than inline, which the Content-Security-Policy does not allow.
document.addEventListener("change", (event) => {
  const field = event.target;
  if (field instanceof HTMLSelectElement && field.hasAttribute("data-submit-on-change")) {
    field.form?.submit();
  }
});

// A checkbox with data-enables="<id>" enables that button only while it is checked
// (e.g. "I understand the customer will not be charged again").
document.addEventListener("change", (event) => {
  const box = event.target;
  if (box instanceof HTMLInputElement && box.dataset.enables) {
    const target = document.getElementById(box.dataset.enables);
    if (target) target.disabled = !box.checked;
  }
});

// <button data-open-dialog="id"> opens a <dialog>; [data-close-dialog] closes its dialog.
document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-open-dialog]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.openDialog);
    if (dialog) dialog.showModal();
  }
  const closer = event.target.closest("[data-close-dialog]");
  if (closer) {
    const dialog = closer.closest("dialog");
    if (dialog) dialog.close();
  }
  const copier = event.target.closest("[data-copy]");
  if (copier) {
    navigator.clipboard?.writeText(copier.dataset.copy);
    copier.textContent = copier.dataset.copied || "Copied";
  }
});

// A field with data-select-on-focus (a secret to copy) selects its whole value when focused.
document.addEventListener("focusin", (event) => {
  if (event.target.matches && event.target.matches("input[data-select-on-focus]")) event.target.select();
});

// Dialogs that htmx swaps in open by themselves.
document.addEventListener("htmx:afterSwap", (event) => {
  event.detail.target.querySelectorAll("dialog[data-autoopen]").forEach((d) => d.showModal());
});

// Rows of a table body with data-reorderable can be dragged by their .drag-handle; the
// hidden inputs inside the rows keep the submitted order.
document.addEventListener("dragstart", (event) => {
  const row = event.target.closest && event.target.closest("tr[draggable=true]");
  if (row) { row.classList.add("dragging"); event.dataTransfer.effectAllowed = "move"; }
});
document.addEventListener("dragend", (event) => {
  const row = event.target.closest && event.target.closest("tr.dragging");
  if (row) { row.classList.remove("dragging"); row.dispatchEvent(new Event("reordered", { bubbles: true })); }
});
document.addEventListener("dragover", (event) => {
  const body = event.target.closest && event.target.closest("tbody[data-reorderable]");
  const dragging = body && body.querySelector("tr.dragging");
  if (!dragging) return;
  event.preventDefault();
  const over = event.target.closest("tr");
  if (!over || over === dragging) return;
  const rect = over.getBoundingClientRect();
  const after = event.clientY > rect.top + rect.height / 2;
  body.insertBefore(dragging, after ? over.nextSibling : over);
});
