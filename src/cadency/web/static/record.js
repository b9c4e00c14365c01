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

// A date only goes with "on a date". A refund goes with "immediately" (the unused days or the
// last payment in full) and "on a date" (the unused days, refunded on that date); at the period
// end nothing is unused. The server says so too: this only keeps the user from choosing what
// would be refused.
function followCancelMode(form) {
  const checked = form.querySelector("input[name=mode]:checked");
  const mode = checked ? checked.value : "immediately";
  const date = form.querySelector("input[name=cancel_at]");
  if (date) {
    date.disabled = mode !== "at_date";
    date.required = mode === "at_date";
  }
  const allowed = {
    immediately: ["none", "prorated", "full"],
    at_date: ["none", "prorated"],
    at_period_end: ["none"],
  }[mode] || ["none"];
  form.querySelectorAll("input[name=refund]").forEach((radio) => {
    radio.disabled = !allowed.includes(radio.value);
    if (radio.disabled && radio.checked) {
      radio.checked = false;
      const none = form.querySelector("input[name=refund][value=none]");
      if (none) none.checked = true;
    }
  });
}
