// The subscription record panel. A dialog whose action the server refused comes back open
// (data-autoopen) with the message; the cancel dialog's date and refund fields follow the mode.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("dialog[data-autoopen]").forEach((dialog) => dialog.showModal());
  document.querySelectorAll("form[data-cancel-form]").forEach(followCancelMode);
});

document.addEventListener("change", (event) => {
  const form = event.target.closest && event.target.closest("form[data-cancel-form]");
  if (form && event.target.name === "mode") followCancelMode(form);
});

// A date only goes with "on a date"; a refund only with "immediately" (the server says so
// too: this only keeps the user from choosing what would be refused).
function followCancelMode(form) {
  const checked = form.querySelector("input[name=mode]:checked");
  const mode = checked ? checked.value : "immediately";
  const date = form.querySelector("input[name=cancel_at]");
  if (date) {
    date.disabled = mode !== "at_date";
    date.required = mode === "at_date";
  }
  form.querySelectorAll("input[name=refund]").forEach((radio) => {
    radio.disabled = mode !== "immediately";
    if (mode !== "immediately") radio.checked = radio.value === "none";
  });
}
